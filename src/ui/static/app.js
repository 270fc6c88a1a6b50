// SPDX-License-Identifier: Apache-2.0
// podtrail ui's page. Tables are Tabulator (global `Tabulator`), the map is Cytoscape.js (global
// `cytoscape`), both served by podtrail itself. Every value from a record is untrusted: it is
// put in the page as text nodes, never as HTML.
/* global Tabulator, cytoscape */
const $ = (id) => document.getElementById(id);
const text = (cell) => document.createTextNode(String(cell.getValue() ?? ''));
const statusEl = $('status');

// ---- live view
const live = new Tabulator('#live', {
  height: '260px', layout: 'fitColumns', index: 'eventId', placeholder: 'waiting for audit records…',
  columns: [
    { title: 'time', field: 'time', formatter: text, width: 220 },
    { title: 'namespace', field: 'namespace', formatter: text, headerFilter: 'input' },
    { title: 'workload', field: 'workload', formatter: text, headerFilter: 'input' },
    { title: 'pod', field: 'pod', formatter: text },
    { title: 'exe', field: 'exe', formatter: text, headerFilter: 'input' },
    { title: 'destination', field: 'dst', formatter: text, headerFilter: 'input' },
    { title: 'status', field: 'status', formatter: text, headerFilter: 'input', width: 110 },
  ],
});
function row(r) {
  const w = r.pod && r.pod.workload ? `${r.pod.workload.kind}/${r.pod.workload.name}` : (r.attribution && r.attribution.status) || '';
  return {
    eventId: r.eventId, time: r.time, namespace: (r.pod && r.pod.namespace) || '', workload: w, pod: (r.pod && r.pod.name) || '',
    exe: (r.process && (r.process.exe || r.process.comm)) || '', dst: r.dst ? `${r.dst.addr}:${r.dst.port}/${r.protocol}` : 'LOSS',
    status: r.result ? r.result.status : (r.attribution && r.attribution.status) || '',
  };
}
// Records are added in batches: capture sees every connection on a node, and one table update
// per record would stall the page.
let liveCount = 0;
let tableReady = false;
const pending = [];
live.on('tableBuilt', () => { tableReady = true; });
setInterval(() => {
  if (!tableReady || pending.length === 0) return;
  const batch = pending.splice(0).slice(-2000).reverse();
  live.addData(batch, true);
  const extra = live.getDataCount() - 2000;
  if (extra > 0) live.getRows().slice(-extra).forEach((x) => x.delete());
}, 250);
const es = new EventSource('/api/live');
es.onopen = () => { statusEl.textContent = 'live'; };
es.onerror = () => { statusEl.textContent = 'live feed interrupted, retrying…'; };
es.onmessage = (ev) => {
  pending.push(row(JSON.parse(ev.data)));
  liveCount++;
  $('live-count').textContent = `${liveCount} records`;
};

// ---- egress map
let cy;
let inventory;
const title = (w) => `${w.namespace ?? '(no namespace)'}/${w.kind}/${w.name}`;
function destLabel(d) {
  const id = d.names[0] || (d.peer ? `${d.peer.namespace}/${d.peer.kind}/${d.peer.name}` : d.service ? `svc ${d.service.namespace}/${d.service.name}` : d.ips[0]);
  return `${id} ${d.port}/${d.protocol}`;
}
async function loadNamespace(ns) {
  const res = await fetch(`/api/inventory?namespace=${encodeURIComponent(ns)}`);
  inventory = await res.json();
  const els = [];
  const seen = new Set();
  for (const w of inventory.workloads) {
    const wid = `w:${title(w)}`;
    els.push({ data: { id: wid, label: `${w.kind}/${w.name}`, kind: 'workload', title: title(w) } });
    for (const d of w.destinations) {
      const did = `d:${d.class}:${destLabel(d)}`;
      if (!seen.has(did)) { seen.add(did); els.push({ data: { id: did, label: destLabel(d), kind: 'destination', cls: d.class } }); }
      els.push({ data: { id: `${wid}->${did}`, source: wid, target: did, weight: 1 + Math.log2(1 + d.connections), failed: d.failures > 0 ? 1 : 0, change: d.change || '' } });
    }
  }
  if (cy) cy.destroy();
  cy = cytoscape({
    container: $('map'), elements: els, wheelSensitivity: 0.3,
    layout: { name: 'breadthfirst', directed: true, spacingFactor: 1.1 },
    style: [
      { selector: 'node', style: { label: 'data(label)', 'font-size': 9, 'text-wrap': 'wrap', 'text-max-width': 140 } },
      { selector: 'node[kind = "workload"]', style: { shape: 'round-rectangle', 'background-color': '#3b6ea5', width: 26, height: 18 } },
      { selector: 'node[kind = "destination"]', style: { 'background-color': '#999', width: 14, height: 14 } },
      { selector: 'edge', style: { width: 'data(weight)', 'line-color': '#8aa', 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'target-arrow-color': '#8aa' } },
      { selector: 'edge[failed = 1]', style: { 'line-color': '#c33', 'target-arrow-color': '#c33' } },
      { selector: 'edge[change = "new"]', style: { 'line-style': 'dashed', 'line-color': '#2a2', 'target-arrow-color': '#2a2' } },
      { selector: 'edge[change = "gone"]', style: { 'line-style': 'dotted', 'line-color': '#bbb', 'target-arrow-color': '#bbb' } },
    ],
  });
  cy.on('tap', 'node[kind = "workload"]', (ev) => showWorkload(ev.target.data('title')));
  const list = $('workloads');
  list.replaceChildren(...inventory.workloads.map((w) => {
    const b = document.createElement('button');
    b.textContent = title(w);
    b.dataset.workload = title(w);
    b.addEventListener('click', () => showWorkload(title(w)));
    return b;
  }));
  statusEl.textContent = `live; ${inventory.workloads.length} workloads in the inventory`;
}

// ---- workload detail
let detailTable;
async function showWorkload(t) {
  const w = inventory.workloads.find((x) => title(x) === t);
  if (!w) return;
  $('detail-pane').hidden = false;
  $('detail-title').textContent = t;
  $('detail-facts').textContent = `pods ${w.pods}; nodes ${w.nodes.join(', ')}; images ${w.images.join(', ')}; connections ${w.connections} (${w.failures} failed)`;
  const ns = $('ns').value;
  const q = (extra) => `?namespace=${encodeURIComponent(ns)}&workload=${encodeURIComponent(t)}${extra}`;
  $('dl-np').href = `/api/advice${q('&flavour=kubernetes')}`;
  $('dl-cnp').href = `/api/advice${q('&flavour=cilium')}`;
  $('dl-md').href = `/api/inventory${q('&format=markdown&download=1')}`;
  $('dl-json').href = `/api/inventory${q('&format=json&download=1')}`;
  const rows = w.destinations.map((d) => ({ change: d.change || '', cls: d.class, dest: destLabel(d), ips: d.ips.join(', '), conns: d.connections, failed: d.failures, pods: d.pods, exes: d.executables.join(', '), first: d.firstSeen, last: d.lastSeen }));
  if (detailTable) detailTable.destroy();
  detailTable = new Tabulator('#detail', {
    data: rows, layout: 'fitColumns',
    columns: [
      { title: 'change', field: 'change', formatter: text, width: 80 }, { title: 'class', field: 'cls', formatter: text },
      { title: 'destination', field: 'dest', formatter: text }, { title: 'addresses', field: 'ips', formatter: text },
      { title: 'conns', field: 'conns', width: 80 }, { title: 'failed', field: 'failed', width: 80 }, { title: 'pods', field: 'pods', width: 70 },
      { title: 'executables', field: 'exes', formatter: text }, { title: 'last seen', field: 'last', formatter: text },
    ],
  });
  const res = await fetch($('dl-np').href);
  $('advice').textContent = await res.text();
}

// ---- namespaces
(async () => {
  const res = await fetch('/api/inventory?namespace=');
  const all = await res.json();
  const names = [...new Set(all.workloads.map((w) => w.namespace).filter((n) => n))].sort();
  const sel = $('ns');
  sel.replaceChildren(...names.map((n) => { const o = document.createElement('option'); o.value = n; o.textContent = n; return o; }));
  sel.addEventListener('change', () => loadNamespace(sel.value));
  if (names.length) await loadNamespace(names[0]);
  else statusEl.textContent = (all.summary.notes[0] || 'no workloads in the window');
  document.body.dataset.ready = '1';
})();
