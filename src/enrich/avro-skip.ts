// SPDX-License-Identifier: Apache-2.0
// Walking Avro binary data without decoding it: a skipper per type, compiled from avsc types,
// that checks what avsc's decode + isValid would (int32 range, enum index, non-negative lengths
// inside the buffer) and says false at the first doubt. The enrich fast path (transcode.ts)
// uses it to find field boundaries.
import type avro from 'avsc';

export interface Cursor { buf: Buffer; pos: number; end: number }
/** Advances past one value; false when the bytes are not a valid value of the type. */
export type Skip = (c: Cursor) => boolean;

/** A zigzag varint as a number (exact below 2^53, enough for range checks); undefined past 10 bytes or the end. */
export function varint(c: Cursor): number | undefined {
  let z = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (c.pos >= c.end) return undefined;
    const b = c.buf[c.pos++]!;
    z += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    mul *= 128;
  }
  return undefined;
}

export function compileSkip(t: avro.Type): Skip | undefined {
  const any = t as avro.Type & { symbols?: string[]; size?: number; fields?: Array<{ type: avro.Type }>; types?: avro.Type[]; itemsType?: avro.Type; valuesType?: avro.Type };
  switch (t.typeName) {
    case 'null': return () => true;
    case 'boolean': return (c) => c.pos++ < c.end;
    case 'int': return (c) => { const v = varint(c); return v !== undefined && v === (v | 0); };
    case 'long':
    case 'abstract:long': return (c) => varint(c) !== undefined;
    case 'float': return (c) => (c.pos += 4) <= c.end;
    case 'double': return (c) => (c.pos += 8) <= c.end;
    case 'fixed': { const n = any.size!; return (c) => (c.pos += n) <= c.end; }
    case 'string':
    case 'bytes': return (c) => { const n = varint(c); return n !== undefined && n >= 0 && (c.pos += n) <= c.end; };
    case 'enum': { const k = any.symbols!.length; return (c) => { const v = varint(c); return v !== undefined && v >= 0 && v < k; }; }
    case 'record': {
      const parts = any.fields!.map((f) => compileSkip(f.type));
      if (parts.some((p) => p === undefined)) return undefined;
      const ps = parts as Skip[];
      return (c) => { for (const p of ps) if (!p(c)) return false; return true; };
    }
    case 'union:unwrapped': {
      // RawConnectEvent's process identity (exe, parent): a branch index, then that branch.
      const parts = (any.types ?? []).map(compileSkip);
      if (parts.length === 0 || parts.some((p) => p === undefined)) return undefined;
      const ps = parts as Skip[];
      return (c) => { const i = varint(c); return i !== undefined && i >= 0 && i < ps.length && ps[i]!(c); };
    }
    case 'map':
    case 'array': {
      // Blocks of items (a negative count is followed by the block's byte size), 0 ends. Items
      // of the types we skip (strings, records holding one) take at least a byte each, so an
      // item that does not advance is garbage, and the loop is bounded by the buffer. A map's
      // item is a string key and its value.
      let item: Skip | undefined;
      if (t.typeName === 'array') item = any.itemsType ? compileSkip(any.itemsType) : undefined;
      else {
        const value = any.valuesType ? compileSkip(any.valuesType) : undefined;
        const key = (c: Cursor) => { const n = varint(c); return n !== undefined && n >= 0 && (c.pos += n) <= c.end; };
        if (value) item = (c) => key(c) && value(c);
      }
      if (!item) return undefined;
      return (c) => {
        for (;;) {
          let n = varint(c);
          if (n === undefined) return false;
          if (n === 0) return true;
          if (n < 0) {
            const size = varint(c);
            if (size === undefined || size < 0) return false;
            n = -n;
          }
          for (; n > 0; n--) {
            const before = c.pos;
            if (!item(c) || c.pos > c.end || c.pos === before) return false;
          }
        }
      };
    }
    default: return undefined;
  }
}

/** A string field's bytes [start, end) include its length prefix. */
export function str(buf: Buffer, start: number, end: number): string {
  const c: Cursor = { buf, pos: start, end };
  varint(c);
  return buf.toString('utf8', c.pos, end);
}
