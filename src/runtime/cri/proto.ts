// SPDX-License-Identifier: Apache-2.0
// Loads cri.proto (our read-only subset of runtime.v1) once. The .proto file is read at run
// time: from dist/src/runtime/cri we look back into the package's src/runtime/cri, as the
// schema registry does for the .avsc files.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const FILE = 'cri.proto';

export function protoPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [here, path.resolve(here, '../../../../src/runtime/cri')];
  for (const dir of candidates) {
    if (existsSync(path.join(dir, FILE))) return path.join(dir, FILE);
  }
  throw new Error(`podtrail: cannot find ${FILE} (looked in ${candidates.join(', ')})`);
}

// keepCase: field names as in the .proto. longs as strings: created_at is nanoseconds and
// does not fit a double. enums as strings; a value this file does not name stays a number.
export const LOAD_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

let ctor: grpc.ServiceClientConstructor | undefined;

/** The RuntimeService client constructor generated from cri.proto. */
export function runtimeServiceClient(): grpc.ServiceClientConstructor {
  if (!ctor) {
    const pkg = grpc.loadPackageDefinition(loadSync(protoPath(), LOAD_OPTIONS)) as unknown as {
      runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } };
    };
    ctor = pkg.runtime.v1.RuntimeService;
  }
  return ctor;
}
