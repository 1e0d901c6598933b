import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The product's version: "version" of the repository's package.json (name "pmapd"), found by
 * walking up from `start` — the same from the sources (ts-jest) and from dist/ (the built apps
 * and the Docker image, which ships package.json). Both apps print it for --version; the agent
 * reports it in GetNodeInfo.
 */
export function productVersion(start: string = __dirname): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'pmapd' && typeof pkg.version === 'string') return pkg.version;
    }
    if (dirname(dir) === dir) return '0.0.0';
  }
}

/** The line both apps print for --version: "pmapd-agent 0.1.0 (Node.js v24.11.1)". */
export function versionLine(program: string, start?: string): string {
  return `${program} ${productVersion(start)} (Node.js ${process.version})`;
}
