import { pino, type Logger } from 'pino';

export type { Logger };

/** One logger per service; the name shows which process wrote a line in the all-in-one output. */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({ name, level, base: { svc: name, pid: process.pid } });
}

export const silentLogger: Logger = pino({ level: 'silent' });
