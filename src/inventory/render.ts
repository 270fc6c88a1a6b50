// SPDX-License-Identifier: Apache-2.0
// The inventory as JSON, markdown or a self-contained HTML page (no scripts, no remote
// resources). Everything printed comes from the sorted inventory, so runs diff cleanly.
import type { Inventory, InventoryDestination, InventoryWorkload } from './model.js';
import { htmlText, mdCell, visible } from './text.js';

export const INVENTORY_FORMATS = ['json', 'markdown', 'html'] as const;
export type InventoryFormat = (typeof INVENTORY_FORMATS)[number];

export function renderInventory(inv: Inventory, format: InventoryFormat): string {
  switch (format) {
    case 'json': return `${JSON.stringify(inv, null, 2)}\n`;
    case 'markdown': return renderMarkdown(inv);
    case 'html': return renderHtml(inv);
  }
}

export function workloadTitle(w: Pick<InventoryWorkload, 'namespace' | 'kind' | 'name'>): string {
  return `${w.namespace ?? '(no namespace)'}/${w.kind}/${w.name}`;
}

/** The destination's identity in one line: names, else the peer or service, else addresses. */
export function destinationText(d: InventoryDestination): string {
  const parts: string[] = [];
  if (d.names.length) parts.push(d.names.join(', ') + (d.cnames.length ? ` (CNAME ${d.cnames.join(', ')})` : ''));
  if (d.peer) parts.push(`${d.peer.namespace}/${d.peer.kind}/${d.peer.name}`);
  if (d.service) parts.push(`service ${d.service.namespace}/${d.service.name}`);
  if (d.node) parts.push(`node ${d.node}`);
  const addrs = d.cidrs.length && d.cidrs.length < d.ips.length ? d.cidrs : d.ips;
  parts.push(addrs.join(', ') + (d.ipsMore ? ` (+${d.ipsMore} more)` : '') + (d.cidrsWidened ? ' (widened)' : ''));
  return parts.join(' ');
}

function window(inv: Inventory): string {
  const w = inv.summary.window;
  return `${w.since ?? 'the topic\'s start'} to ${w.until ?? 'its end at the time of reading'}`;
}

function countText(d: InventoryDestination): { pods: string; exes: string } {
  return {
    pods: `${d.pods}${d.podsAtLeast ? '+' : ''}`,
    exes: d.executables.join(', ') + (d.executablesMore ? ` (+${d.executablesMore})` : ''),
  };
}

function renderMarkdown(inv: Inventory): string {
  const s = inv.summary;
  const out: string[] = [`# Egress inventory`, '', `Window: ${mdCell(window(inv))}.` +
    (s.compareWindow ? ` Compared with ${s.compareWindow.since} to ${s.compareWindow.until}.` : ''),
  `Records: ${s.records} (${s.connections} connections, ${s.matched} matching the filters, ${s.loss.records} LOSS).`];
  const f = s.filters;
  if (f.namespaces.length || f.workloads.length || f.selector) {
    out.push(`Filters: ${[f.namespaces.length ? `namespace ${f.namespaces.join(',')}` : '', f.workloads.length ? `workload ${f.workloads.join(',')}` : '', f.selector ? `selector ${f.selector}` : ''].filter(Boolean).map(mdCell).join('; ')}.`);
  }
  for (const n of s.notes) out.push('', `> ${mdCell(n)}`);
  const comparing = s.compareWindow !== null;
  for (const w of inv.workloads) {
    out.push('', `## ${mdCell(workloadTitle(w))}`, '');
    out.push(`Pods: ${w.pods}. Nodes: ${w.nodes.map(mdCell).join(', ') || '-'}. Images: ${w.images.map(mdCell).join(', ') || '-'}. ` +
      `Service account: ${w.serviceAccount ? mdCell(w.serviceAccount) : 'not recorded'}. Connections: ${w.connections} (${w.failures} failed).` +
      (w.unlistedConnections ? ` Not itemized (limit): ${w.unlistedConnections}.` : ''));
    out.push('', `| ${comparing ? 'change | ' : ''}class | destination | port | conns | failed | pods | executables | first seen | last seen |`,
      `|${comparing ? '---|' : ''}---|---|---:|---:|---:|---:|---|---|---|`);
    for (const d of w.destinations) {
      const c = countText(d);
      out.push(`| ${comparing ? `${d.change ?? ''} | ` : ''}${d.class} | ${mdCell(destinationText(d))} | ${d.port}/${d.protocol} | ${d.connections} | ${d.failures} | ${c.pods} | ${mdCell(c.exes)} | ${d.firstSeen ?? ''} | ${d.lastSeen ?? ''} |`);
    }
  }
  if (inv.workloads.length === 0) out.push('', '_No workloads to list._');
  return `${out.join('\n')}\n`;
}

function renderHtml(inv: Inventory): string {
  const s = inv.summary;
  const comparing = s.compareWindow !== null;
  const rows = (w: InventoryWorkload) => w.destinations.map((d) => {
    const c = countText(d);
    return `<tr class="${d.change ?? ''}${d.failures ? ' failed' : ''}">${comparing ? `<td>${d.change ?? ''}</td>` : ''}<td>${d.class}</td><td>${htmlText(destinationText(d))}</td><td>${d.port}/${d.protocol}</td><td class="n">${d.connections}</td><td class="n">${d.failures}</td><td class="n">${c.pods}</td><td>${htmlText(c.exes)}</td><td>${d.firstSeen ?? ''}</td><td>${d.lastSeen ?? ''}</td></tr>`;
  }).join('\n');
  const sections = inv.workloads.map((w) => `<section><h2>${htmlText(workloadTitle(w))}</h2>
<p>Pods: ${w.pods}. Nodes: ${htmlText(w.nodes.join(', ') || '-')}. Images: ${htmlText(w.images.join(', ') || '-')}. Service account: ${w.serviceAccount ? htmlText(w.serviceAccount) : 'not recorded'}. Connections: ${w.connections} (${w.failures} failed).${w.unlistedConnections ? ` Not itemized (limit): ${w.unlistedConnections}.` : ''}</p>
<table><thead><tr>${comparing ? '<th>change</th>' : ''}<th>class</th><th>destination</th><th>port</th><th>conns</th><th>failed</th><th>pods</th><th>executables</th><th>first seen</th><th>last seen</th></tr></thead>
<tbody>
${rows(w)}
</tbody></table></section>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>podtrail egress inventory</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}td.n{text-align:right}tr.new{background:#e8f7e8}tr.gone{background:#f7e8e8;color:#666}tr.failed td:nth-last-child(5){color:#b00}.note{background:#fff6d5;padding:4px 8px}</style>
</head><body>
<h1>Egress inventory</h1>
<p>Window: ${htmlText(window(inv))}.${s.compareWindow ? ` Compared with ${htmlText(s.compareWindow.since)} to ${htmlText(s.compareWindow.until)}.` : ''} Records: ${s.records} (${s.connections} connections, ${s.matched} matching the filters, ${s.loss.records} LOSS).</p>
${s.notes.map((n) => `<p class="note">${htmlText(n)}</p>`).join('\n')}
${sections || '<p>No workloads to list.</p>'}
</body></html>
`;
}

