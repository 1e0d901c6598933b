/**
 * `node dist/apps/gateway/src/main.js hash-token [TOKEN]`: prints the SHA-256 to put in
 * auth.tokens[].sha256. Without TOKEN the token is read from stdin (keeps it out of `ps` and the
 * shell history); `--generate` makes a random token and prints both.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hashToken } from './tokens';

export function hashTokenCommand(args: string[]): number {
  if (args[0] === '--help' || args[0] === '-h') {
    process.stdout.write(
      'usage: main.js hash-token [TOKEN | --generate]\n  prints sha256(TOKEN) for auth.tokens[].sha256; TOKEN is read from stdin when absent\n',
    );
    return 0;
  }
  if (args[0] === '--generate') {
    const token = randomBytes(32).toString('base64url');
    process.stdout.write(JSON.stringify({ token, sha256: hashToken(token) }) + '\n');
    return 0;
  }
  const token = args[0] ?? readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  if (token.length === 0 || /\s/.test(token)) {
    process.stderr.write('hash-token: the token must be non-empty and contain no whitespace\n');
    return 2;
  }
  process.stdout.write(hashToken(token) + '\n');
  return 0;
}
