// SPDX-License-Identifier: Apache-2.0
// podtrail capture: load the BPF programs, and publish every outbound connection attempt
// on this node to the raw topic (or print it with --stdout).
import os from 'node:os';
import { KAFKA_OPTIONS, SCHEMA_REGISTRY_OPTIONS, TOPIC_OPTIONS, kafkaConfigFrom, topicsConfigFrom } from '../common/config.js';
import { ConfluentEncoder, SchemaRegistryClient } from '../schema/confluent.js';
import { ConfigError, errMessage } from '../common/errors.js';
import { moduleLogger } from '../common/log.js';
import { CAPTURE_NODE_FLAGS, hasCaptureNodeFlags } from '../capture/node-flags.js';
import { useFastGzip } from '../kafka/kafkajs-changes.js';
import { createKafka, CAPTURE_PRODUCER_RETRY } from '../kafka/client.js';
import { ensureTopics, type TopicRole } from '../kafka/topics.js';
import { ClusterIdentity } from '../kafka/cluster.js';
import { retryKafka } from '../kafka/retry.js';
import { nodePartitioner } from '../kafka/partitioner.js';
import { codec } from '../schema/codec.js';
import { CAPTURE_DEFAULTS, CAPTURE_LIMITS, KernelCapture, loadNativeBinding } from '../capture/native.js';
import { PUBLISHER_DEFAULTS, RawPublisher, type PublisherOptions } from '../capture/publisher.js';
import { CaptureService, newInstanceId } from '../capture/service.js';
import { StdoutSink } from '../capture/stdout-sink.js';
import { MetadataPublisher } from '../capture/metadata-publisher.js';
import { DEFAULT_STATE_DIR, InstanceState, endAnnouncement, stateDirCheck } from '../capture/instance-state.js';
import { createResolver, DockerResolver, RESOLVER_DEFAULTS } from '../runtime/index.js';
import { annotationFilter } from '../runtime/pod-facts.js';
import { CRI_OPTIONS } from './cri-options.js';
import { CRI_WATCH_DEFAULTS } from '../runtime/cri/watch.js';
import { openCriRuntimes, type CriRuntimes } from '../runtime/cri/runtimes.js';
import { METRICS_OPTIONS, createRegistry, serveMetrics } from '../common/metrics.js';
import { registerCaptureMetrics } from '../capture/metrics.js';
import type { Histogram } from 'prom-client';
import type { Producer } from 'kafkajs';
import { defineCommand } from './command.js';
import { POD_ANNOTATIONS_OPTION } from './pod-annotations.js';
import { DNS_OPTIONS, dnsConfigFrom } from './dns-options.js';
import { settlesWithin, waitForSignal } from './signals.js';

/** How long a stopping capture may spend getting its buffered events to Kafka. */
const FLUSH_MS = 10_000;

const nodeName = (v: string) => (/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(v) && !v.includes('/') ? undefined : 'not a node name (letters, digits, ., _, -)');

export const CAPTURE_OPTIONS = {
  node: { type: 'string', arg: 'NAME', desc: 'node name recorded in every event (default: hostname)', env: 'PODTRAIL_NODE', check: nodeName },
  attach: { type: 'enum', choices: ['auto', 'tracepoint', 'kprobe', 'fentry'], default: 'auto', desc: 'how to hook the kernel; auto picks the best that loads', env: 'PODTRAIL_ATTACH' },
  'cgroup-controller': { type: 'list', arg: 'NAMES', default: CAPTURE_DEFAULTS.cgroupControllers, desc: 'v1 controllers whose path to take, in order, on hybrid hosts', env: 'PODTRAIL_CGROUP_CONTROLLER' },
  stdout: { type: 'boolean', desc: 'print raw events as JSON lines instead of producing to Kafka' },
  'exclude-loopback': { type: 'boolean', desc: 'ignore connections to 127.0.0.0/8 and ::1', env: 'PODTRAIL_EXCLUDE_LOOPBACK' },
  'ring-buffer-size': { type: 'int', arg: 'BYTES', ...CAPTURE_LIMITS.ringBufferBytes, default: CAPTURE_DEFAULTS.ringBufferBytes, desc: 'kernel ring buffer size (power of two)', env: 'PODTRAIL_RING_BUFFER_SIZE' },
  'udp-dedup-window': { type: 'int', arg: 'MS', ...CAPTURE_LIMITS.udpDedupMs, default: CAPTURE_DEFAULTS.udpDedupMs, desc: 'report a UDP flow once per process per window', env: 'PODTRAIL_UDP_DEDUP_WINDOW' },
  'pending-timeout': { type: 'int', arg: 'MS', ...CAPTURE_LIMITS.pendingTimeoutMs, default: CAPTURE_DEFAULTS.pendingTimeoutMs, desc: 'report a TCP connect still pending after this as INPROGRESS' },
  'buffer-max-events': { type: 'int', min: 1000, default: PUBLISHER_DEFAULTS.maxBufferedEvents, desc: 'events buffered while Kafka is slow or away, then dropped and counted' },
  'buffer-max-bytes': { type: 'int', arg: 'BYTES', min: 1 << 20, default: PUBLISHER_DEFAULTS.maxBufferedBytes, desc: 'bytes buffered while Kafka is slow or away' },
  'process-identity': { type: 'enum', choices: ['on', 'off'], default: 'on', desc: 'executable, arguments, parent and ancestry in every event, from a process table the kernel keeps current', env: 'PODTRAIL_PROCESS_IDENTITY' },
  'publish-metadata': { type: 'enum', choices: ['on', 'off'], default: 'on', desc: 'publish container metadata to the containers topic (so enrich can run anywhere)', env: 'PODTRAIL_PUBLISH_METADATA' },
  'host-root': { type: 'string', arg: 'DIR', default: '/', desc: "where the node's filesystem is mounted (runtime metadata files)", env: 'PODTRAIL_HOST_ROOT' },
  'docker-config': { type: 'string', arg: 'FILE', desc: "Docker's daemon.json (default <host-root>/etc/docker/daemon.json)", env: 'PODTRAIL_DOCKER_CONFIG' },
  ...CRI_OPTIONS,
  'cri-poll-interval': { type: 'int', arg: 'MS', min: 100, default: CRI_WATCH_DEFAULTS.pollMs, desc: 'relist period for runtimes without CRI container events (containerd 1.6)' },
  'metadata-scan-interval': { type: 'int', arg: 'MS', min: 100, default: 10_000, desc: 'how often to rescan the runtime for new, changed and deleted containers' },
  'state-dir': { type: 'string', arg: 'DIR', default: DEFAULT_STATE_DIR, desc: "where capture notes its instance, so the next one can report this one's end as LOSS if it is killed ('off': no note)", env: 'PODTRAIL_STATE_DIR', check: stateDirCheck },
  compression: { type: 'enum', choices: ['gzip', 'none'], default: PUBLISHER_DEFAULTS.compression, desc: 'raw topic compression' },
  ...POD_ANNOTATIONS_OPTION,
  ...DNS_OPTIONS,
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
    const dnsConf = dnsConfigFrom(v);
    const dnsOpt = dnsConf.capture ? { dns: dnsConf.capture } : {};
    const kernel = new KernelCapture(binding.Capture, {
      ...dnsConf.kernel,
      attach: v.attach as 'auto',
      ringBufferBytes: v['ring-buffer-size'],
      cgroupControllers: v['cgroup-controller'],
      excludeLoopback: v['exclude-loopback'],
      udpDedupMs: v['udp-dedup-window'],
      pendingTimeoutMs: v['pending-timeout'],
    }, moduleLogger('capture.native'));
    const instance = newInstanceId();
    if (v.stdout) {
      const sink = new StdoutSink(node, instance);
      const svc = new CaptureService(kernel, binding, sink, { node, instance, processIdentity: v['process-identity'] === 'on', ...dnsOpt }, log);
      svc.start();
      await waitForSignal();
      svc.stop();
      log.info({ events: svc.events, kernelGaps: Number(svc.kernelGaps), stdoutDropped: sink.dropped }, 'capture stopped');
      return 0;
    }

    // Signals from here on stop capture cleanly, also while Kafka is still coming up.
    const signalled = waitForSignal();
    const topics = topicsConfigFrom(v);
    // Before the client, so its startup line lists gzip-level-1 with the patches.
    if (v.compression === 'gzip') useFastGzip();
    const kafka = createKafka(kafkaConfigFrom(v));
    const publishMeta = v['publish-metadata'] === 'on';
    const roles: TopicRole[] = publishMeta ? ['raw', 'containers'] : ['raw'];
    const cluster = new ClusterIdentity(kafka, log);
    let producer: Producer | undefined;
    let metadata: MetadataPublisher | undefined;
    let cri: CriRuntimes | undefined;
    let svcRef: CaptureService | undefined;
    /** exit code 2 when Kafka refused access (credentials, certificate, ACL): the operator's to fix */
    let exitCode = 1;
    let fatal!: (why: string) => void;
    const failed = new Promise<string>((r) => (fatal = r));
    const newProducer = async () => {
      const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: CAPTURE_PRODUCER_RETRY, createPartitioner: nodePartitioner(topics.raw, node) });
      await p.connect();
      return p;
    };
    /** The cluster's id, the topics (made when missing), a producer. Retriable conditions are waited out. */
    const connectKafka = async (): Promise<Producer> => {
      const created = await ensureTopics(kafka, topics, roles);
      if (created.length) log.info({ created }, 'created topics');
      await retryKafka('read the Kafka cluster id', () => cluster.changed(), log);
      return (producer = await retryKafka('connect the raw producer', newProducer, log));
    };
    let encode: PublisherOptions['encode'];
    if (v['schema-registry']) {
      // Records are framed with the registry's schema ids as they are offered: the registry and
      // Kafka come first, before the kernel is attached.
      await connectKafka();
      const enc = new ConfluentEncoder(codec(), new SchemaRegistryClient(v['schema-registry']));
      await enc.prepare(topics.raw, 'RawConnectEvent');
      // A second record type on the raw topic: TopicRecordNameStrategy's subject.
      await enc.prepare(topics.raw, 'CaptureLoss', `${topics.raw}-io.podtrail.v1.CaptureLoss`);
      if (dnsConf.capture) await enc.prepare(topics.raw, 'DnsLookup', `${topics.raw}-io.podtrail.v1.DnsLookup`);
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
      renewProducer: async () => {
        const old = producer;
        producer = await newProducer();
        await old?.disconnect().catch(() => undefined);
        return producer;
      },
      repairTopics: async () => {
        const replaced = await cluster.changed();
        if (replaced) publisher.clusterReplaced();
        const made = await ensureTopics(kafka, topics, roles, log, { deadlineMs: 10_000 });
        if (made.length) log.warn({ created: made }, 'made missing topics again');
        if (replaced || made.includes(topics.containers)) {
          const n = metadata?.republish() ?? 0;
          if (n) log.warn({ containers: n }, 'republished container metadata to the new containers topic');
        }
      },
      onFatal: (c) => {
        if (c.access) exitCode = 2;
        fatal(`cannot publish to ${topics.raw}: ${c.message} (${c.type})`);
      },
    }, log);
    if (publishMeta) {
      const hostRoot = v['host-root'] as string;
      const resolverOpts = { hostRoot, ...(v['docker-config'] ? { dockerConfigPath: v['docker-config'] } : {}) };
      const podAnnotations = v['pod-annotations'];
      // Uncached: the publisher must see changes; it keeps its own record of what it sent.
      const files = createResolver({ ...resolverOpts, podAnnotations, cacheTtlMs: 0, negativeTtlMs: 0, logger: moduleLogger('capture.metadata') });
      cri = v.cri === 'off' ? undefined : await openCriRuntimes({
        hostRoot, sockets: v['cri-socket'], deadlineMs: v['cri-timeout'], pollMs: v['cri-poll-interval'], files,
        keepAnnotation: annotationFilter(podAnnotations), log: moduleLogger('capture.cri'),
      });
      if (cri) log.info({ sockets: cri.sockets.map((s) => s.path) }, cri.sockets.length ? 'asking CRI runtimes for pod metadata' : 'no CRI runtime socket found; runtime files only');
      const docker = new DockerResolver({ ...resolverOpts, maxFileBytes: RESOLVER_DEFAULTS.maxFileBytes, configTtlMs: 10_000, configNegativeTtlMs: 1_000, clock: Date.now });
      metadata = new MetadataPublisher(cri?.resolver ?? files, publisher, {
        node, hostRoot, dockerDataRoot: () => docker.getDataRoot(), scanIntervalMs: v['metadata-scan-interval'],
        ...(cri ? { criWatchers: cri.watchers, onSandboxGone: (id: string) => cri!.forget(id) } : {}),
        // The service exists only later; its DNS tables are reached through it when deletions come.
        onContainerGone: (id: string) => svcRef?.dns?.containerGone(id),
      }, moduleLogger('capture.metadata'));
      await metadata.start();
    }
    svcRef = new CaptureService(kernel, binding, publisher, { node, instance, processIdentity: v['process-identity'] === 'on', ...dnsOpt, ...(metadata ? { metadata } : {}) }, log);
    const svc = svcRef;
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
      notReady: () => (kernel.stats().running ? (producer ? null : 'Kafka is not reachable yet: events are buffered') : 'kernel capture is not attached'),
      unhealthy: () => (!stopping && !kernel.stats().running ? 'kernel capture stopped' : null),
    }, log);
    const statsTimer = setInterval(() => {
      const k = kernel.stats();
      log.debug({ events: svc.events, ringReserveFails: Number(k.ringReserveFails), ...publisher.stats() }, 'capture stats');
    }, 10_000);
    statsTimer.unref();
    // The kernel is attached and events are buffered (bounded, counted when dropped) while a
    // brand-new cluster makes its topics and elects leaders: no connection from capture's start on is missed.
    const connected: Promise<unknown> = producer
      ? Promise.resolve(publisher.start())
      : connectKafka().then(() => publisher.start(producer), (err: unknown) => {
        if (err instanceof ConfigError) exitCode = 2;
        fatal(errMessage(err));
      });
    const sig = await Promise.race([signalled, failed.then((why) => ({ failed: why }))]);
    clearInterval(statsTimer);
    stopping = true;
    if (typeof sig === 'object') log.fatal({ why: sig.failed }, `capture cannot go on, exiting: ${sig.failed}`);
    else log.info({ signal: sig }, 'stopping: detaching probes, flushing');
    svc.stop();
    await svc.drained();
    await metadata?.stop();
    cri?.close();
    // Stopped while Kafka was still coming up: it gets the flush's time to take what was captured.
    const t0 = Date.now();
    await settlesWithin(connected, FLUSH_MS);
    const unsent = await publisher.stop(Math.max(1000, FLUSH_MS - (Date.now() - t0)));
    state?.stopped(BigInt(Date.now()) * 1_000_000n);
    await producer?.disconnect().catch(() => undefined);
    await cluster.close();
    await metricsServer?.stop();
    const k = kernel.stats();
    log.info({ events: svc.events, kernelGaps: Number(svc.kernelGaps), ringReserveFails: Number(k.ringReserveFails), ...publisher.stats(), unsent }, 'capture stopped');
    if (typeof sig === 'object') return exitCode;
    return unsent > 0 ? 1 : 0;
  },
});
