// SPDX-License-Identifier: Apache-2.0
// podtrail replaces a few kafkajs files by putting its own exports into the CommonJS cache
// under their file names before kafkajs requires them (kafkajs-grouping.ts, kafkajs-record.ts).
import { createRequire } from 'node:module';
import Module from 'node:module';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const require = createRequire(import.meta.url);

/** True when `file` is in the CommonJS cache: kafkajs (or we) loaded it already. */
export function inCache(file: string): boolean {
  return require.cache[file] !== undefined;
}

/** The exports the cache holds for `file`, if any. */
export function cachedExports(file: string): unknown {
  return require.cache[file]?.exports;
}

/** Makes every later require() of `file` return `exports`. */
export function putInCache(file: string, exports: unknown): void {
  const m = new Module(file);
  m.filename = file;
  m.loaded = true;
  m.exports = exports;
  require.cache[file] = m;
}

/** kafkajs's own exports of `file`, compiled from it whatever the cache holds. */
export function compileOwn<T>(file: string): T {
  const mod = { exports: {} as unknown };
  const wrapped = vm.runInThisContext(`(function (module, exports, require) {${readFileSync(file, 'utf8')}\n})`) as (
    m: typeof mod,
    e: unknown,
    r: NodeJS.Require,
  ) => void;
  wrapped(mod, mod.exports, createRequire(file));
  return mod.exports as T;
}
