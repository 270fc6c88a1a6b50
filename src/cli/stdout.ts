// SPDX-License-Identifier: Apache-2.0
// stdout with backpressure: a slow pipe (| less, | jq) slows us down instead of buffering
// without bound. An EPIPE (reader went away) ends output quietly.
let closed = false;
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') closed = true;
  else throw err;
});

export function writeLine(line: string): Promise<void> | void {
  if (closed) return;
  if (!process.stdout.write(`${line}\n`)) {
    return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
  }
}

export function flushStdout(): Promise<void> {
  return new Promise((resolve) => {
    if (closed || process.stdout.writableLength === 0) return resolve();
    process.stdout.once('drain', () => resolve());
  });
}
