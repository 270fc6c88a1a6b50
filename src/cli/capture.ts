// SPDX-License-Identifier: Apache-2.0
// podtrail capture: load the BPF programs, and publish every outbound connection attempt
// on this node to the raw topic (or print it with --stdout).
import os from 'node:os';
import { KAFKA_OPTIONS, SCHEMA_REGISTRY_OPTIONS, TOPIC_OPTIONS, kafkaConfigFrom, topicsConfigFrom } from '../common/config.js';
import { ConfluentEncoder, SchemaRegistryClient } from '../schema/confluent.js';
import { ConfigError } from '../common/errors.js';
import { moduleLogger } from '../common/log.js';
import { CAPTURE_NODE_FLAGS, hasCaptureNodeFlags } from '../capture/node-flags.js';
import { useFastGzip } from '../kafka/kafkajs-changes.js';
import { createKafka, IDEMPOTENT_RETRY } from '../kafka/client.js';
import { ensureTopics } from '../kafka/topics.js';
import { nodePartitioner } from '../kafka/partitioner.js';
import { codec } from '../schema/codec.js';
import { CAPTURE_DEFAULTS, KernelCapture, loadNativeBinding } from '../capture/native.js';
import { PUBLISHER_DEFAULTS, RawPublisher, type PublisherOptions } from '../capture/publisher.js';
import { CaptureService, newInstanceId } from '../capture/service.js';
import { StdoutSink } from '../capture/stdout-sink.js';
import { MetadataPublisher } from '../capture/metadata-publisher.js';
import { DEFAULT_STATE_DIR, InstanceState, endAnnouncement, stateDirCheck } from '../capture/instance-state.js';
import { createResolver, DockerResolver, RESOLVER_DEFAULTS } from '../enrich/resolvers/index.js';
import { METRICS_OPTIONS, createRegistry, serveMetrics } from '../common/metrics.js';
import { registerCaptureMetrics } from '../capture/metrics.js';
import type { Histogram } from 'prom-client';
import { defineCommand } from './command.js';
import { waitForSignal } from './signals.js';

const nodeName = (v: string) => (/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(v) && !v.includes('/') ? undefined : 'not a node name (letters, digits, ., _, -)');

export const CAPTURE_OPTIONS = {
  node: { type: 'string', arg: 'NAME', desc: 'node name recorded in every event (default: hostname)', env: 'PODTRAIL_NODE', check: nodeName },
  attach: { type: 'enum', choices: ['auto', 'tracepoint', 'kprobe', 'fentry'], default: 'auto', desc: 'how to hook the kernel; auto picks the best that loads', env: 'PODTRAIL_ATTACH' },
  'cgroup-controller': { type: 'list', arg: 'NAMES', default: CAPTURE_DEFAULTS.cgroupControllers, desc: 'v1 controllers whose path to take, in order, on hybrid hosts', env: 'PODTRAIL_CGROUP_CONTROLLER' },
  stdout: { type: 'boolean', desc: 'print raw events as JSON lines instead of producing to Kafka' },
  'exclude-loopback': { type: 'boolean', desc: 'ignore connections to 127.0.0.0/8 and ::1', env: 'PODTRAIL_EXCLUDE_LOOPBACK' },
  'ring-buffer-size': { type: 'int', arg: 'BYTES', min: 16384, default: CAPTURE_DEFAULTS.ringBufferBytes, desc: 'kernel ring buffer size (power of two)', env: 'PODTRAIL_RING_BUFFER_SIZE' },
  'udp-dedup-window': { type: 'int', arg: 'MS', min: 0, default: CAPTURE_DEFAULTS.udpDedupMs, desc: 'report a UDP flow once per process per window', env: 'PODTRAIL_UDP_DEDUP_WINDOW' },
  'pending-timeout': { type: 'int', arg: 'MS', min: 1, default: CAPTURE_DEFAULTS.pendingTimeoutMs, desc: 'report a TCP connect still pending after this as INPROGRESS' },
  'buffer-max-events': { type: 'int', min: 1000, default: PUBLISHER_DEFAULTS.maxBufferedEvents, desc: 'events buffered while Kafka is slow or away, then dropped and counted' },
  'buffer-max-bytes': { type: 'int', arg: 'BYTES', min: 1 << 20, default: PUBLISHER_DEFAULTS.maxBufferedBytes, desc: 'bytes buffered while Kafka is slow or away' },
  'publish-metadata': { type: 'enum', choices: ['on', 'off'], default: 'on', desc: 'publish container metadata to the containers topic (so enrich can run anywhere)', env: 'PODTRAIL_PUBLISH_METADATA' },
  'host-root': { type: 'string', arg: 'DIR', default: '/', desc: "where the node's filesystem is mounted (runtime metadata files)", env: 'PODTRAIL_HOST_ROOT' },
  'docker-config': { type: 'string', arg: 'FILE', desc: "Docker's daemon.json (default <host-root>/etc/docker/daemon.json)", env: 'PODTRAIL_DOCKER_CONFIG' },
  'metadata-scan-interval': { type: 'int', arg: 'MS', min: 100, default: 10_000, desc: 'how often to rescan the runtime for new, changed and deleted containers' },
  'state-dir': { type: 'string', arg: 'DIR', default: DEFAULT_STATE_DIR, desc: "where capture notes its instance, so the next one can report this one's end as LOSS if it is killed ('off': no note)", env: 'PODTRAIL_STATE_DIR', check: stateDirCheck },
  compression: { type: 'enum', choices: ['gzip', 'none'], default: PUBLISHER_DEFAULTS.compression, desc: 'raw topic compression' },
  ...METRICS_OPTIONS,
  ...SCHEMA_REGISTRY_OPTIONS,
  ...TOPIC_OPTIONS,
  ...KAFKA_OPTIONS,
} as const;

export default defineCommand({
  name: 'capture',
  summary: "record every outbound connection on this node (eBPF) to the raw topic",
  usage: 'Usage: podtrail capture [--brokers B] [--raw-topic T] [--node NAME] [--attach auto|tracepoint|kprobe|fentry] [--cgroup-controller NAME] [--stdout]',
  options: CAPTURE_OPTIONS,
  async run(v) {
    const log = moduleLogger('capture');
    const node = v.node ?? os.hostname();
    if (nodeName(node)) throw new ConfigError(`podtrail capture: --node: ${nodeName(node)}, got ${JSON.stringify(node)}`);
    if (!hasCaptureNodeFlags()) {
      log.warn({ flags: CAPTURE_NODE_FLAGS.join(' ') },
        'node was started without capture\'s flags: peak RSS can pass 150 MiB at high connect rates; start it as `node ' +
        CAPTURE_NODE_FLAGS.join(' ') + ' bin/podtrail.js capture` or set NODE_OPTIONS');
    }
    const binding = loadNativeBinding();
    const kernel = new KernelCapture(binding.Capture, {
      attach: v.attach as 'auto',
      ringBufferBytes: v['ring-buffer-size'],
      cgroupControllers: v['cgroup-controller'],
      excludeLoopback: v['exclude-loopback'],
      udpDedupMs: v['udp-dedup-window'],
      pendingTimeoutMs: v['pending-timeout'],
    });
    const instance = newInstanceId();
    if (v.stdout) {
      const sink = new StdoutSink(node, instance);
      const svc = new CaptureService(kernel, binding, sink, { node, instance }, log);
      svc.start();
      await waitForSignal();
      svc.stop();
      log.info({ events: svc.events, kernelGaps: Number(svc.kernelGaps), stdoutDropped: sink.dropped }, 'capture stopped');
      return 0;
    }

    const topics = topicsConfigFrom(v);
    // Before the client, so its startup line lists gzip-level-1 with the patches.
    if (v.compression === 'gzip') useFastGzip();
    const kafka = createKafka(kafkaConfigFrom(v));
    const publishMeta = v['publish-metadata'] === 'on';
    const created = await ensureTopics(kafka, topics, publishMeta ? ['raw', 'containers'] : ['raw']);
    if (created.length) log.info({ created }, 'created topics');
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: IDEMPOTENT_RETRY, createPartitioner: nodePartitioner(topics.raw, node) });
    await producer.connect();
    let encode: PublisherOptions['encode'];
    if (v['schema-registry']) {
      const enc = new ConfluentEncoder(codec(), new SchemaRegistryClient(v['schema-registry']));
      await enc.prepare(topics.raw, 'RawConnectEvent');
      // A second record type on the raw topic: TopicRecordNameStrategy's subject.
      await enc.prepare(topics.raw, 'CaptureLoss', `${topics.raw}-io.podtrail.v1.CaptureLoss`);
      if (publishMeta) await enc.prepare(topics.containers, 'ContainerMeta');
      encode = (name, value) => enc.encodeSync(name === 'ContainerMeta' ? topics.containers : topics.raw, name, value as never);
    }
    const stateDir = v['state-dir'] as string;
    const state = stateDir === 'off' ? undefined : new InstanceState(stateDir, node, topics.raw, log);
    const ended = state?.claim(instance, BigInt(Date.now()) * 1_000_000n) ?? [];
    const registry = createRegistry('capture');
    let latency: Histogram | undefined;
    const publisher = new RawPublisher(producer, codec(), {
      onSent: (secs) => latency?.observe({ topic: topics.raw }, secs),
      ...(state ? { onProgress: (seq: bigint, time: bigint) => state.progress(seq, time) } : {}),
      ...(encode ? { encode } : {}),
      topic: topics.raw, node, instance, ...(publishMeta ? { metaTopic: topics.containers } : {}),
      maxBufferedEvents: v['buffer-max-events'],
      maxBufferedBytes: v['buffer-max-bytes'],
      maxBatch: PUBLISHER_DEFAULTS.maxBatch,
      maxRequestBytes: PUBLISHER_DEFAULTS.maxRequestBytes,
      lingerMs: PUBLISHER_DEFAULTS.lingerMs,
      compression: v.compression as 'gzip' | 'none',
    }, log);
    publisher.start();
    let metadata: MetadataPublisher | undefined;
    if (publishMeta) {
      const hostRoot = v['host-root'] as string;
      const resolverOpts = { hostRoot, ...(v['docker-config'] ? { dockerConfigPath: v['docker-config'] } : {}) };
      // Uncached: the publisher must see changes; it keeps its own record of what it sent.
      const resolver = createResolver({ ...resolverOpts, cacheTtlMs: 0, negativeTtlMs: 0, logger: moduleLogger('capture.metadata') });
      const docker = new DockerResolver({ ...resolverOpts, maxFileBytes: RESOLVER_DEFAULTS.maxFileBytes, configTtlMs: 10_000, configNegativeTtlMs: 1_000, clock: Date.now });
      metadata = new MetadataPublisher(resolver, publisher, { node, hostRoot, dockerDataRoot: () => docker.getDataRoot(), scanIntervalMs: v['metadata-scan-interval'] }, moduleLogger('capture.metadata'));
      await metadata.start();
    }
    const svc = new CaptureService(kernel, binding, publisher, { node, instance, ...(metadata ? { metadata } : {}) }, log);
    svc.start();
    // Attached now: whatever the previous instance missed ends here.
    const attachedNs = BigInt(Date.now()) * 1_000_000n;
    for (const prev of ended) {
      log.warn({ previous: prev.instance, pid: prev.pid, lastSeq: prev.lastSeq, stoppedCleanly: prev.stoppedAt !== undefined },
        'reporting the end of the previous capture instance as LOSS: connections after its last published seq until now were not recorded');
      publisher.offerLoss({ ...endAnnouncement(node, prev, attachedNs), onSent: () => state?.announced(prev.instance) });
    }
    latency = registerCaptureMetrics(registry, {
      kernel, service: svc, publisher, ...(metadata ? { metadata } : {}),
      maxBufferedEvents: v['buffer-max-events'], maxBufferedBytes: v['buffer-max-bytes'],
    });
    let stopping = false;
    const metricsServer = await serveMetrics(v['metrics-port'], v['metrics-host'] as string, registry, {
      notReady: () => (kernel.stats().running ? null : 'kernel capture is not attached'),
      unhealthy: () => (!stopping && !kernel.stats().running ? 'kernel capture stopped' : null),
    }, log);
    const statsTimer = setInterval(() => {
      const k = kernel.stats();
      log.debug({ events: svc.events, ringReserveFails: Number(k.ringReserveFails), ...publisher.stats() }, 'capture stats');
    }, 10_000);
    statsTimer.unref();
    const sig = await waitForSignal();
    clearInterval(statsTimer);
    stopping = true;
    log.info({ signal: sig }, 'stopping: detaching probes, flushing');
    svc.stop();
    await svc.drained();
    await metadata?.stop();
    const unsent = await publisher.stop(10_000);
    state?.stopped(BigInt(Date.now()) * 1_000_000n);
    await producer.disconnect().catch(() => undefined);
    await metricsServer?.stop();
    const k = kernel.stats();
    log.info({ events: svc.events, kernelGaps: Number(svc.kernelGaps), ringReserveFails: Number(k.ringReserveFails), ...publisher.stats(), unsent }, 'capture stopped');
    return unsent > 0 ? 1 : 0;
  },
});
