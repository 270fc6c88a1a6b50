// SPDX-License-Identifier: Apache-2.0
// Two network namespaces joined by a veth pair, for the DNS tests: the server's and the
// client's. Nothing else is connected to them, so test traffic cannot leave the pair. The
// client's resolv.conf is /etc/netns/<client>/resolv.conf, which `ip netns exec` binds over
// /etc/resolv.conf for the commands it runs (glibc and busybox read it there).
import { randomBytes } from 'node:crypto';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HarnessError, run, type RunResult } from './proc.js';

export interface DnsNetns {
  server: string;
  client: string;
  serverAddr: string;
  clientAddr: string;
  /** runs a command in the client namespace (with its resolv.conf) */
  inClient(cmd: string[], timeoutMs?: number): Promise<RunResult>;
  cleanup(): Promise<string[]>;
}

async function ip(args: string[]): Promise<void> {
  const r = await run('ip', args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new HarnessError(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

/** Documentation addresses (RFC 5737 TEST-NET-1): never routed anywhere. */
export async function makeDnsNetns(resolvConf?: string): Promise<DnsNetns> {
  const tag = randomBytes(3).toString('hex');
  const server = `pt-dns-s-${tag}`;
  const client = `pt-dns-c-${tag}`;
  const serverAddr = '192.0.2.1';
  const clientAddr = '192.0.2.2';
  const etc = join('/etc/netns', client);
  // /etc/netns itself goes too if this made it, so a run leaves the host as it found it.
  const madeParent = !existsSync('/etc/netns');
  const cleanup = async (): Promise<string[]> => {
    const problems: string[] = [];
    for (const ns of [server, client]) {
      if (!existsSync(join('/run/netns', ns))) continue;
      const r = await run('ip', ['netns', 'del', ns]);
      if (r.code !== 0) problems.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
    }
    await rm(etc, { recursive: true, force: true }).catch((e: Error) => problems.push(`rm ${etc}: ${e.message}`));
    if (madeParent) await rmdir('/etc/netns').catch(() => undefined); // not empty: another test's, keep it
    return problems;
  };
  try {
    await ip(['netns', 'add', server]);
    await ip(['netns', 'add', client]);
    await ip(['-n', server, 'link', 'add', 'veth-s', 'type', 'veth', 'peer', 'name', 'veth-c', 'netns', client]);
    await ip(['-n', server, 'addr', 'add', `${serverAddr}/24`, 'dev', 'veth-s']);
    await ip(['-n', client, 'addr', 'add', `${clientAddr}/24`, 'dev', 'veth-c']);
    for (const [ns, dev] of [[server, 'veth-s'], [client, 'veth-c']] as const) {
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', ns, 'link', 'set', dev, 'up']);
    }
    await mkdir(etc, { recursive: true });
    await writeFile(join(etc, 'resolv.conf'), resolvConf ?? `nameserver ${serverAddr}\noptions timeout:1 attempts:2\n`);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    server, client, serverAddr, clientAddr, cleanup,
    inClient: (cmd, timeoutMs = 20_000) => run('ip', ['netns', 'exec', client, ...cmd], { timeoutMs }),
  };
}
