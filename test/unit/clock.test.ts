// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BootClock, measureOffset, wallNsToIso, type ClockSample } from '../../src/capture/clock.js';
import { loadNativeBinding } from '../../src/capture/native.js';

test('measureOffset keeps the tightest realtime pair', () => {
  const samples: ClockSample[] = [
    { boottime: 100n, realtimeBefore: 1000n, realtimeAfter: 1100n },
    { boottime: 200n, realtimeBefore: 1150n, realtimeAfter: 1152n },
    { boottime: 300n, realtimeBefore: 1300n, realtimeAfter: 1290n }, // stepped back: ignored
  ];
  let i = 0;
  const off = measureOffset({ clock: () => samples[i++ % samples.length]! }, 3);
  assert.equal(off, 1151n - 200n);
});

test('BootClock recalibrates after its interval', () => {
  let offset = 1000n;
  let now = 0;
  const clk = new BootClock(
    { clock: () => ({ boottime: 5n, realtimeBefore: 5n + offset, realtimeAfter: 5n + offset }) },
    { recalibrateMs: 100, now: () => now },
  );
  assert.equal(clk.toWallNs(10n), 1010n);
  offset = 2000n;
  now = 50;
  assert.equal(clk.toWallNs(10n), 1010n);
  now = 100;
  assert.equal(clk.toWallNs(10n), 2010n);
});

test('wallNsToIso keeps nine fraction digits', () => {
  assert.equal(wallNsToIso(1_796_005_677_612_560_689n), '2026-11-30T02:27:57.612560689Z');
  assert.equal(wallNsToIso(5n), '1970-01-01T00:00:00.000000005Z');
});

test('the real clocks: a fresh boot timestamp maps to about now', (t) => {
  let b;
  try {
    b = loadNativeBinding();
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    t.skip('native addon not built');
    return;
  }
  const clk = new BootClock(b);
  const wall = clk.toWallNs(b.clock().boottime);
  const diff = Number(wall / 1_000_000n) - Date.now();
  assert.ok(Math.abs(diff) < 50, `boot->wall off by ${diff} ms`);
});
