// SPDX-License-Identifier: Apache-2.0
// --pod-annotations, shared by the commands that read pod metadata (capture, enrich, replay).
// Annotations can hold secrets, so none are kept unless asked for, on the node (what goes on
// the containers topic) and again by each reader (what goes into audit records).
import { annotationFilter } from '../runtime/pod-facts.js';

export const POD_ANNOTATIONS_OPTION = {
  'pod-annotations': {
    type: 'list', arg: 'GLOBS', default: [] as string[], env: 'PODTRAIL_POD_ANNOTATIONS',
    desc: 'pod annotation keys to keep, comma-separated globs (* and ?); default none: annotations can hold secrets',
    check: (v: string[]) => {
      try {
        annotationFilter(v);
        return undefined;
      } catch (err) {
        return (err as Error).message.replace(/^--pod-annotations: /, '');
      }
    },
  },
} as const;
