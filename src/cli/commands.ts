// SPDX-License-Identifier: Apache-2.0
// The command table. Modules load lazily so `podtrail tail` never loads the BPF addon.
import type { Command } from './command.js';

interface Entry { name: string; summary: string; load: () => Promise<{ default: Command<any> }> }

export const COMMANDS: Entry[] = [
  { name: 'advise', summary: 'write egress NetworkPolicy / CiliumNetworkPolicy per workload from a window of the audit topic', load: () => import('./advise.js') },
  { name: 'capture', summary: 'record every outbound connection on this node (eBPF) to the raw topic', load: () => import('./capture.js') },
  { name: 'doctor', summary: 'check this node: kernel, BTF, tracefs, attach modes, cgroup layout, privileges', load: () => import('./doctor.js') },
  { name: 'enrich', summary: 'resolve raw events to container and pod, publish audit records (consumer group)', load: () => import('./enrich.js') },
  { name: 'export', summary: 'send audit records to a SIEM: JSON/OCSF/ECS to a Kafka topic, or CEF/JSON over syslog', load: () => import('./export.js') },
  { name: 'up', summary: 'run capture + enrich here (local Kafka if none is configured) and show audit records', load: () => import('./up.js') },
  { name: 'replay', summary: 're-enrich a time window of the raw topic from the metadata topic (point in time)', load: () => import('./replay.js') },
  { name: 'inventory', summary: 'list every destination per workload in a window of the audit topic (json, markdown, html)', load: () => import('./inventory.js') },
  { name: 'ui', summary: 'serve a local web page: live audit stream, egress map, inventory and policy advice per workload', load: () => import('./ui.js') },
  { name: 'tail', summary: 'print records from a topic (raw or audit) as JSON or pretty lines', load: () => import('./tail.js') },
];

export async function loadCommands(): Promise<Command[]> {
  return Promise.all(COMMANDS.map(async (e) => (await e.load()).default as Command));
}
