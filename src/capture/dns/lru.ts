// SPDX-License-Identifier: Apache-2.0
// A least-recently-used map with O(1) touch and O(1) eviction of the oldest entry. A plain Map
// used as an LRU (delete + set on each touch, evict from keys().next()) is not O(1) in V8:
// deleted entries stay as holes until the table is rehashed, and finding the first live entry
// walks over them, which made the name table's eviction the bench's hottest function.
// lru-cache preallocates arrays for its whole capacity, too much for one per pod.

interface Node<K, V> {
  key: K;
  value: V;
  prev: Node<K, V> | null;
  next: Node<K, V> | null;
}

export class Lru<K, V> {
  private readonly map = new Map<K, Node<K, V>>();
  /** least recently used */
  private head: Node<K, V> | null = null;
  /** most recently used */
  private tail: Node<K, V> | null = null;

  get size(): number {
    return this.map.size;
  }

  private unlink(n: Node<K, V>): void {
    if (n.prev) n.prev.next = n.next;
    else this.head = n.next;
    if (n.next) n.next.prev = n.prev;
    else this.tail = n.prev;
    n.prev = n.next = null;
  }

  private append(n: Node<K, V>): void {
    n.prev = this.tail;
    n.next = null;
    if (this.tail) this.tail.next = n;
    else this.head = n;
    this.tail = n;
  }

  /** The value, marked most recently used. */
  get(key: K): V | undefined {
    const n = this.map.get(key);
    if (!n) return undefined;
    if (n !== this.tail) {
      this.unlink(n);
      this.append(n);
    }
    return n.value;
  }

  /** The value, recency unchanged. */
  peek(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  /** Sets and marks most recently used. */
  set(key: K, value: V): void {
    const n = this.map.get(key);
    if (n) {
      n.value = value;
      if (n !== this.tail) {
        this.unlink(n);
        this.append(n);
      }
      return;
    }
    const fresh: Node<K, V> = { key, value, prev: null, next: null };
    this.map.set(key, fresh);
    this.append(fresh);
  }

  delete(key: K): boolean {
    const n = this.map.get(key);
    if (!n) return false;
    this.unlink(n);
    this.map.delete(key);
    return true;
  }

  /** The least recently used entry, left in place. */
  oldest(): [K, V] | undefined {
    return this.head ? [this.head.key, this.head.value] : undefined;
  }

  /** Removes and returns the least recently used entry. */
  shift(): [K, V] | undefined {
    const h = this.head;
    if (!h) return undefined;
    this.unlink(h);
    this.map.delete(h.key);
    return [h.key, h.value];
  }

  /** Oldest first. Deleting the entry being visited is allowed. */
  *entries(): IterableIterator<[K, V]> {
    let n = this.head;
    while (n) {
      const next = n.next;
      yield [n.key, n.value];
      n = next;
    }
  }
}
