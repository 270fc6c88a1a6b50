// SPDX-License-Identifier: Apache-2.0
// podtrail inventory: every destination of every workload in a window of the audit topic.
import { defineCommand } from './command.js';
import { INVENTORY_OPTIONS, inventoryFrom } from './inventory-options.js';
import { INVENTORY_FORMATS, renderInventory, type InventoryFormat } from '../inventory/render.js';
import { flushStdout, writeLine } from './stdout.js';

const options = {
  format: { type: 'enum', choices: INVENTORY_FORMATS, default: 'markdown', desc: 'output format' },
  ...INVENTORY_OPTIONS,
} as const;

export default defineCommand({
  name: 'inventory',
  summary: 'list every destination per workload in a window of the audit topic (json, markdown, html)',
  usage: 'Usage: podtrail inventory [--since ISO] [--until ISO] [--compare-since ISO] [--namespace NS] [--workload W] [--selector SEL] [--format json|markdown|html]',
  options,
  async run(v) {
    const inv = await inventoryFrom('inventory', v);
    await writeLine(renderInventory(inv, v.format as InventoryFormat).replace(/\n$/, ''));
    await flushStdout();
    return 0;
  },
});
