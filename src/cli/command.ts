// SPDX-License-Identifier: Apache-2.0
import type { OptSpecs, OptValues } from '../common/options.js';

export interface Command<S extends OptSpecs = OptSpecs> {
  name: string;
  summary: string;
  usage: string;
  options: S;
  /** resolves to the exit code */
  run(values: OptValues<S>, positionals: string[]): Promise<number>;
}

export function defineCommand<S extends OptSpecs>(c: Command<S>): Command<S> {
  return c;
}
