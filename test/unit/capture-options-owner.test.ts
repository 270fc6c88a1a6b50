// SPDX-License-Identifier: Apache-2.0
// Capture's defaults and ranges have one owner (CAPTURE_DEFAULTS and CAPTURE_LIMITS in
// src/capture/native-binding.ts): validateCaptureOptions checks against them, the CLI takes its
// bounds from them, and the addon reads only the validated fields, with no defaults of its own
// (it used to re-default and re-check each one, and loader.h disagreed on the ring size).
// Constructing the addon's Capture loads nothing into the kernel, so this needs no root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CAPTURE_LIMITS, loadNativeBinding, validateCaptureOptions } from '../../src/capture/native.js';
import { CAPTURE_OPTIONS } from '../../src/cli/capture.js';

const validated = () => {
  const { cgroupCacheSize: _unused, ...o } = validateCaptureOptions({ bpfObjectPath: '/nonexistent/podtrail.bpf.o' });
  return o;
};

test('the addon takes the validated options as they are', () => {
  const { Capture } = loadNativeBinding();
  assert.doesNotThrow(() => new Capture(validated()));
});

test('the addon has no defaults: each field left out is named as required', () => {
  const { Capture } = loadNativeBinding();
  for (const field of Object.keys(validated())) {
    const o: Record<string, unknown> = { ...validated() };
    delete o[field];
    assert.throws(() => new Capture(o as never), (e: Error) => e instanceof TypeError && e.message === `${field} is required (KernelCapture passes validated options)`, field);
  }
});

test('the addon checks types only; ranges are the TypeScript side\'s', () => {
  const { Capture } = loadNativeBinding();
  assert.throws(() => new Capture({ ...validated(), maxBatch: '512' } as never), /maxBatch must be a non-negative integer/);
  assert.throws(() => new Capture({ ...validated(), excludeLoopback: 0 } as never), /excludeLoopback must be a boolean/);
  assert.throws(() => new Capture({ ...validated(), cgroupControllers: ['a', 'b', 'c', 'd', 'e'] } as never), /at most 4 cgroupControllers/);
  assert.throws(() => validateCaptureOptions({ maxBatch: CAPTURE_LIMITS.maxBatch.max + 1 }), /maxBatch must be an integer in \[1, 65536\]/);
  assert.throws(() => validateCaptureOptions({ ringBufferBytes: 3 << 20 }), /power of two/);
});

test('the CLI takes its bounds from CAPTURE_LIMITS', () => {
  const bounds = (o: { min?: number; max?: number }) => ({ min: o.min, max: o.max });
  assert.deepEqual(bounds(CAPTURE_OPTIONS['ring-buffer-size']), CAPTURE_LIMITS.ringBufferBytes);
  assert.deepEqual(bounds(CAPTURE_OPTIONS['udp-dedup-window']), CAPTURE_LIMITS.udpDedupMs);
  assert.deepEqual(bounds(CAPTURE_OPTIONS['pending-timeout']), CAPTURE_LIMITS.pendingTimeoutMs);
});
