import * as path from 'path';

/** <repo root>/../shared/fixtures: the shared golden data (read-only). */
export const FIXTURES_ROOT = path.join(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  '..',
  'shared',
  'fixtures',
);

/** A path under the shared fixtures, e.g. fixturePath('procps-4.0.2', 't_x.txt'). */
export function fixturePath(...parts: string[]): string {
  return path.join(FIXTURES_ROOT, ...parts);
}
