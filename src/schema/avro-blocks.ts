// SPDX-License-Identifier: Apache-2.0
// Avro maps and arrays whose block counts cannot make a decoder spin.
//
// avsc 5.7 loops over a block's item count even after the read position has left the buffer
// (its reads "fail silently" there and are checked once, at the end), so a 20-byte record
// whose map claims 2^60 entries decodes for hours: one such message on a topic would stall
// every consumer of it (found by test/unit/fuzz-codec). These subclasses read exactly as
// avsc does, but give up (invalidating the tap, so decode() reports the buffer as truncated)
// as soon as an item leaves the buffer or fails to move forward, which valid data never
// does. Only array items that may take zero bytes (null, records of nulls) may stand still;
// their loops stay bounded by the count alone, as in avsc.
import avro from 'avsc';

interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  skipLong(): void;
  readString(): string;
  skipString(): void;
  _invalidate(): void;
}
interface Item { _read(tap: Tap): unknown; _skip?(tap: Tap): void }
/** `this` is our type, or (reading through a resolver) avsc's Resolver holding the reader type. */
interface Self { valuesType?: Item; itemsType?: Item; _readerType?: Self }

type AnyType = { typeName: string; fields?: { type: AnyType }[]; size?: number; underlyingType?: AnyType };
const emptyOk = new WeakMap<object, boolean>();

/** Can a value of this type be encoded in zero bytes? */
function canBeEmpty(t: AnyType | undefined, seen = new Set<AnyType>()): boolean {
  if (!t || seen.has(t)) return false;
  seen.add(t);
  if (t.typeName === 'null') return true;
  if (t.typeName === 'fixed') return t.size === 0;
  if (t.typeName === 'record' || t.typeName === 'error') return (t.fields ?? []).every((f) => canBeEmpty(f.type, seen));
  if (t.typeName.startsWith('logical:')) return canBeEmpty(t.underlyingType, seen);
  return false;
}

function mayStandStill(self: Self): boolean {
  const owner = self._readerType ?? self;
  let v = emptyOk.get(owner);
  if (v === undefined) {
    v = canBeEmpty(owner.itemsType as unknown as AnyType);
    emptyOk.set(owner, v);
  }
  return v;
}

/** After one item: false (tap invalidated) when it left the buffer or did not advance. */
function advanced(tap: Tap, before: number, still: boolean): boolean {
  if (tap.pos > tap.buf.length || tap.pos < before || (!still && tap.pos === before)) {
    tap._invalidate();
    return false;
  }
  return true;
}

/** The next block's item count (0 ends the map/array); a negative count carries a byte size to skip. */
function blockCount(tap: Tap): number {
  const n = tap.readLong();
  if (n >= 0) return n;
  tap.skipLong();
  return -n;
}

/** Skips a block written with its byte size; false when the size is negative or too large. */
function skipSized(tap: Tap, n: number): boolean {
  if (n >= 0) return false;
  const len = tap.readLong();
  if (len < 0 || tap.pos + len > tap.buf.length) {
    tap._invalidate();
    return true;
  }
  tap.pos += len;
  return true;
}

export class BoundedMapType extends (avro.types.MapType as unknown as new (schema: unknown, opts: unknown) => object) {
  _read(this: Self, tap: Tap): Record<string, unknown> {
    const values = this.valuesType as Item;
    const val: Record<string, unknown> = {};
    let n: number;
    while ((n = blockCount(tap))) {
      for (; n > 0; n--) {
        const before = tap.pos;
        const key = tap.readString();
        val[key] = values._read(tap);
        // Every entry has a key, so it always takes at least one byte.
        if (!advanced(tap, before, false)) return val;
      }
    }
    return val;
  }

  _skip(this: Self, tap: Tap): void {
    const values = this.valuesType as Item;
    let n: number;
    while ((n = tap.readLong())) {
      if (skipSized(tap, n)) continue;
      for (; n > 0; n--) {
        const before = tap.pos;
        tap.skipString();
        values._skip!(tap);
        if (!advanced(tap, before, false)) return;
      }
    }
  }
}

export class BoundedArrayType extends (avro.types.ArrayType as unknown as new (schema: unknown, opts: unknown) => object) {
  _read(this: Self, tap: Tap): unknown[] {
    const items = this.itemsType as Item;
    const still = mayStandStill(this);
    const val: unknown[] = [];
    let n: number;
    while ((n = blockCount(tap))) {
      for (; n > 0; n--) {
        const before = tap.pos;
        val.push(items._read(tap));
        if (!advanced(tap, before, still)) return val;
      }
    }
    return val;
  }

  _skip(this: Self, tap: Tap): void {
    const items = this.itemsType as Item;
    const still = mayStandStill(this);
    let n: number;
    while ((n = tap.readLong())) {
      if (skipSized(tap, n)) continue;
      for (; n > 0; n--) {
        const before = tap.pos;
        items._skip!(tap);
        if (!advanced(tap, before, still)) return;
      }
    }
  }
}
