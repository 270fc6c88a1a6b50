// SPDX-License-Identifier: Apache-2.0
// One error tree for podtrail (after kafkajs src/errors.js). Retry decisions read
// `retriable`, never the message text.

export interface PodtrailErrorOptions {
  cause?: unknown;
  retriable?: boolean;
}

export class PodtrailError extends Error {
  readonly retriable: boolean;
  override readonly cause?: unknown;

  constructor(message: string, opts: PodtrailErrorOptions = {}) {
    super(message);
    this.name = new.target.name;
    this.retriable = opts.retriable ?? false;
    if (opts.cause !== undefined) this.cause = opts.cause;
  }
}

/** Bad configuration: flags, environment, or options given to a factory. */
export class ConfigError extends PodtrailError {}

/** Bytes that are not a record we can read: bad magic, unknown schema, truncated, garbage. */
export class DecodeError extends PodtrailError {
  constructor(
    message: string,
    readonly code: 'BAD_MAGIC' | 'UNKNOWN_FINGERPRINT' | 'TRUNCATED' | 'INVALID' | 'UNKNOWN_SCHEMA_ID',
    opts: PodtrailErrorOptions = {},
  ) {
    super(message, opts);
  }
}

/** A value that does not fit its schema when encoding. */
export class EncodeError extends PodtrailError {}

/** Kafka failures: connection, produce, consume, admin. */
export class KafkaError extends PodtrailError {}

/**
 * Kafka refused us for want of access: a wrong password, a certificate we do not trust, a
 * missing ACL. Retrying cannot help; like bad configuration it is the operator's to fix (exit 2).
 */
export class KafkaAccessError extends ConfigError {}

/** Kernel side: BPF load/attach, tracefs, privileges, BTF. */
export class KernelError extends PodtrailError {
  constructor(
    message: string,
    readonly errno?: number,
    opts: PodtrailErrorOptions = {},
  ) {
    super(message, opts);
  }
}

/** Runtime metadata: a file we could not read or parse, a path we refused. */
export class MetadataError extends PodtrailError {
  constructor(
    message: string,
    readonly code:
      | 'NOT_FOUND'
      | 'TOO_LARGE'
      | 'BAD_JSON'
      | 'OUTSIDE_ROOT'
      | 'BAD_ID'
      | 'BAD_PATH'
      | 'IO',
    opts: PodtrailErrorOptions = {},
  ) {
    super(message, opts);
  }
}

/**
 * A CRI call (gRPC on the runtime's socket) that gave no usable answer. UNAVAILABLE: no socket,
 * refused, or not speaking gRPC; DEADLINE: no answer in time; TOO_LARGE: the answer passed our
 * size limit; PROTOCOL: an answer we cannot decode; NOT_FOUND: the runtime does not know the ID.
 */
export class CriError extends PodtrailError {
  constructor(
    message: string,
    readonly code: 'UNAVAILABLE' | 'DEADLINE' | 'NOT_FOUND' | 'UNIMPLEMENTED' | 'TOO_LARGE' | 'PROTOCOL' | 'CLOSED',
    opts: PodtrailErrorOptions = {},
  ) {
    super(message, opts);
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof PodtrailError ? err.retriable : false;
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
