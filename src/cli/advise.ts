// SPDX-License-Identifier: Apache-2.0
// podtrail advise networkpolicy: egress policies per workload from the inventory of a window.
import { ConfigError } from '../common/errors.js';
import { advise, FLAVOURS, type Flavour } from '../advise/render.js';
import { defineCommand } from './command.js';
import { INVENTORY_OPTIONS, inventoryFrom } from './inventory-options.js';
import { flushStdout, writeLine } from './stdout.js';

const options = {
  flavour: { type: 'enum', choices: FLAVOURS, default: 'kubernetes', desc: 'NetworkPolicy, CiliumNetworkPolicy (toFQDNs), or both' },
  ingress: { type: 'boolean', desc: 'also write ingress rules, from the other workloads seen connecting to each one (egress only by default)' },
  ...INVENTORY_OPTIONS,
} as const;

export default defineCommand({
  name: 'advise',
  summary: 'write egress NetworkPolicy / CiliumNetworkPolicy per workload from a window of the audit topic',
  usage: 'Usage: podtrail advise networkpolicy [--flavour kubernetes|cilium|both] [--ingress] [--since ISO] [--until ISO] [--namespace NS] [--workload W] [--selector SEL]',
  options,
  async run(v, positionals) {
    if (positionals.length !== 1 || positionals[0] !== 'networkpolicy') {
      throw new ConfigError(`podtrail advise: expected \`podtrail advise networkpolicy\`, got ${JSON.stringify(positionals.join(' '))}`);
    }
    const inv = await inventoryFrom('advise', v);
    const out = advise(inv, v.flavour as Flavour, { ingress: v.ingress });
    await writeLine(out.yaml.replace(/\n$/, ''));
    await flushStdout();
    return 0;
  },
});
