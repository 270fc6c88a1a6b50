// SPDX-License-Identifier: Apache-2.0
// `podtrail up` (npm start) without PODTRAIL_BROKERS points the stages at the local Kafka
// where scripts/kafka-local.sh puts it: PODTRAIL_KAFKA_PORT, else 9092.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/common/errors.js';
import { localKafkaPort } from '../../src/cli/up.js';

test('the local Kafka port: PODTRAIL_KAFKA_PORT, else 9092', () => {
  assert.equal(localKafkaPort({}), 9092);
  assert.equal(localKafkaPort({ PODTRAIL_KAFKA_PORT: '' }), 9092);
  assert.equal(localKafkaPort({ PODTRAIL_KAFKA_PORT: '9192' }), 9192);
  assert.equal(localKafkaPort({ PODTRAIL_KAFKA_PORT: '1' }), 1);
  assert.equal(localKafkaPort({ PODTRAIL_KAFKA_PORT: '65535' }), 65535);
});

test('a PODTRAIL_KAFKA_PORT that is no port is a ConfigError naming it', () => {
  for (const bad of ['0', '65536', '99999', 'abc', '12a', ' 9092', '-1', '9092.5', '1e3', '0x10', '123456']) {
    assert.throws(() => localKafkaPort({ PODTRAIL_KAFKA_PORT: bad }), (e: unknown) =>
      e instanceof ConfigError && e.message.includes('PODTRAIL_KAFKA_PORT') && e.message.includes(JSON.stringify(bad)), bad);
  }
});
