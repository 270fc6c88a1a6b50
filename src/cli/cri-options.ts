// SPDX-License-Identifier: Apache-2.0
// The CRI flags, shared by the commands that ask a node's runtimes (capture; enrich's node
// fallback). --cri-socket also serves doctor.
import { CRI_CLIENT_DEFAULTS } from '../runtime/cri/defaults.js';
import { checkSocketPath } from '../runtime/cri/sockets.js';

export const CRI_SOCKET_OPTION = {
  'cri-socket': {
    type: 'list', arg: 'PATH', env: 'PODTRAIL_CRI_SOCKET',
    desc: "a CRI runtime socket to ask for pod labels (repeatable; default: containerd's, k3s's, CRI-O's and cri-dockerd's default sockets found under --host-root)",
    check: (v: string[]) => {
      try {
        v.forEach(checkSocketPath);
        return undefined;
      } catch (err) {
        return (err as Error).message.replace(/^--cri-socket /, '');
      }
    },
  },
} as const;

export const CRI_OPTIONS = {
  ...CRI_SOCKET_OPTION,
  cri: { type: 'enum', choices: ['auto', 'off'], default: 'auto', desc: 'ask CRI runtimes (off: runtime files only; containerd pods then have no labels)', env: 'PODTRAIL_CRI' },
  'cri-timeout': { type: 'int', arg: 'MS', min: 50, max: 60_000, default: CRI_CLIENT_DEFAULTS.deadlineMs, desc: 'deadline of each CRI call; after it the runtime files answer', env: 'PODTRAIL_CRI_TIMEOUT' },
} as const;
