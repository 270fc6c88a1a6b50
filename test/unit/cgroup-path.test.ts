// SPDX-License-Identifier: Apache-2.0
// Every row of test/fixtures/cgroup-paths.tsv (real paths from Falco, Tetragon, Datadog, Elastic, StackRox, podman,
// runc and issue threads; provenance in cgroup-paths.README.md) plus hostile and layout cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MetadataError } from '../../src/common/errors.js';
import { parseCgroupPath, tryParseCgroupPath, type CgroupKind } from '../../src/runtime/cgroup-path.js';

const FIXTURE = new URL('../../../test/fixtures/cgroup-paths.tsv', import.meta.url);
const COLUMNS = ['path', 'runtime', 'driver', 'cgroup_version', 'container_id', 'pod_uid', 'qos', 'source'];
// The fixture names runtimes by family; nerdctl runs on containerd.
const FAMILY: Record<string, string> = { docker: 'docker', containerd: 'containerd', nerdctl: 'containerd', 'cri-o': 'cri-o', podman: 'podman' };

interface Row {
  line: number;
  cells: Record<string, string>;
}

function loadRows(): Row[] {
  const lines = readFileSync(FIXTURE, 'utf8').split('\n');
  const rows: Row[] = [];
  let header: string[] | undefined;
  lines.forEach((text, i) => {
    if (text === '' || text.startsWith('#')) return;
    const cells = text.split('\t');
    if (!header) {
      header = cells;
      assert.deepEqual(header, COLUMNS, 'fixture header changed');
      return;
    }
    assert.equal(cells.length, COLUMNS.length, `line ${i + 1}: ${cells.length} cells`);
    rows.push({ line: i + 1, cells: Object.fromEntries(COLUMNS.map((c, j) => [c, cells[j]!])) });
  });
  return rows;
}

const rows = loadRows();

test('fixture: all 66 rows are read', () => {
  assert.equal(rows.length, 66);
});

for (const { line, cells } of rows) {
  const path = cells.path!;
  test(`fixture line ${line}: ${path}`, () => {
    const p = parseCgroupPath(path);
    const want = {
      containerId: cells.container_id || undefined,
      podUid: cells.pod_uid || undefined,
      qos: cells.qos || undefined,
    };
    assert.equal(p.containerId, want.containerId, 'container id');
    assert.equal(p.podUid, want.podUid, 'pod uid');
    assert.equal(p.qos, want.qos, 'qos');
    const kind: CgroupKind = want.containerId ? (want.podUid ? 'pod-container' : 'container') : want.podUid ? 'pod-other' : 'host';
    assert.equal(p.kind, kind, 'kind');
    // Runtime: a hint we give must be the fixture's runtime. The fixture leaves the cgroupfs
    // kubepods/<id> form without one unless the source said, and a bare 64-hex leaf cannot tell,
    // so a missing hint is accepted only there and on rows with no container ID.
    if (cells.runtime === 'none') assert.equal(p.runtime, undefined, 'host row has no runtime');
    else if (p.runtime !== undefined) assert.equal(FAMILY[p.runtime], cells.runtime, 'runtime hint');
    else {
      const leaf = path.slice(path.lastIndexOf('/') + 1);
      assert.ok(cells.runtime === '' || !want.containerId || /^[0-9a-f]{64}$/.test(leaf), `runtime hint missing (fixture: ${cells.runtime})`);
    }
    if (cells.runtime === 'cri-o' && path.includes('crio-conmon-')) assert.equal(p.monitor, true);
  });
}

test('layouts: systemd per runtime prefix, v2 nesting, literal slice form, pod-level cgroups', () => {
  const id = 'a'.repeat(64);
  const uid = '1e597579-417e-482f-bf65-5fe170c3aebd';
  const slice = `kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice`;
  const cases: Array<[string, Partial<ReturnType<typeof parseCgroupPath>>]> = [
    [`/kubepods.slice/kubepods-burstable.slice/${slice}/nerdctl-${id}.scope`, { runtime: 'nerdctl', containerId: id, podUid: uid, kind: 'pod-container' }],
    [`/kubepods.slice/kubepods-burstable.slice/${slice}/libpod-${id}.scope`, { runtime: 'podman', containerId: id, podUid: uid }],
    [`/kubepods.slice/kubepods-burstable.slice/${slice}/libpod-conmon-${id}.scope`, { runtime: 'podman', containerId: undefined, monitor: true, kind: 'pod-other' }],
    // cgroup v2 seen through a cgroup namespace: extra prefix levels before kubepods
    [`/system.slice/kubelet.service/kubepods.slice/kubepods-burstable.slice/${slice}/cri-containerd-${id}.scope`, { runtime: 'containerd', containerId: id, podUid: uid, qos: 'burstable' }],
    [`/kubepods/burstable/pod${uid}/crio-${id}`, { runtime: 'cri-o', containerId: id, podUid: uid }],
    [`/${slice}:crio:${id}`, { runtime: 'cri-o', containerId: id, podUid: uid, qos: 'burstable' }],
    [`/kubepods/burstable/pod${uid}`, { kind: 'pod-other', podUid: uid, containerId: undefined }],
    [`/kubepods.slice/kubepods-burstable.slice/${slice}`, { kind: 'pod-other', podUid: uid }],
    [`/kubepods/burstable/pod${uid}/${id}/init.scope`, { kind: 'pod-other', podUid: uid, containerId: undefined }],
    ['/', { kind: 'host', containerId: undefined, podUid: undefined }],
    // pod<uid> outside kubepods is not a pod cgroup
    [`/user.slice/pod${uid}/${id}`, { kind: 'container', podUid: undefined, containerId: id }],
    [`/kubepods/guaranteed/pod${uid}/${id}`, { podUid: undefined, kind: 'container' }],
  ];
  for (const [path, want] of cases) {
    const got = parseCgroupPath(path);
    for (const [k, v] of Object.entries(want)) assert.equal(got[k as keyof typeof got], v, `${path}: ${k}`);
  }
});

test('podman: crun subgroup, --cgroups=split payload, cgroupfs pods, conmon; a podman pod is not a Kubernetes pod', () => {
  const id = 'c'.repeat(64);
  const podId = 'd'.repeat(64);
  const uid = '1e597579-417e-482f-bf65-5fe170c3aebd';
  const slice = `kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`;
  const cases: Array<[string, Partial<ReturnType<typeof parseCgroupPath>>]> = [
    [`/machine.slice/libpod-${id}.scope/container`, { runtime: 'podman', containerId: id, kind: 'container' }],
    [`/machine.slice/machine-libpod_pod_${podId}.slice/libpod-${id}.scope/container`, { runtime: 'podman', containerId: id, podUid: undefined, kind: 'container' }],
    // crun's subgroup is the rule for any runtime's systemd scope (CRI-O on crun), pod UID kept
    [`/kubepods.slice/kubepods-besteffort.slice/${slice}/crio-${id}.scope/container`, { runtime: 'cri-o', containerId: id, podUid: uid, kind: 'pod-container' }],
    // ...but only directly under a scope: a cgroupfs leaf has no crun subgroup, and deeper children are not the container
    [`/libpod_parent/libpod-${id}/container`, { containerId: undefined, kind: 'host' }],
    [`/machine.slice/libpod-${id}.scope/container/init.scope`, { containerId: undefined, kind: 'host' }],
    [`/machine.slice/libpod-${id}.scope/other`, { containerId: undefined, kind: 'host' }],
    [`/machine.slice/libpod-conmon-${id}.scope/container`, { containerId: undefined, monitor: false, kind: 'host' }],
    ['/container', { containerId: undefined, kind: 'host' }],
    // --cgroups=split: payload under whatever cgroup podman ran in, with or without .scope
    [`/system.slice/app.service/libpod-payload-${id}`, { runtime: 'podman', containerId: id, kind: 'container' }],
    [`/system.slice/app.service/libpod-payload-${id}.scope/container`, { runtime: 'podman', containerId: id }],
    [`/kubepods/besteffort/pod${uid}/libpod-payload-${id}`, { runtime: 'podman', containerId: id, podUid: uid, kind: 'pod-container' }],
    [`/system.slice/app.service/libpod-payload-${id.slice(1)}`, { containerId: undefined, kind: 'host' }],
    [`/system.slice/app.service/libpod-payload-${id}/init.scope`, { containerId: undefined, kind: 'host' }],
    [`/system.slice/app.service/runtime`, { containerId: undefined, runtime: undefined, kind: 'host' }],
    // cgroupfs: a 64-hex child of libpod_parent is a podman pod's cgroup
    [`/libpod_parent/${podId}`, { runtime: undefined, containerId: undefined, kind: 'host' }],
    [`/libpod_parent/${podId}/libpod-${id}`, { runtime: 'podman', containerId: id }],
    [`/libpod_parent/${podId}/conmon`, { containerId: undefined, kind: 'host' }],
    // rootless cgroup v1: the podman CLI's scope names the runtime of a bare id
    [`/user.slice/user-1000.slice/user@1000.service/user.slice/podman-4242.scope/${id}`, { runtime: 'podman', containerId: id }],
    [`/user.slice/user-1000.slice/user@1000.service/user.slice/podman-x.scope/${id}`, { runtime: undefined, containerId: id }],
  ];
  for (const [path, want] of cases) {
    const got = parseCgroupPath(path);
    for (const [k, v] of Object.entries(want)) assert.equal(got[k as keyof typeof got], v, `${path}: ${k}`);
  }
});

test('not container IDs: 63 chars, uppercase, 65 chars, non-hex, ID with a slash', () => {
  const uid = 'fd52ef25-a87d-11e9-9423-0800271a638e';
  const id = '8c046cb0b72cd4c99f51b5591cd5b095967f58ee003710a45280c28ee1a9c7fa';
  for (const leaf of [id.slice(1), id.toUpperCase(), `${id}0`, `${id.slice(1)}g`, `docker-${id.slice(1)}.scope`, `docker-${id.toUpperCase()}.scope`]) {
    const p = parseCgroupPath(`/kubepods/burstable/pod${uid}/${leaf}`);
    assert.equal(p.containerId, undefined, leaf);
    assert.equal(p.kind, 'pod-other', leaf);
  }
  // A slash inside the "ID" just makes more components; neither half is an ID.
  const split = parseCgroupPath(`/docker/${id.slice(0, 32)}/${id.slice(32)}`);
  assert.equal(split.containerId, undefined);
  assert.equal(split.kind, 'host');
  // Uppercase pod UIDs are not kubelet's.
  assert.equal(parseCgroupPath(`/kubepods/burstable/pod${uid.toUpperCase()}/${id}`).podUid, undefined);
});

test('hostile paths are refused with MetadataError BAD_PATH and never parsed', () => {
  const id = 'b'.repeat(64);
  const bad: unknown[] = [
    `/kubepods/burstable/../../etc/${id}`,
    `/docker/..`,
    `/docker/./${id}`,
    `/docker/${id}\0/x`,
    `/docker/\n${id}`,
    `/docker/${id}\u007f`,
    `docker/${id}`,
    '',
    `/docker//${id}`,
    `/docker/${id}/`,
    `/${'x'.repeat(256)}/${id}`,
    `/${'a/'.repeat(2100)}${id}`,
    undefined,
    42,
  ];
  for (const path of bad) {
    assert.throws(
      () => parseCgroupPath(path as string),
      (e: unknown) => e instanceof MetadataError && e.code === 'BAD_PATH',
      JSON.stringify(path)?.slice(0, 60),
    );
    const t = tryParseCgroupPath(path as string);
    assert.equal(t.ok, false);
    if (!t.ok) assert.equal(t.error.code, 'BAD_PATH');
  }
});

test('a component named like a pod elsewhere does not leak a UUID as pod UID', () => {
  const p = parseCgroupPath('/user.slice/user-1000.slice/user@1000.service/app.slice/podman-pod-75bc72bd-6642-4cf5-b62c-0674e11bfc84.scope');
  assert.equal(p.podUid, undefined);
  assert.equal(p.kind, 'host');
});
