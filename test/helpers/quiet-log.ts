// SPDX-License-Identifier: Apache-2.0
// Import first in a test file that feeds thousands of bad inputs on purpose: module
// loggers take their level when they are created, at import time.
process.env.PODTRAIL_LOG_LEVEL ??= 'silent';
