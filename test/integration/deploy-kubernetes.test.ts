// SPDX-License-Identifier: Apache-2.0
// deploy/kubernetes/ without a cluster: every manifest against Kubernetes' JSON schemas
// (kubernetes-validate --strict, for the oldest and newest versions we claim), then the
// rules a schema cannot express: selectors that select, references that resolve,
// read-only host mounts (the CRI sockets' directories where discovery looks), probes, and
// args + env that podtrail's own parser accepts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  K8S_DIR, ensureValidatorVenv, kubernetesValidate, parseCli, skipUnlessCi, yamlDocs,
} from '../helpers/deploy-tools.js';
import { CAPTURE_NODE_FLAGS } from '../../src/capture/node-flags.js';
import { DEFAULT_CRI_SOCKETS } from '../../src/runtime/cri/sockets.js';

// 1.30: the first with volumeMounts[].recursiveReadOnly, which capture uses.
const VERSIONS = ['1.30.0', '1.37.0'];
const missing = ensureValidatorVenv();

describe('Kubernetes manifests', { skip: skipUnlessCi(missing) }, () => {
  let files: string[] = [];
  let docs: any[] = [];
  let tmp = '';
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const named = (kind: string, name: string) => {
    const d = docs.find((x) => x.kind === kind && x.metadata?.name === name);
    assert.ok(d, `no ${kind} ${name}`);
    return d;
  };
  const workloads = () => [...byKind('DaemonSet'), ...byKind('Deployment')];

  before(() => {
    if (missing) throw new Error(`kubernetes-validate venv: ${missing}`);
    const kustomization = yamlDocs([path.join(K8S_DIR, 'kustomization.yaml')])[0];
    files = (kustomization.resources as string[]).map((f) => path.join(K8S_DIR, f));
    docs = yamlDocs(files);
    tmp = mkdtempSync(path.join(tmpdir(), 'podtrail-k8s-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('kustomization lists every manifest in the directory', () => {
    const onDisk = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
    assert.deepEqual(files.map((f) => path.basename(f)).sort(), onDisk);
    const kinds = docs.map((d) => d.kind).sort();
    assert.deepEqual(kinds, ['ConfigMap', 'DaemonSet', 'Deployment', 'Deployment', 'Namespace',
      'PodDisruptionBudget', 'PodDisruptionBudget', 'ServiceAccount']);
  });

  for (const version of VERSIONS) {
    test(`every manifest validates against Kubernetes ${version}'s schemas (strict)`, () => {
      const r = kubernetesValidate(files, version);
      assert.ok(r.ok, r.output);
      assert.equal((r.output.match(/ passed for resource /g) ?? []).length, docs.length, r.output);
    });
  }

  test('the validator rejects a misspelt field and a wrong type (bad input is caught)', () => {
    const ds = readFileSync(path.join(K8S_DIR, 'capture-daemonset.yaml'), 'utf8');
    const cases: Array<[string, string, RegExp]> = [
      ['typo.yaml', ds.replace('hostPID: true', 'hostPid: true'), /'hostPid' was unexpected/],
      ['type.yaml', ds.replace('containerPort: 9464', 'containerPort: metrics'), /not of type 'integer'/],
    ];
    for (const [name, text, why] of cases) {
      assert.notEqual(text, ds, `${name}: the mutation did not apply`);
      const f = path.join(tmp, name);
      writeFileSync(f, text);
      const r = kubernetesValidate([f], VERSIONS[1]!);
      assert.equal(r.ok, false, `${name} passed:\n${r.output}`);
      assert.match(r.output, why);
    }
  });

  test('one namespace; every reference resolves', () => {
    const ns = byKind('Namespace')[0].metadata.name;
    for (const d of docs.filter((x) => x.kind !== 'Namespace')) assert.equal(d.metadata.namespace, ns, `${d.kind} ${d.metadata.name}`);
    for (const w of workloads()) {
      const spec = w.spec.template.spec;
      named('ServiceAccount', spec.serviceAccountName);
      assert.equal(spec.automountServiceAccountToken, false, `${w.metadata.name}: podtrail needs no API token`);
      for (const c of spec.containers) {
        for (const ef of c.envFrom ?? []) named('ConfigMap', ef.configMapRef.name);
        const vols = new Set((spec.volumes ?? []).map((v: any) => v.name));
        for (const m of c.volumeMounts ?? []) assert.ok(vols.has(m.name), `${w.metadata.name}: mount ${m.name} has no volume`);
      }
    }
  });

  test('selectors select their own pods, and each PodDisruptionBudget covers a Deployment', () => {
    const matches = (sel: Record<string, string>, labels: Record<string, string>) =>
      Object.entries(sel).every(([k, v]) => labels[k] === v);
    for (const w of workloads()) {
      assert.ok(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels), w.metadata.name);
      for (const other of workloads().filter((o) => o !== w)) {
        assert.ok(!matches(w.spec.selector.matchLabels, other.spec.template.metadata.labels), `${w.metadata.name} also selects ${other.metadata.name}`);
      }
    }
    const deployments = byKind('Deployment');
    for (const pdb of byKind('PodDisruptionBudget')) {
      const covered = deployments.filter((d) => matches(pdb.spec.selector.matchLabels, d.spec.template.metadata.labels));
      assert.equal(covered.length, 1, `${pdb.metadata.name} selects ${covered.length} Deployments`);
      assert.ok(Number.isInteger(pdb.spec.maxUnavailable ?? pdb.spec.minAvailable), `${pdb.metadata.name}: a count`);
      assert.ok(covered[0].spec.replicas > (pdb.spec.maxUnavailable ?? 0), `${pdb.metadata.name} would allow every replica down`);
    }
    assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), ['podtrail-enrich', 'podtrail-export']);
  });

  test('every container: image, resources, /healthz and /readyz probes on the metrics port 9464, no escalation', () => {
    for (const w of workloads()) {
      for (const c of w.spec.template.spec.containers) {
        const where = `${w.metadata.name}/${c.name}`;
        assert.match(c.image, /^podtrail:/, where);
        assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory, `${where}: resources`);
        const port = c.ports.find((p: any) => p.name === 'metrics');
        assert.equal(port?.containerPort, 9464, where);
        assert.deepEqual([c.livenessProbe?.httpGet?.path, c.livenessProbe?.httpGet?.port], ['/healthz', 'metrics'], where);
        assert.deepEqual([c.readinessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.port], ['/readyz', 'metrics'], where);
        const i = c.args.indexOf('--metrics-port');
        assert.equal(c.args[i + 1], '9464', `${where}: serves what the probes ask`);
        const sc = c.securityContext;
        assert.equal(sc.allowPrivilegeEscalation, false, where);
        assert.equal(sc.readOnlyRootFilesystem, true, where);
        assert.deepEqual(sc.capabilities.drop, ['ALL'], where);
        assert.notEqual(sc.privileged, true, where);
      }
    }
  });

  test('capture: a DaemonSet on every node with hostPID, read-only host mounts, BPF+PERFMON+NET_ADMIN as uid 0', () => {
    const ds = named('DaemonSet', 'podtrail-capture');
    const spec = ds.spec.template.spec;
    assert.equal(spec.hostPID, true);
    assert.notEqual(spec.hostNetwork, true);
    assert.ok(spec.tolerations.some((t: any) => t.operator === 'Exists' && !t.key), 'tolerates every taint');
    const [c] = spec.containers;
    assert.deepEqual(c.securityContext.capabilities.add, ['BPF', 'PERFMON', 'NET_ADMIN']);
    assert.equal(c.securityContext.runAsUser, 0);
    const nodeOptions = c.env.find((e: any) => e.name === 'NODE_OPTIONS');
    assert.deepEqual(String(nodeOptions?.value).split(/\s+/), [...CAPTURE_NODE_FLAGS], 'capture\'s node flags (V8 reads them only at startup)');
    const env = c.env.find((e: any) => e.name === 'PODTRAIL_NODE');
    assert.equal(env?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    const hostVols = new Map<string, string>(spec.volumes.filter((v: any) => v.hostPath).map((v: any) => [v.name, v.hostPath.path]));
    const mounts = new Map<string, any>(c.volumeMounts.map((m: any) => [m.mountPath, m]));
    for (const m of c.volumeMounts) {
      // Every host path read-only, but capture's own instance state (it must write it).
      if (hostVols.has(m.name) && m.mountPath !== '/run/podtrail') assert.equal(m.readOnly, true, `${m.mountPath} is writable`);
    }
    assert.equal(hostVols.get(mounts.get('/sys/kernel/tracing')?.name), '/sys/kernel/tracing');
    assert.equal(hostVols.get(mounts.get('/sys/fs/cgroup')?.name), '/sys/fs/cgroup');
    // Node files sit under --host-root at their host paths.
    const hr = c.args[c.args.indexOf('--host-root') + 1];
    for (const [name, host] of hostVols) {
      const m = c.volumeMounts.find((x: any) => x.name === name);
      if (host === '/run/podtrail') assert.equal(m.mountPath, '/run/podtrail', 'instance state at the default --state-dir');
      else if (!host.startsWith('/sys/')) assert.equal(m.mountPath, path.posix.join(hr, host), name);
    }
    assert.ok([...hostVols.values()].includes('/var/lib/docker/containers'));
    assert.ok([...hostVols.values()].includes('/etc/docker'));
  });

  test('capture: the CRI sockets it discovers are reachable, through read-only mounts of their directories', () => {
    const spec = named('DaemonSet', 'podtrail-capture').spec.template.spec;
    const [c] = spec.containers;
    const hr = c.args[c.args.indexOf('--host-root') + 1];
    const vols = new Map<string, any>(spec.volumes.filter((v: any) => v.hostPath).map((v: any) => [v.name, v.hostPath]));
    const mounted = c.volumeMounts.filter((m: any) => vols.has(m.name))
      .map((m: any) => ({ host: vols.get(m.name).path as string, type: vols.get(m.name).type as string, at: m.mountPath as string, ro: m.readOnly === true }));
    // A socket file mount would keep a restarted runtime's dead socket, and type Socket stops
    // the pod on nodes without that runtime: directories only, created where absent.
    for (const m of mounted) assert.doesNotMatch(m.host, /\.sock$/, `${m.host}: a socket file`);
    for (const s of DEFAULT_CRI_SOCKETS) {
      const dir = path.posix.dirname(s.path);
      const m = mounted.find((x: any) => x.host === dir);
      if (s.label === 'cri-dockerd') {
        // It lives in /run itself, among every daemon's sockets; Docker's files carry its labels.
        assert.equal(m, undefined, 'cri-dockerd\'s directory is /run (or /var/run): not mounted');
        assert.ok(!mounted.some((x: any) => ['/run', '/var/run', '/'].includes(x.host)), 'no mount of /run as a whole');
        continue;
      }
      assert.ok(m, `${s.label}: ${dir} is not mounted, so ${path.posix.join(hr, s.path)} cannot be found`);
      assert.equal(m.at, path.posix.join(hr, dir), `${s.label}: mounted where discovery looks (--host-root ${hr})`);
      assert.equal(m.ro, true, `${s.label}: read-only`);
      assert.equal(m.type, 'DirectoryOrCreate', `${s.label}: a node without this runtime still starts the pod`);
    }
    // containerd's task bundles (its files, when CRI fails) are inside the mounted state directory.
    const tasks = '/run/containerd/io.containerd.runtime.v2.task';
    assert.ok(mounted.some((m: any) => tasks === m.host || tasks.startsWith(`${m.host}/`)), `${tasks} is not mounted`);
  });

  test('enrich and export run unprivileged, with no host access', () => {
    for (const name of ['podtrail-enrich', 'podtrail-export']) {
      const spec = named('Deployment', name).spec.template.spec;
      assert.equal(spec.securityContext.runAsNonRoot, true, name);
      assert.notEqual(spec.securityContext.runAsUser, 0, name);
      assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault', name);
      assert.ok(!spec.hostPID && !spec.hostNetwork && !(spec.volumes ?? []).some((v: any) => v.hostPath), name);
      assert.equal(spec.containers[0].securityContext.capabilities.add, undefined, name);
    }
  });

  test('each container\'s args and environment parse with podtrail\'s own option parser', async () => {
    const cm = byKind('ConfigMap')[0].data as Record<string, string>;
    const seen: string[] = [];
    for (const w of workloads()) {
      for (const c of w.spec.template.spec.containers) {
        const env: Record<string, string> = { ...cm };
        for (const e of c.env ?? []) env[e.name] = e.value ?? 'node-a'; // valueFrom: a stand-in value
        const v = await parseCli(c.args, env);
        assert.deepEqual(v.brokers, cm.PODTRAIL_BROKERS!.split(','), `${w.metadata.name}: brokers from the ConfigMap`);
        seen.push(`${c.args[0]}`);
        if (c.args[0] === 'capture') assert.equal(v.node, 'node-a');
        if (c.args[0] === 'export') assert.deepEqual([v.format, v['to-topic']], ['ocsf', 'podtrail.ocsf.v1']);
      }
    }
    assert.deepEqual(seen.sort(), ['capture', 'enrich', 'export']);
    await assert.rejects(parseCli(['capture', '--no-such-flag'], cm), /no-such-flag/, 'the parser refuses an unknown flag');
  });
});
