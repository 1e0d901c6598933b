/**
 * Keeps stderr JSON-only: Node's one-time DEP0123 warning ("Setting the TLS ServerName to an IP
 * address ...", printed when an agent is reached over TLS by its IP address, as DNS discovery
 * does) goes to the log at debug level instead of a plain-text line. Other warnings are untouched.
 */
import type { Logger } from 'pino';

export function quietIpServernameWarning(logger: Logger): void {
  const original = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = (warning: string | Error, ...rest: unknown[]): void => {
    const code =
      typeof rest[1] === 'string' ? rest[1] : (rest[0] as { code?: unknown } | undefined)?.code;
    if (code === 'DEP0123') {
      logger.debug({ warning: String(warning) }, 'TLS to an agent by IP address (SNI not sent)');
      return;
    }
    original(warning, ...rest);
  };
}
