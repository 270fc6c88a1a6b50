// SPDX-License-Identifier: Apache-2.0
// Confluent Schema Registry framing: 0x00, a 4-byte big-endian schema id, the Avro body.
// The encoder registers our schema under "<topic>-value" (TopicNameStrategy) once per
// topic; the decoder reads both framings (ours, C3 01 + fingerprint, and Confluent's),
// fetching unknown ids from the registry and resolving them to our current reader schema.
// HTTP through Node's fetch: no client library.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type avro from 'avsc';
import { ConfigError, DecodeError, EncodeError, PodtrailError, errMessage } from '../common/errors.js';
import { HEADER_BYTES, type Codec, type Decoded, type RecordTypes } from './codec.js';
import { parseSchema, schemaDir, SCHEMA_NAMES, type SchemaName } from './registry.js';

export const CONFLUENT_MAGIC = 0x00;
export const CONFLUENT_HEADER_BYTES = 5;
const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/** The registry answered with an error, or not at all (retriable). */
export class SchemaRegistryError extends PodtrailError {
  constructor(message: string, readonly status: number | undefined, opts: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, opts);
  }
}

export class SchemaRegistryClient {
  private readonly base: string;
  private readonly auth: string | undefined;

  constructor(url: string, private readonly timeoutMs = 10_000) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ConfigError(`--schema-registry: not a URL: ${JSON.stringify(url)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`--schema-registry: want http:// or https://, got ${u.protocol}`);
    // fetch refuses credentials in the URL; send them as Basic auth (Confluent Cloud style).
    let user: string;
    let password: string;
    try {
      user = decodeURIComponent(u.username);
      password = decodeURIComponent(u.password);
    } catch {
      throw new ConfigError('--schema-registry: the credentials in the URL are not valid percent-encoding');
    }
    this.auth = u.username ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : undefined;
    u.username = '';
    u.password = '';
    this.base = u.toString().replace(/\/+$/, '');
  }

  private async call(method: 'GET' | 'POST', p: string, body?: unknown): Promise<any> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${p}`, {
        method,
        headers: { accept: CONTENT_TYPE, ...(body ? { 'content-type': CONTENT_TYPE } : {}), ...(this.auth ? { authorization: this.auth } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new SchemaRegistryError(`schema registry ${this.base} unreachable: ${errMessage(err)}`, undefined, { cause: err, retriable: true });
    }
    const text = await res.text();
    if (!res.ok) {
      throw new SchemaRegistryError(`schema registry ${method} ${p}: HTTP ${res.status} ${text.slice(0, 300)}`, res.status, { retriable: res.status >= 500 || res.status === 429 });
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new SchemaRegistryError(`schema registry ${method} ${p}: answer is not JSON`, res.status);
    }
  }

  /** Registers (or finds) the schema under the subject; returns its global id. */
  async register(subject: string, schema: string): Promise<number> {
    const r = await this.call('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema });
    if (!Number.isInteger(r?.id)) throw new SchemaRegistryError(`schema registry returned no id for ${subject}`, undefined);
    return r.id as number;
  }

  /** The schema text for a global id; undefined when the registry does not know the id. */
  async schemaById(id: number): Promise<{ schema: string; schemaType: string } | undefined> {
    try {
      const r = await this.call('GET', `/schemas/ids/${id}`);
      if (typeof r?.schema !== 'string') throw new SchemaRegistryError(`schema registry: id ${id} has no schema text`, undefined);
      return { schema: r.schema, schemaType: typeof r.schemaType === 'string' ? r.schemaType : 'AVRO' };
    } catch (err) {
      if (err instanceof SchemaRegistryError && err.status === 404) return undefined;
      throw err;
    }
  }
}

/** Our .avsc text as registered: the file's own JSON (docs, defaults, logical types kept). */
export function schemaText(name: SchemaName, dir = schemaDir()): string {
  const file = `${name.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()}.avsc`;
  return JSON.stringify(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
}

export function confluentFrame(id: number, body: Buffer): Buffer {
  const head = Buffer.alloc(CONFLUENT_HEADER_BYTES);
  head.writeUInt8(CONFLUENT_MAGIC, 0);
  head.writeUInt32BE(id, 1);
  return Buffer.concat([head, body]);
}

export class ConfluentEncoder {
  private readonly ids = new Map<string, number>();

  constructor(private readonly codec: Codec, private readonly registry: SchemaRegistryClient) {}

  /**
   * Registers the schema (once); call at startup so encodeSync can run. The subject is
   * "<topic>-value" (TopicNameStrategy) for a topic's main record; a second record type on
   * the same topic (CaptureLoss on the raw topic) takes "<topic>-<full name>"
   * (TopicRecordNameStrategy), since one subject holds one evolving schema.
   */
  async prepare(topic: string, name: SchemaName, subject = `${topic}-value`): Promise<number> {
    const key = `${topic}\0${name}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = await this.registry.register(subject, schemaText(name));
      this.ids.set(key, id);
    }
    return id;
  }

  async encode<K extends SchemaName>(topic: string, name: K, value: RecordTypes[K]): Promise<Buffer> {
    await this.prepare(topic, name);
    return this.encodeSync(topic, name, value);
  }

  /** After prepare(topic, name): frame without I/O. */
  encodeSync<K extends SchemaName>(topic: string, name: K, value: RecordTypes[K]): Buffer {
    const id = this.ids.get(`${topic}\0${name}`);
    if (id === undefined) throw new EncodeError(`no schema id for ${topic}/${name}: call prepare() first`);
    // Our own framing minus its header is the plain Avro body.
    return confluentFrame(id, this.codec.encode(name, value).subarray(HEADER_BYTES));
  }
}

interface Writer { name: SchemaName; type: avro.Type; resolver: avro.Resolver }

export class ConfluentDecoder {
  private readonly writers = new Map<number, Promise<Writer>>();

  constructor(private readonly codec: Codec, private readonly registry?: SchemaRegistryClient) {}

  /** Either framing. Our framing decodes synchronously; Confluent's may fetch the schema. */
  decode(buf: Buffer): Decoded | Promise<Decoded> {
    if (!Buffer.isBuffer(buf) || buf.length === 0 || buf[0] !== CONFLUENT_MAGIC) return this.codec.decode(buf);
    return this.decodeConfluent(buf);
  }

  private async decodeConfluent(buf: Buffer): Promise<Decoded> {
    if (buf.length < CONFLUENT_HEADER_BYTES) throw new DecodeError(`truncated: ${buf.length} bytes, a Confluent header needs ${CONFLUENT_HEADER_BYTES}`, 'TRUNCATED');
    const id = buf.readUInt32BE(1);
    if (!this.registry) throw new DecodeError(`Confluent-framed record (schema id ${id}) but no --schema-registry to look it up`, 'UNKNOWN_SCHEMA_ID');
    let w = this.writers.get(id);
    if (!w) {
      w = this.fetchWriter(id);
      this.writers.set(id, w);
      // Only a definite answer is cached; an unreachable registry is asked again next time.
      w.catch((err: unknown) => { if (!(err instanceof DecodeError)) this.writers.delete(id); });
    }
    const { name, resolver } = await w;
    const reader = this.codec.set.get(name).type;
    let res: { value: unknown; offset: number };
    try {
      res = reader.decode(buf, CONFLUENT_HEADER_BYTES, resolver);
    } catch (err) {
      throw new DecodeError(`invalid ${name} body (schema id ${id}): ${errMessage(err)}`, 'INVALID', { cause: err });
    }
    if (res.offset < 0 || res.offset > buf.length) throw new DecodeError(`truncated ${name} body (schema id ${id})`, 'TRUNCATED');
    if (res.offset !== buf.length) throw new DecodeError(`${buf.length - res.offset} trailing bytes after ${name} body (schema id ${id})`, 'INVALID');
    if (!reader.isValid(res.value)) throw new DecodeError(`invalid ${name} body (schema id ${id}): fields out of range`, 'INVALID');
    return { schema: name, value: res.value, writerVersion: `registry:${id}` } as Decoded;
  }

  private async fetchWriter(id: number): Promise<Writer> {
    const got = await this.registry!.schemaById(id);
    if (!got) throw new DecodeError(`schema id ${id} is not in the registry`, 'UNKNOWN_SCHEMA_ID');
    if (got.schemaType !== 'AVRO') throw new DecodeError(`schema id ${id} is ${got.schemaType}, not Avro`, 'UNKNOWN_SCHEMA_ID');
    let type: avro.Type;
    try {
      type = parseSchema(JSON.parse(got.schema));
    } catch (err) {
      throw new DecodeError(`schema id ${id} does not parse as Avro: ${errMessage(err)}`, 'UNKNOWN_SCHEMA_ID', { cause: err });
    }
    const full = (type as { name?: string }).name ?? '';
    const name = full.split('.').pop() as SchemaName;
    if (!SCHEMA_NAMES.includes(name) || !this.codec.set.current.has(name)) {
      throw new DecodeError(`schema id ${id} is ${full || 'unnamed'}, not a podtrail record`, 'UNKNOWN_SCHEMA_ID');
    }
    try {
      return { name, type, resolver: this.codec.set.get(name).type.createResolver(type) };
    } catch (err) {
      throw new DecodeError(`schema id ${id} (${full}) cannot be read as our ${name}: ${errMessage(err)}`, 'UNKNOWN_SCHEMA_ID', { cause: err });
    }
  }
}
