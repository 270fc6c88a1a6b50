// SPDX-License-Identifier: Apache-2.0
// How a loss reads in every output (pretty, CEF, OCSF, ECS, the audit reason). A capture
// restart knows where the lost range starts but not how many connections it held: its
// count field is 0 by construction, and printing "0 connection(s)" would tell an auditor
// nothing was missed.
interface LossLike { count: bigint; fromSeq: bigint; toSeq: bigint; cause: string }

/** False when the record cannot know how many connections it covers. */
export function lossCountKnown(l: LossLike): boolean {
  return l.cause !== 'CAPTURE_RESTART';
}

/** "9 connection(s) <what>, seq 100..108", or "an unknown number of connections <what>, from seq 244 on". */
export function lossText(l: LossLike, what: string): string {
  return lossCountKnown(l)
    ? `${l.count} connection(s) ${what}, seq ${l.fromSeq}..${l.toSeq}`
    : `an unknown number of connections ${what}, from seq ${l.fromSeq} on`;
}
