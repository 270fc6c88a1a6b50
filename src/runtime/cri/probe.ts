// SPDX-License-Identifier: Apache-2.0
// For `podtrail doctor`: which CRI sockets answer, and with which runtime and version.
import { errMessage } from '../../common/errors.js';
import { CriClient } from './client.js';
import { criSockets, DEFAULT_CRI_SOCKETS } from './sockets.js';

export interface CriProbe {
  socket: string;
  label: string;
  ok: boolean;
  runtimeName?: string;
  runtimeVersion?: string;
  apiVersion?: string;
  /** does it stream container events (else capture polls) */
  events?: 'yes' | 'no (capture relists)' | 'unknown';
  error?: string;
}

export async function probeCri(hostRoot: string, explicit: readonly string[] = [], deadlineMs = 2_000): Promise<{ looked: string[]; found: CriProbe[] }> {
  const sockets = await criSockets(hostRoot, explicit);
  const looked = explicit.length > 0 ? [...explicit] : DEFAULT_CRI_SOCKETS.map((k) => k.path);
  const found = await Promise.all(sockets.map(async (s): Promise<CriProbe> => {
    const c = new CriClient(s.path, { deadlineMs });
    try {
      const v = await c.version();
      const events = await new Promise<CriProbe['events']>((resolve) => {
        const timer = setTimeout(() => { stream.cancel(); resolve('yes'); }, Math.min(deadlineMs, 500));
        const stream = c.events(() => {}, (err) => {
          clearTimeout(timer);
          resolve(err.code === 'UNIMPLEMENTED' ? 'no (capture relists)' : 'unknown');
        });
      });
      return { socket: s.path, label: s.label, ok: true, runtimeName: v.runtimeName, runtimeVersion: v.runtimeVersion, apiVersion: v.runtimeApiVersion, events };
    } catch (err) {
      return { socket: s.path, label: s.label, ok: false, error: errMessage(err) };
    } finally {
      c.close();
    }
  }));
  return { looked, found };
}
