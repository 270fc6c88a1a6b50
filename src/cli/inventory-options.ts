// SPDX-License-Identifier: Apache-2.0
// The options `podtrail inventory` and `podtrail advise` share: the window, the filters and
// what the operator knows about the cluster that the records cannot say.
import { KAFKA_OPTIONS, TOPIC_OPTIONS, kafkaConfigFrom } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import { moduleLogger } from '../common/log.js';
import type { OptValues } from '../common/options.js';
import { createKafka } from '../kafka/client.js';
import { codec } from '../schema/codec.js';
import { parseIsoNanos } from '../schema/json-form.js';
import { buildInventory, buildInventoryFromJson } from '../inventory/build.js';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ClusterHints } from '../inventory/destination.js';
import { parseCidr, parseIp, type Cidr, type Ip } from '../inventory/ip.js';
import type { Inventory } from '../inventory/model.js';
import { parseSelector } from '../inventory/selector.js';

const cidrList = (v: string[]) => v.find((x) => !parseCidr(x)) && `not a CIDR: ${v.find((x) => !parseCidr(x))}`;
const ipList = (v: string[]) => v.find((x) => !parseIp(x)) && `not an IP address: ${v.find((x) => !parseIp(x))}`;
const selectorCheck = (v: string) => {
  try {
    parseSelector(v);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

export const INVENTORY_OPTIONS = {
  since: { type: 'string', arg: 'ISO', desc: 'start of the window (event time, inclusive; default: the topic\'s start)' },
  until: { type: 'string', arg: 'ISO', desc: 'end of the window (exclusive; default: the topic\'s end now)' },
  'compare-since': { type: 'string', arg: 'ISO', desc: 'mark destinations new or gone against the earlier window [this, --since)' },
  namespace: { type: 'list', arg: 'NS', desc: 'only these namespaces (comma-separated)' },
  workload: { type: 'list', arg: 'W', desc: 'only these workloads: NAME or KIND/NAME (comma-separated)' },
  selector: { type: 'string', arg: 'SEL', desc: 'only pods matching this label selector (kubectl -l syntax)', check: selectorCheck },
  'service-cidr': { type: 'list', arg: 'CIDR', desc: 'the cluster\'s service range(s): their addresses are in-cluster services', check: cidrList },
  'pod-cidr': { type: 'list', arg: 'CIDR', desc: 'the cluster\'s pod range(s): addresses there are in-cluster workloads even when the pod is unknown', check: cidrList },
  apiserver: { type: 'list', arg: 'IP', desc: 'the API server\'s endpoint addresses', check: ipList },
  'cluster-dns': { type: 'list', arg: 'IP', desc: 'cluster resolver addresses beyond those recognised', check: ipList },
  'pod-addresses': { type: 'enum', choices: ['on', 'off'], default: 'on', desc: 'read pod addresses from the containers topic, to name pods that never connect out' },
  'max-destinations': { type: 'int', min: 1, default: 1_000_000, desc: 'distinct (workload, address, port) kept; past it connections are counted, not listed' },
  slack: { type: 'int', arg: 'MS', min: 0, default: 120_000, desc: 'how far publish time may trail event time' },
  input: { type: 'string', arg: 'FILE', desc: 'read JSON lines (tail or replay --stdout --format json) from FILE, or - for stdin, instead of Kafka' },
  'whole-topic': { type: 'boolean', desc: 'read the topic from start to end and keep records by event time alone (a topic written by replay --to-topic, whose publish times are the replay\'s)' },
  ...TOPIC_OPTIONS,
  ...KAFKA_OPTIONS,
} as const;

export type InventoryValues = OptValues<typeof INVENTORY_OPTIONS>;

function iso(command: string, flag: string, v: string | undefined): bigint | undefined {
  if (v === undefined) return undefined;
  try {
    return parseIsoNanos(v);
  } catch {
    throw new ConfigError(`podtrail ${command}: --${flag}: not an ISO-8601 time, got ${JSON.stringify(v)}`);
  }
}

export function hintsFrom(v: InventoryValues): ClusterHints {
  return {
    serviceCidrs: v['service-cidr'].map((c) => parseCidr(c) as Cidr),
    podCidrs: v['pod-cidr'].map((c) => parseCidr(c) as Cidr),
    apiServers: v.apiserver.map((a) => ({ ip: parseIp(a) as Ip, port: undefined })),
    dnsIps: v['cluster-dns'].map((a) => parseIp(a) as Ip),
  };
}

export async function inventoryFrom(command: string, v: InventoryValues): Promise<Inventory> {
  const sinceNs = iso(command, 'since', v.since);
  const untilNs = iso(command, 'until', v.until);
  const compareSinceNs = iso(command, 'compare-since', v['compare-since']);
  if (sinceNs !== undefined && untilNs !== undefined && untilNs <= sinceNs) throw new ConfigError(`podtrail ${command}: --until must be after --since`);
  if (compareSinceNs !== undefined && (sinceNs === undefined || compareSinceNs >= sinceNs)) {
    throw new ConfigError(`podtrail ${command}: --compare-since needs --since, and must be before it`);
  }
  const opts = {
    auditTopic: v['audit-topic'] as string,
    containersTopic: v['pod-addresses'] === 'on' ? v['containers-topic'] as string : undefined,
    sinceNs, untilNs, compareSinceNs,
    filters: { namespaces: v.namespace, workloads: v.workload, selector: v.selector },
    hints: hintsFrom(v),
    maxDestinations: v['max-destinations'],
    slackMs: v.slack,
    wholeTopic: v['whole-topic'],
  };
  const log = moduleLogger(command);
  if (v.input !== undefined) {
    let stream: Readable;
    if (v.input === '-') stream = process.stdin;
    else {
      try {
        stream = createReadStream(v.input);
        await new Promise<void>((resolve, reject) => { stream.once('open', () => resolve()); stream.once('error', reject); });
      } catch (err) {
        throw new ConfigError(`podtrail ${command}: --input: cannot read ${JSON.stringify(v.input)}: ${(err as Error).message}`);
      }
    }
    return buildInventoryFromJson(stream, opts, log);
  }
  return buildInventory(createKafka(kafkaConfigFrom(v)), codec(), opts, log);
}
