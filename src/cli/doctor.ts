// SPDX-License-Identifier: Apache-2.0
// podtrail doctor: can capture run here, and if not, what to do about it.
import { loadNativeBinding, probeKernel, type KernelProbe } from '../capture/native.js';
import { probeCri, type CriProbe } from '../runtime/cri/probe.js';
import { defineCommand } from './command.js';
import { CRI_SOCKET_OPTION } from './cri-options.js';
import { writeLine } from './stdout.js';

export interface Finding { ok: boolean; what: string; fix?: string; note?: boolean }

export function diagnose(p: KernelProbe): Finding[] {
  const f: Finding[] = [];
  f.push({ ok: true, what: `kernel ${p.kernelRelease}` });
  f.push(p.btf
    ? { ok: true, what: 'BTF: /sys/kernel/btf/vmlinux present (CO-RE works)' }
    : { ok: false, what: 'BTF: /sys/kernel/btf/vmlinux missing', fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions since 2020)' });
  f.push(p.tracefs.path
    ? { ok: true, what: `tracefs at ${p.tracefs.path}${p.tracefs.mountedBefore ? '' : ' (podtrail mounted it)'}` }
    : { ok: false, what: 'tracefs: not mounted, and podtrail could not mount it (or cannot read it)', fix: 'mount -t tracefs nodev /sys/kernel/tracing on the node (needs CAP_SYS_ADMIN), and run capture as uid 0' });
  const pr = p.privileges;
  f.push(pr.enough
    ? { ok: true, what: `privileges: euid ${pr.euid}, CAP_BPF ${pr.capBpf}, CAP_PERFMON ${pr.capPerfmon}, CAP_SYS_ADMIN ${pr.capSysAdmin}` }
    : { ok: false, what: `privileges: euid ${pr.euid}, CAP_BPF ${pr.capBpf}, CAP_PERFMON ${pr.capPerfmon}, CAP_SYS_ADMIN ${pr.capSysAdmin}`, fix: 'run as uid 0 with CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8; CAP_SYS_RESOURCE too before 5.11, for the memlock limit)' });
  f.push({ ok: p.cgroup.kind !== 'none', what: `cgroups: ${p.cgroup.kind} (v2 at ${p.cgroup.v2Mount || '-'}; v1: ${p.cgroup.v1Mounts.join(', ') || '-'})`, ...(p.cgroup.kind === 'none' ? { fix: 'mount cgroup2 at /sys/fs/cgroup' } : {}) });
  const usable = p.modes.filter((m) => m.ok).map((m) => m.mode);
  for (const m of p.modes) {
    f.push(m.ok
      ? { ok: true, what: `attach mode ${m.mode}: loads and attaches` }
      : { ok: true, note: true, what: `attach mode ${m.mode}: unavailable (${m.code}, errno ${m.errno}): ${m.message.split('\n')[0]}` });
  }
  f.push(usable.length
    ? { ok: true, what: `--attach auto will use ${usable[0]}` }
    : { ok: false, what: 'no attach mode works', fix: 'check the lines above; tracepoint needs tracefs and BTF, kprobe needs CONFIG_KPROBES, fentry needs BPF trampolines' });
  return f;
}

/** CRI runtimes: none found is a note (a Docker-only node needs none), one that does not answer is a failure. */
export function diagnoseCri(p: { looked: string[]; found: CriProbe[] }, hostRoot: string): Finding[] {
  if (p.found.length === 0) {
    return [{ ok: true, note: true, what: `CRI: no runtime socket under ${hostRoot} (looked for ${p.looked.join(', ')}); containerd and CRI-O pods get no labels` }];
  }
  const where = (c: CriProbe): string => `CRI ${c.socket}${c.label !== 'CRI' ? ` (${c.label}'s default)` : ''}`;
  return p.found.map((c) => c.ok
    ? { ok: true, what: `${where(c)}: ${c.runtimeName} ${c.runtimeVersion}, CRI API ${c.apiVersion}, container events: ${c.events}` }
    : { ok: false, what: `${where(c)}: ${c.error}`, fix: 'start the runtime, mount its socket into the capture pod (hostPath), or name the right one with --cri-socket' });
}

export default defineCommand({
  name: 'doctor',
  summary: 'check this node: kernel, BTF, tracefs, attach modes, cgroup layout, privileges',
  usage: 'Usage: podtrail doctor [--json] [--host-root DIR] [--cri-socket PATH]',
  options: {
    json: { type: 'boolean', desc: 'print the probe as JSON' },
    'host-root': { type: 'string', arg: 'DIR', default: '/', desc: "where the node's filesystem is mounted (CRI sockets are looked for under it)", env: 'PODTRAIL_HOST_ROOT' },
    ...CRI_SOCKET_OPTION,
  },
  async run(v) {
    const probe = probeKernel(loadNativeBinding());
    const hostRoot = v['host-root'] as string;
    const cri = await probeCri(hostRoot, v['cri-socket']);
    const findings = [...diagnose(probe), ...diagnoseCri(cri, hostRoot)];
    if (v.json) {
      await writeLine(JSON.stringify({ ...probe, cri: cri.found }));
    } else {
      for (const x of findings) {
        await writeLine(`${x.note ? 'n/a ' : x.ok ? 'ok  ' : 'FAIL'} ${x.what}${x.fix ? `\n     fix: ${x.fix}` : ''}`);
      }
    }
    return findings.every((x) => x.ok) ? 0 : 1;
  },
});
