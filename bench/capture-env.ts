// SPDX-License-Identifier: Apache-2.0
// Imported first by capture.bench.ts: module loggers take their level when created, at
// import time, and the bench's own output is what matters.
process.env.PODTRAIL_LOG_LEVEL ??= 'warn';
