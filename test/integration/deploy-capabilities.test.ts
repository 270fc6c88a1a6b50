// SPDX-License-Identifier: Apache-2.0
// The capture DaemonSet's privileges, proved on the real kernel. What a container runtime
// gives a uid-0 container with `drop: [ALL]`, `add: [...]` and no privilege escalation is
// a bounding set of exactly those capabilities under no_new_privs; setpriv builds the same.
// - doctor and `capture --stdout` work with exactly the manifest's capabilities (and a
//   memlock limit of 0, so CAP_SYS_RESOURCE is not needed either);
// - the kernel refuses the load without each one (a small libbpf program asks it directly,
//   since podtrail's own privilege check would answer first);
// - a non-root uid would also need CAP_DAC_READ_SEARCH (tracefs is root's), hence uid 0;
// - without a host-mounted tracefs, capture cannot mount one (CAP_SYS_ADMIN), so it fails.
// - a CRI socket in a directory mounted read-only, as the manifest mounts containerd's, is
//   still dialled with those capabilities (a read-only mount does not stop a connect).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PODTRAIL_BIN } from '../helpers/cli.js';
import { missingKernelPrereq } from '../helpers/capture-sink.js';
import { defaultBpfObjectPath } from '../../src/capture/native.js';
import { K8S_DIR, ensureValidatorVenv, hasCommand, skipUnlessCi, yamlDocs } from '../helpers/deploy-tools.js';
import { startFakeCri } from '../helpers/cri-server.js';
import { CGROUP_V2 } from '../helpers/ns.js';

const missing = missingKernelPrereq()
  ?? (['setpriv', 'prlimit', 'unshare', 'cc', 'pkg-config'].find((c) => !hasCommand(c)) ? 'setpriv, prlimit, unshare, cc or pkg-config is missing' : undefined)
  ?? ensureValidatorVenv();

// Opens, loads and attaches the tracepoint-mode programs as podtrail's loader does (the DNS
// ones, pt_dns_*, with links at the cgroup v2 root in argv[2]), and says which step the kernel refused.
const PROBE_C = `#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
static int quiet(enum libbpf_print_level l, const char *f, va_list a) { (void)l; (void)f; (void)a; return 0; }
static int other_mode(const char *n) {
  return !strncmp(n, "pt_kp_", 6) || !strncmp(n, "pt_kr_", 6) || !strncmp(n, "pt_fe_", 6) || !strncmp(n, "pt_fx_", 6);
}
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  libbpf_set_print(quiet);
  struct bpf_object *o = bpf_object__open_file(argv[1], NULL);
  if (!o) { printf("open: %s\\n", strerror(errno)); return 1; }
  struct bpf_program *p;
  bpf_object__for_each_program(p, o) bpf_program__set_autoload(p, !other_mode(bpf_program__name(p)));
  int e = bpf_object__load(o);
  if (e) { printf("load: %s\\n", strerror(-e)); return 1; }
  int n = 0, cg = open(argv[2], O_RDONLY | O_DIRECTORY);
  if (cg < 0) { printf("open %s: %s\\n", argv[2], strerror(errno)); return 1; }
  bpf_object__for_each_program(p, o) {
    if (!bpf_program__autoload(p)) continue;
    struct bpf_link *l = strncmp(bpf_program__name(p), "pt_dns_", 7) ? bpf_program__attach(p) : bpf_program__attach_cgroup(p, cg);
    if (!l) { printf("attach %s: %s\\n", bpf_program__section_name(p), strerror(errno)); return 1; }
    n++;
  }
  printf("attached %d\\n", n);
  return 0;
}
`;

describe('capture DaemonSet capabilities on the real kernel', { skip: skipUnlessCi(missing) }, () => {
  let caps: string[] = [];
  let tmp = '';
  let probe = '';
  let obj = '';
  const bounding = (list: string[]) => ['--inh-caps=-all', `--bounding-set=-all${list.map((c) => `,+${c.toLowerCase()}`).join('')}`, '--no-new-privs'];
  const asContainer = (list: string[], cmd: string[]) => spawnSync('setpriv', [...bounding(list), '--', 'prlimit', '--memlock=0:0', ...cmd], { encoding: 'utf8', timeout: 60_000 });

  before(() => {
    if (missing) throw new Error(`prerequisites: ${missing}`);
    const ds = yamlDocs([path.join(K8S_DIR, 'capture-daemonset.yaml')])[0];
    const sc = ds.spec.template.spec.containers[0].securityContext;
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.equal(sc.runAsUser, 0);
    assert.equal(sc.allowPrivilegeEscalation, false);
    caps = sc.capabilities.add;
    tmp = mkdtempSync(path.join(tmpdir(), 'podtrail-caps-'));
    chmodSync(tmp, 0o755); // the non-root case reads the probe and the object from here
    writeFileSync(path.join(tmp, 'probe.c'), PROBE_C);
    const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'libbpf'], { encoding: 'utf8' }).trim().split(/\s+/);
    probe = path.join(tmp, 'probe');
    execFileSync('cc', ['-O1', '-o', probe, path.join(tmp, 'probe.c'), ...flags]);
    obj = path.join(tmp, 'podtrail.bpf.o');
    copyFileSync(defaultBpfObjectPath(), obj);
    chmodSync(obj, 0o644);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('the setpriv environment holds exactly the manifest\'s capabilities', () => {
    const bits = { BPF: 39, PERFMON: 38, NET_ADMIN: 12 } as Record<string, number>;
    const want = caps.reduce((m, c) => m | (1n << BigInt(bits[c] ?? -1)), 0n);
    const r = asContainer(caps, ['grep', '^Cap\\(Eff\\|Bnd\\|Amb\\)', '/proc/self/status']);
    const got = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)).map(([k, v]) => [k, BigInt(`0x${v}`)]));
    assert.deepEqual(got, { CapEff: want, CapBnd: want, CapAmb: 0n });
  });

  test('doctor passes with exactly those capabilities and memlock 0', () => {
    const r = asContainer(caps, [process.execPath, PODTRAIL_BIN, 'doctor']);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /privileges: euid 0, CAP_BPF true, CAP_PERFMON true, CAP_SYS_ADMIN false/);
    assert.match(r.stdout, /--attach auto will use \w+/);
  });

  test('capture --stdout --dns on records a connection with exactly those capabilities', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p)); // closed again: connects to it are refused
      });
    });
    const child = spawn('setpriv', [...bounding(caps), '--', 'prlimit', '--memlock=0:0', process.execPath, PODTRAIL_BIN,
      'capture', '--stdout', '--log-level', 'warn', '--publish-metadata', 'off', '--dns', 'on'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const mine = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
      .find((e) => e.dst?.port === port && e.process?.pid === process.pid);
    try {
      const deadline = Date.now() + 30_000;
      while (!mine() && Date.now() < deadline && child.exitCode === null) {
        await new Promise<void>((resolve) => connect(port, '127.0.0.1').on('error', () => resolve()));
        await new Promise((r) => setTimeout(r, 250));
      }
      const ev = mine();
      assert.ok(ev, `no event for 127.0.0.1:${port}; capture said:\n${err}`);
      assert.equal(ev.result.status, 'REFUSED');
      // Node 26 names its main thread node-MainThread (comm is the thread's name); older lines leave node.
      assert.match(ev.process.comm, /^node(-MainThread)?$/);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  test('the kernel loads and attaches with those capabilities, and refuses without each one', () => {
    const ok = asContainer(caps, [probe, obj, CGROUP_V2]);
    assert.equal(ok.status, 0, ok.stdout);
    assert.match(ok.stdout, /^attached \d+/);
    // CAP_NET_ADMIN: the kernel loads cgroup_skb and cgroup sock_addr programs only with it.
    for (const drop of caps) {
      const r = asContainer(caps.filter((c) => c !== drop), [probe, obj, CGROUP_V2]);
      assert.equal(r.status, 1, `without CAP_${drop}: ${r.stdout}`);
      assert.match(r.stdout, /^load: Operation not permitted/, `without CAP_${drop}`);
    }
  });

  test('a non-root uid would also need CAP_DAC_READ_SEARCH (tracefs is 0700 root): hence uid 0', () => {
    const asUser = (list: string[]) => {
      const set = list.map((c) => `+${c.toLowerCase()}`).join(',');
      return spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=${set}`, `--ambient-caps=${set}`,
        '--', probe, obj, CGROUP_V2], { encoding: 'utf8', timeout: 60_000 });
    };
    const without = asUser(caps);
    assert.equal(without.status, 1, without.stdout);
    assert.match(without.stdout, /^attach .*: Permission denied/);
    const withDac = asUser([...caps, 'DAC_READ_SEARCH']);
    assert.equal(withDac.status, 0, withDac.stdout);
  });

  test('without a host-mounted tracefs those capabilities cannot mount one: capture needs the hostPath', () => {
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      'umount /sys/kernel/tracing 2>/dev/null; exec "$@"', 'sh',
      'setpriv', ...bounding(caps), '--', process.execPath, PODTRAIL_BIN, 'doctor'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stdout, /attach mode tracepoint: unavailable \(NO_TRACEFS, errno 1\)/);
  });

  test('a CRI socket in a read-only mounted directory answers doctor run with those capabilities', async () => {
    // The manifest mounts the host's /run/containerd read-only at /host/run/containerd. Here:
    // a runtime's socket (root's, 0660 as containerd makes it) in a directory of its own,
    // bind-mounted read-only at that place under a host root, in a private mount namespace.
    const ds = yamlDocs([path.join(K8S_DIR, 'capture-daemonset.yaml')])[0];
    const spec = ds.spec.template.spec;
    const vol = spec.volumes.find((v: any) => v.hostPath?.path === '/run/containerd');
    const mount = spec.containers[0].volumeMounts.find((m: any) => m.name === vol?.name);
    assert.ok(mount?.readOnly, 'the manifest mounts /run/containerd read-only');
    const hostRoot = spec.containers[0].args[spec.containers[0].args.indexOf('--host-root') + 1];
    const runtimeDir = path.join(tmp, 'node-run-containerd');
    const fakeRoot = path.join(tmp, 'root');
    const target = path.join(fakeRoot, path.relative(hostRoot, mount.mountPath));
    mkdirSync(runtimeDir, { recursive: true });
    mkdirSync(target, { recursive: true });
    const cri = await startFakeCri(path.join(runtimeDir, 'containerd.sock'), {
      Version: () => ({ version: '0.1.0', runtime_name: 'containerd', runtime_version: '1.6.20-ro-mount', runtime_api_version: 'v1' }),
    });
    chmodSync(cri.socket, 0o660);
    try {
      // spawn, not spawnSync: the runtime answering is this process.
      const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
        'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && shift 2 && exec "$@"', 'sh', runtimeDir, target,
        'setpriv', ...bounding(caps), '--', process.execPath, PODTRAIL_BIN, 'doctor', '--host-root', fakeRoot], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, 0, out);
      const sock = path.join(target, 'containerd.sock');
      assert.ok(out.includes(`ok   CRI ${sock} (containerd's default): containerd 1.6.20-ro-mount, CRI API v1`), out);
      assert.ok(cri.calls.some((x) => x.method === 'Version'), 'the runtime was asked');
      // And the mount really was read-only: a write through it fails.
      const w = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
        'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && touch "$2/x"', 'sh', runtimeDir, target], { encoding: 'utf8' });
      assert.notEqual(w.status, 0);
      assert.match(w.stderr, /Read-only file system/);
    } finally {
      await cri.stop();
    }
  });
});
