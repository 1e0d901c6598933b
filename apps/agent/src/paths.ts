/**
 * Locates files of the repository (proto/) from both apps/agent/src (ts-jest,
 * ts-node) and dist/apps/agent/src (the built agent) by walking up from this file.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const PROTO_REL = join('proto', 'pmap', 'v1', 'pmap.proto');

export function findRepoRoot(start: string = __dirname): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, PROTO_REL)) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find ${PROTO_REL} above ${start}`);
    dir = up;
  }
}

/** The directory to pass as the proto include path, and the file relative to it. */
export function protoLocation(root: string = findRepoRoot()): { includeDir: string; file: string } {
  return { includeDir: join(root, 'proto'), file: 'pmap/v1/pmap.proto' };
}
