// SPDX-License-Identifier: Apache-2.0
// --stdout: the raw JSON form (docs/reference/records.md), one object per line, for users without Kafka.
import { captureLossToJson, rawToJson } from '../schema/json-form.js';
import type { RawConnectEvent } from '../schema/types.js';
import type { RawSink } from './service.js';
import type { SeqGap } from './seq-tracker.js';

export class StdoutSink implements RawSink {
  dropped = 0;
  constructor(private readonly node: string, private readonly instance: string, private readonly maxBufferedBytes = 16 << 20) {}

  offer(raw: RawConnectEvent): boolean {
    // A stalled reader must not grow our memory without bound.
    if (process.stdout.writableLength > this.maxBufferedBytes) {
      this.dropped++;
      return false;
    }
    process.stdout.write(`${JSON.stringify(rawToJson(raw))}\n`);
    return true;
  }

  offerLoss(l: SeqGap & { cause: 'KERNEL_RING_BUFFER' }): void {
    const now = BigInt(Date.now()) * 1_000_000n;
    process.stdout.write(`${JSON.stringify(captureLossToJson({
      eventId: `${this.node}:${this.instance}:loss:${l.fromSeq}-${l.toSeq}`, time: now, node: this.node, instance: this.instance,
      fromSeq: l.fromSeq, toSeq: l.toSeq, count: l.count, cause: l.cause, firstTime: now, lastTime: now,
    }))}\n`);
  }
}
