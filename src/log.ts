// The process logger: pino, pretty on a TTY, JSON lines otherwise; level from HYPER_LOG (default info).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, opts: { level?: string; destination?: number } = {}): Logger {
  const level = opts.level ?? process.env.HYPER_LOG ?? 'info';
  const fd = opts.destination ?? 2;
  const pretty = process.env.HYPER_LOG_FORMAT === 'pretty' || (process.env.HYPER_LOG_FORMAT !== 'json' && Boolean(fd === 2 ? process.stderr.isTTY : process.stdout.isTTY));
  if (pretty) {
    return pino({ name, level, transport: { target: 'pino-pretty', options: { destination: fd, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ name, level }, pino.destination({ fd, sync: true }));
}
