// SPDX-License-Identifier: Apache-2.0
// podtrail export: audit records to a SIEM (placeholder while the stage is written).
import { ConfigError } from '../common/errors.js';
import { defineCommand } from './command.js';

export default defineCommand({
  name: 'export',
  summary: 'send audit records to a SIEM: JSON/OCSF/ECS to a Kafka topic, or CEF/JSON over syslog',
  usage: 'Usage: podtrail export --format ocsf|ecs|json --to-topic T | --syslog tcp://HOST:PORT|udp://HOST:PORT --format cef|json',
  options: {},
  async run() {
    throw new ConfigError('podtrail export: not built yet');
  },
});
