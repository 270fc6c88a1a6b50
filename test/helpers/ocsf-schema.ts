// SPDX-License-Identifier: Apache-2.0
// A small OCSF validator over the schema's own JSON files (test/fixtures/ocsf/schema): it
// merges a class's `extends` chain and the profiles an event declares, then checks an
// event recursively: required attributes, at_least_one/just_one constraints, attribute
// names, types (from dictionary.json), enums and enum captions.
import { readFileSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { REPO_ROOT } from './cli.js';

export const OCSF_DIR = path.join(REPO_ROOT, 'test/fixtures/ocsf/schema');

interface AttrDef { requirement?: string; type?: string; enum?: Record<string, { caption?: string }>; is_array?: boolean; sibling?: string }
interface Def { name: string; attributes: Record<string, AttrDef>; constraints?: { at_least_one?: string[]; just_one?: string[] } }
type Json = Record<string, any>;

// objects/actor.json is not among the shared fixture files. Its rules, as ocsf-schema
// defines them: no required attributes, and at least one of these.
const ACTOR: Json = {
  name: 'actor', extends: 'object',
  attributes: { app_name: { requirement: 'optional' }, app_uid: { requirement: 'optional' }, authorizations: { requirement: 'optional' }, idp: { requirement: 'optional' }, invoked_by: { requirement: 'optional' }, process: { requirement: 'recommended' }, session: { requirement: 'optional' }, user: { requirement: 'recommended' } },
  constraints: { at_least_one: ['process', 'user', 'invoked_by', 'session', 'app_name', 'app_uid'] },
};

// objects/file.json is not among them either. The attributes the mapper writes, with ocsf-schema's
// requirements for them (name and type_id required), and the type_id values it defines.
const FILE: Json = {
  name: 'file', extends: 'object',
  attributes: {
    name: { requirement: 'required' }, path: { requirement: 'optional' }, type: { requirement: 'optional' },
    type_id: {
      requirement: 'required',
      enum: { '-1': { caption: 'Other' }, 0: { caption: 'Unknown' }, 1: { caption: 'Regular File' }, 2: { caption: 'Folder' }, 3: { caption: 'Character Device' }, 4: { caption: 'Block Device' }, 5: { caption: 'Local Socket' }, 6: { caption: 'Named Pipe' }, 7: { caption: 'Symbolic Link' } },
    },
  },
};

// events/network/dns_activity.json and objects/dns_query.json, dns_answer.json and _dns.json are
// not among the fixture files either. Their rules as ocsf-schema defines them, for the
// attributes DNS Activity (4003) adds to the network class: activity 1 Query, 2 Response,
// 6 Traffic; rcode_id per RFC 6895; query {hostname, type, class required}; answers {rdata,
// type, class required}.
const RCODES: Record<string, { caption: string }> = Object.fromEntries(Object.entries({
  0: 'NoError', 1: 'FormError', 2: 'ServError', 3: 'NXDomain', 4: 'NotImp', 5: 'Refused', 6: 'YXDomain', 7: 'YXRRSet', 8: 'NXRRSet',
  9: 'NotAuth', 10: 'NotZone', 11: 'DSOTYPENI', 16: 'BADVERS', 17: 'BADKEY', 18: 'BADTIME', 19: 'BADMODE', 20: 'BADNAME', 21: 'BADALG',
  22: 'BADTRUNC', 23: 'BADCOOKIE', 24: 'Unassigned', 25: 'Reserved', 99: 'Other',
}).map(([k, caption]) => [k, { caption }]));
const DNS_ACTIVITY: Json = {
  uid: 3, name: 'dns_activity', extends: 'network', category: 'network',
  attributes: {
    activity_id: { enum: { 1: { caption: 'Query' }, 2: { caption: 'Response' }, 6: { caption: 'Traffic' } } },
    answers: { requirement: 'recommended' }, authority: { requirement: 'optional' }, connection_info: { requirement: 'optional' },
    dst_endpoint: { requirement: 'recommended' },
    flag_ids: { requirement: 'recommended', enum: { 1: { caption: 'Authoritative Answer' }, 2: { caption: 'Truncated Response' }, 3: { caption: 'Recursion Desired' }, 4: { caption: 'Recursion Available' }, 5: { caption: 'Authentic Data' }, 6: { caption: 'Checking Disabled' } } },
    flags: { requirement: 'optional' }, opcode: { requirement: 'optional' }, opcode_id: { requirement: 'recommended' },
    query: { requirement: 'recommended' }, query_time: { requirement: 'recommended' }, rcode: { requirement: 'recommended' },
    rcode_id: { requirement: 'recommended', enum: RCODES }, response_time: { requirement: 'recommended' }, transaction_id: { requirement: 'recommended' },
  },
};
const DNS_OBJECTS: Record<string, Json> = {
  _dns: { name: '_dns', extends: 'object', attributes: { class: { requirement: 'required' }, packet_uid: { requirement: 'recommended' }, type: { requirement: 'required' } } },
  dns_query: { name: 'dns_query', extends: '_dns', attributes: { hostname: { requirement: 'required' }, opcode: { requirement: 'optional' }, opcode_id: { requirement: 'recommended' } } },
  dns_answer: { name: 'dns_answer', extends: '_dns', attributes: { flag_ids: { requirement: 'optional' }, flags: { requirement: 'optional' }, rdata: { requirement: 'required' }, ttl: { requirement: 'recommended' } } },
};

const CLASS_UIDS = new Set(['class_uid', 'category_uid', 'type_uid']);

const read = (rel: string): Json => JSON.parse(readFileSync(path.join(OCSF_DIR, rel), 'utf8')) as Json;

export class OcsfSchema {
  readonly dictionary: Json = read('dictionary.json');
  readonly types: Json = this.dictionary.types.attributes;
  readonly version: string = read('version.json').version;
  private readonly objects = new Map<string, Json>();

  constructor() {
    this.objects.set('actor', ACTOR);
    this.objects.set('file', FILE);
    for (const [k, v] of Object.entries(DNS_OBJECTS)) this.objects.set(k, v);
  }

  private rawObject(name: string): Json | undefined {
    if (!this.objects.has(name)) {
      const f = path.join(OCSF_DIR, 'objects', `${name}.json`);
      if (!existsSync(f)) return undefined;
      this.objects.set(name, JSON.parse(readFileSync(f, 'utf8')) as Json);
    }
    return this.objects.get(name);
  }

  /** Attributes of a chain of definitions, later ones winning per attribute, with enabled profiles applied. */
  private merge(chain: Json[], profiles: string[]): Def {
    const attributes: Record<string, AttrDef> = {};
    let constraints: Def['constraints'];
    for (const d of chain) {
      const own = d.attributes ?? {};
      for (const inc of own.$include ?? []) {
        const m = /^profiles\/(\w+)\.json$/.exec(inc as string);
        if (!m || !profiles.includes(m[1]!)) continue;
        const prof = read(inc as string);
        for (const [k, v] of Object.entries(prof.attributes ?? {})) attributes[k] = { ...attributes[k], ...(v as AttrDef) };
      }
      for (const [k, v] of Object.entries(own)) {
        if (k === '$include') continue;
        attributes[k] = { ...attributes[k], ...(v as AttrDef) };
      }
      if (d.constraints && Object.keys(d.constraints).length) constraints = d.constraints;
    }
    return { name: chain[chain.length - 1]!.name, attributes, ...(constraints ? { constraints } : {}) };
  }

  objectDef(name: string, profiles: string[]): Def | undefined {
    const chain: Json[] = [];
    for (let n: string | undefined = name; n && n !== 'object'; ) {
      const d = this.rawObject(n);
      if (!d) return undefined;
      chain.unshift(d);
      n = d.extends;
    }
    return this.merge(chain, profiles);
  }

  /** base_event -> network -> network_activity, with the uid rule category_uid * 1000 + uid. */
  networkActivity(profiles: string[]): Def & { classUid: number; categoryUid: number } {
    const base = read('events/base_event.json');
    const net = read('events/network/network.json');
    const na = read('events/network/network_activity.json');
    const categoryUid = read('categories.json').attributes[net.category].uid as number;
    return { ...this.merge([base, net, na], profiles), classUid: categoryUid * 1000 + (na.uid as number), categoryUid };
  }

  /** base_event -> network -> dns_activity (written out above). */
  dnsActivity(profiles: string[]): Def & { classUid: number; categoryUid: number } {
    const base = read('events/base_event.json');
    const net = read('events/network/network.json');
    const categoryUid = read('categories.json').attributes[net.category].uid as number;
    return { ...this.merge([base, net, DNS_ACTIVITY], profiles), classUid: categoryUid * 1000 + (DNS_ACTIVITY.uid as number), categoryUid };
  }

  /** Every problem found, as "path: what"; empty when the event conforms. Network Activity, or DNS Activity for class_uid 4003. */
  validateEvent(ev: Json): string[] {
    const profiles: string[] = Array.isArray(ev?.metadata?.profiles) ? ev.metadata.profiles : [];
    const cls = ev?.class_uid === 4003 ? this.dnsActivity(profiles) : this.networkActivity(profiles);
    const errors: string[] = [];
    this.check(ev, cls, '', profiles, errors);
    if (ev.class_uid !== cls.classUid) errors.push(`class_uid: want ${cls.classUid}, got ${ev.class_uid}`);
    if (ev.category_uid !== cls.categoryUid) errors.push(`category_uid: want ${cls.categoryUid}, got ${ev.category_uid}`);
    if (ev.type_uid !== cls.classUid * 100 + ev.activity_id) errors.push(`type_uid: want class_uid*100+activity_id, got ${ev.type_uid}`);
    return errors;
  }

  private check(value: unknown, def: Def, at: string, profiles: string[], errors: string[]): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      errors.push(`${at || '(event)'}: expected a ${def.name} object`);
      return;
    }
    const obj = value as Json;
    for (const [k, a] of Object.entries(def.attributes)) {
      if (a.requirement === 'required' && (obj[k] === undefined || obj[k] === null)) errors.push(`${at}${k}: required by ${def.name}, missing`);
    }
    const c = def.constraints;
    if (c?.at_least_one && !c.at_least_one.some((k) => obj[k] !== undefined)) errors.push(`${at || '(event)'}: ${def.name} needs at least one of ${c.at_least_one.join(', ')}`);
    if (c?.just_one && c.just_one.filter((k) => obj[k] !== undefined).length !== 1) errors.push(`${at || '(event)'}: ${def.name} needs exactly one of ${c.just_one.join(', ')}`);
    for (const [k, v] of Object.entries(obj)) {
      const a = def.attributes[k];
      const where = `${at}${k}`;
      if (!a) { errors.push(`${where}: not an attribute of ${def.name} (profiles: ${profiles.join(',') || 'none'})`); continue; }
      const dict = this.dictionary.attributes[k] as Json | undefined;
      if (!dict) { errors.push(`${where}: not in dictionary.json`); continue; }
      const type: string = a.type ?? dict.type;
      const isArray = Boolean(dict.is_array);
      if (isArray !== Array.isArray(v)) { errors.push(`${where}: ${isArray ? 'must' : 'must not'} be an array`); continue; }
      const items = isArray ? (v as unknown[]) : [v];
      items.forEach((item, i) => this.checkValue(item, type, isArray ? `${where}[${i}]` : where, profiles, errors));
      const en = { ...(dict.enum ?? {}), ...(a.enum ?? {}) } as Record<string, { caption?: string }>;
      // The uids' enums are generated per class by the OCSF server; validateEvent checks the rule instead.
      if (Object.keys(en).length && !(at === '' && CLASS_UIDS.has(k))) {
        const entry = en[String(v)];
        if (!entry) errors.push(`${where}: ${JSON.stringify(v)} is not in its enum (${Object.keys(en).join(',')})`);
        const sib = a.sibling ?? dict.sibling;
        if (entry && sib && obj[sib] !== undefined && String(v) !== '99' && obj[sib] !== entry.caption) {
          errors.push(`${at}${sib}: want the caption "${entry.caption}" of ${k}=${v}, got ${JSON.stringify(obj[sib])}`);
        }
      }
    }
  }

  private checkValue(v: unknown, type: string, where: string, profiles: string[], errors: string[]): void {
    if (type === 'object') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) errors.push(`${where}: must be a JSON object`);
      return;
    }
    const t = this.types[type] as Json | undefined;
    if (!t) {
      const def = this.objectDef(type, profiles);
      if (!def) { errors.push(`${where}: no schema file for object type ${type}`); return; }
      this.check(v, def, `${where}.`, profiles, errors);
      return;
    }
    const base = t.type ?? type; // e.g. ip_t -> string_t, timestamp_t -> long_t
    const isInt = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x);
    switch (base) {
      case 'string_t':
        if (typeof v !== 'string') { errors.push(`${where}: ${type} must be a string, got ${typeof v}`); return; }
        if (t.regex && !new RegExp(t.regex as string).test(v)) errors.push(`${where}: ${JSON.stringify(v)} does not match ${type}`);
        if (t.max_len && v.length > (t.max_len as number)) errors.push(`${where}: longer than ${t.max_len}`);
        if (type === 'ip_t' && !isIP(v)) errors.push(`${where}: ${v} is not an IP address`);
        return;
      case 'integer_t':
        if (!isInt(v) || (v as number) < -(2 ** 31) || (v as number) >= 2 ** 31) errors.push(`${where}: ${type} must be a 32-bit integer, got ${JSON.stringify(v)}`);
        else if (t.range && ((v as number) < t.range[0] || (v as number) > t.range[1])) errors.push(`${where}: ${v} outside ${t.range.join('-')}`);
        return;
      case 'long_t':
        if (!isInt(v)) errors.push(`${where}: ${type} must be an integer, got ${JSON.stringify(v)}`);
        return;
      case 'boolean_t':
        if (typeof v !== 'boolean') errors.push(`${where}: must be a boolean`);
        return;
      case 'float_t':
        if (typeof v !== 'number') errors.push(`${where}: must be a number`);
        return;
      case 'json_t':
        return;
      default:
        errors.push(`${where}: unknown type ${type}`);
    }
  }
}
