import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';

/** The gateway's logger: JSON lines on stderr (stdout carries only the {"listening"} line). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { app: 'pmapd-gateway' } }, pino.destination(2));
}

/** Routes Nest's own log calls to pino. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  private text(message: unknown): string {
    return typeof message === 'string' ? message : JSON.stringify(message);
  }
  private ctx(params: unknown[]): { context?: unknown } {
    return params.length > 0 ? { context: params[params.length - 1] } : {};
  }
  /** Nest's own `log` is boot chatter (modules, routes): debug level. */
  log(message: unknown, ...params: unknown[]): void {
    this.logger.debug(this.ctx(params), this.text(message));
  }
  error(message: unknown, ...params: unknown[]): void {
    this.logger.error(this.ctx(params), this.text(message));
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.logger.warn(this.ctx(params), this.text(message));
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.logger.debug(this.ctx(params), this.text(message));
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.logger.trace(this.ctx(params), this.text(message));
  }
}

export const LOGGER = Symbol('LOGGER');
