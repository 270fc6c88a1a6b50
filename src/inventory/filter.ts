// SPDX-License-Identifier: Apache-2.0
// Which sources the inventory lists: namespaces, workloads (NAME or KIND/NAME) and a label
// selector, all of which must hold when given.
import { ConfigError } from '../common/errors.js';
import type { Conn } from './conn.js';
import { parseSelector } from './selector.js';

export interface FilterSpec { namespaces: string[]; workloads: string[]; selector: string | undefined }

export function buildFilter(spec: FilterSpec): (c: Conn) => boolean {
  const namespaces = new Set(spec.namespaces);
  const workloads = spec.workloads.map((w) => {
    const i = w.indexOf('/');
    if (i === 0 || i === w.length - 1) throw new ConfigError(`--workload: expected NAME or KIND/NAME, got ${JSON.stringify(w)}`);
    return i < 0 ? { kind: undefined, name: w } : { kind: w.slice(0, i).toLowerCase(), name: w.slice(i + 1) };
  });
  const selector = spec.selector !== undefined ? parseSelector(spec.selector) : undefined;
  return (c) =>
    (namespaces.size === 0 || (c.workload.namespace !== null && namespaces.has(c.workload.namespace))) &&
    (workloads.length === 0 || workloads.some((w) => w.name === c.workload.name && (w.kind === undefined || w.kind === c.workload.kind.toLowerCase()))) &&
    (selector === undefined || selector(c.labels));
}
