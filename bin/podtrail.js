#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// First, before anything loads kafkajs: see src/kafka/kafkajs-grouping.ts.
import '../dist/src/kafka/kafkajs-grouping.js';
import '../dist/src/cli/main.js';
