// SPDX-License-Identifier: Apache-2.0
// Runs fast-check properties in a worker thread under a wall-clock deadline, so that a
// decoder that hangs (a synchronous loop no timer can interrupt) fails the test with the
// input it hung on, instead of stalling the whole run.
//
// A fuzz test file calls fuzzSuite(import.meta.url, props): in the main thread it declares
// one node:test test per property and starts the same file once as a worker; in the worker
// it runs each property asked for and reports back. A hang kills the worker (a failure
// naming the input); the next property gets a fresh one.
//   FUZZ_RUNS=N      runs per property (default: each property's own)
//   FUZZ_SEED=S      replay a seed a failure printed
//   FUZZ_TIME_MS=MS  time budget per property (default: each property's own)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';

export type AnyProperty = fc.IProperty<any> | fc.IAsyncProperty<any>;

export interface FuzzProp {
  /** Builds the property; call observe(input) before each attempt, so a hang names its input. */
  make: (observe: (input: unknown) => void) => AnyProperty;
  runs: number;
  /** stop generating after this long (still a pass): keeps the suite's time bounded */
  timeMs: number;
  /** the worker is killed (a failure) when the property takes longer than this */
  deadlineMs?: number;
}

interface Report { type: 'input'; text: string }
interface Done { type: 'done'; failed: boolean; message: string; numRuns: number; interrupted: boolean; ms: number }

/** Throws when fn takes longer than limitMs (measured, not interrupted: see the worker deadline). */
export function timed<T>(what: string, limitMs: number, fn: () => T): T {
  const t0 = performance.now();
  const r = fn();
  const ms = performance.now() - t0;
  if (ms > limitMs) throw new Error(`${what} took ${ms.toFixed(1)} ms (limit ${limitMs} ms)`);
  return r;
}

export async function timedAsync<T>(what: string, limitMs: number, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  if (ms > limitMs) throw new Error(`${what} took ${ms.toFixed(1)} ms (limit ${limitMs} ms)`);
  return r;
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : undefined;
}

interface Run { type: 'run'; name: string }
interface Exit { type: 'exit' }

/** Worker side: runs each property the main thread asks for, one at a time. */
function serve(props: Record<string, FuzzProp>): void {
  const port = parentPort!;
  const observe = (input: unknown): void => port.postMessage({ type: 'input', text: fc.stringify(input).slice(0, 4000) } satisfies Report);
  port.on('message', (m: Run | Exit) => {
    // A clean exit runs the properties' process 'exit' hooks (their temporary trees).
    if (m.type === 'exit') process.exit(0);
    void (async () => {
      const p = props[m.name];
      const t0 = performance.now();
      try {
        if (!p) throw new Error(`no property ${m.name}`);
        const seed = envInt('FUZZ_SEED');
        const result = await fc.check(p.make(observe), {
          numRuns: envInt('FUZZ_RUNS') ?? p.runs,
          interruptAfterTimeLimit: envInt('FUZZ_TIME_MS') ?? p.timeMs,
          markInterruptAsFailure: false,
          ...(seed !== undefined ? { seed } : {}),
        });
        const message = result.failed ? `${fc.defaultReportMessage(result) ?? 'failed'}\n${result.errorInstance instanceof Error ? result.errorInstance.stack : String(result.errorInstance)}` : '';
        port.postMessage({ type: 'done', failed: result.failed, message, numRuns: result.numRuns, interrupted: result.interrupted, ms: performance.now() - t0 } satisfies Done);
      } catch (err) {
        port.postMessage({ type: 'done', failed: true, message: `harness: ${(err as Error).stack ?? String(err)}`, numRuns: 0, interrupted: false, ms: 0 } satisfies Done);
      }
    })();
  });
}

/** Main side: one worker per test file, shared by its properties, replaced after a hang or a crash. */
class Guard {
  private worker: Worker | undefined;

  constructor(private readonly url: string) {}

  run(name: string, p: FuzzProp): Promise<Done> {
    const budget = envInt('FUZZ_TIME_MS') ?? p.timeMs;
    // A longer budget (FUZZ_TIME_MS) stretches the deadline with it.
    const deadline = Math.max(p.deadlineMs ?? 0, budget + (p.deadlineMs !== undefined ? p.deadlineMs - p.timeMs : 20_000));
    const w = (this.worker ??= new Worker(new URL(this.url), { workerData: { fuzzWorker: true } }));
    return new Promise((resolve, reject) => {
      let last = '(none yet)';
      let settled = false;
      const cleanup = (): void => {
        clearTimeout(timer);
        w.off('message', onMessage).off('error', onError).off('exit', onExit);
      };
      const fail = (msg: string): void => {
        if (settled) return;
        settled = true;
        cleanup();
        this.worker = undefined;
        void w.terminate();
        reject(new Error(msg));
      };
      const onMessage = (m: Report | Done): void => {
        if (m.type === 'input') last = m.text;
        else if (!settled) {
          settled = true;
          cleanup();
          resolve(m);
        }
      };
      const onError = (err: Error): void => fail(`${name}: worker died on input:\n${last}\n${err.stack ?? err}`);
      const onExit = (code: number): void => fail(`${name}: worker exited ${code} on input:\n${last}`);
      const timer = setTimeout(() => fail(`${name}: no answer after ${deadline} ms, a hang; last input:\n${last}`), deadline);
      w.on('message', onMessage).on('error', onError).on('exit', onExit);
      w.postMessage({ type: 'run', name } satisfies Run);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    const exited = new Promise((resolve) => w.once('exit', resolve));
    w.postMessage({ type: 'exit' } satisfies Exit);
    const timer = setTimeout(() => void w.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Declares the properties as tests (main thread), or serves them (worker). */
export function fuzzSuite(url: string, props: Record<string, FuzzProp>): void {
  if (!isMainThread) {
    if ((workerData as { fuzzWorker?: boolean } | undefined)?.fuzzWorker) serve(props);
    return;
  }
  const guard = new Guard(url);
  after(() => guard.close());
  for (const [name, p] of Object.entries(props)) {
    const budget = envInt('FUZZ_TIME_MS') ?? p.timeMs;
    test(name, { timeout: Math.max(p.deadlineMs ?? 0, budget + 20_000) + 10_000 }, async (t) => {
      const r = await guard.run(name, p);
      t.diagnostic(`${r.numRuns} runs in ${r.ms.toFixed(0)} ms${r.interrupted ? ' (time budget reached)' : ''}`);
      assert.ok(!r.failed, r.message);
      assert.ok(r.numRuns > 0, 'the property ran at least once');
    });
  }
}

/** node:test's test() in the main thread, nothing in a fuzz worker (which loads the same file). */
export const mainTest: typeof test = (isMainThread ? test : () => Promise.resolve()) as typeof test;
