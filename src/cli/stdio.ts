// The CLI's standard streams as Unix tools treat them: writes that wait for a slow reader, every byte flushed before the
// process exits, and a quiet exit when the reader goes away (`hyper logs POD | head`).
import type { Writable } from 'node:stream';

let closing = false;

/** A reader that closed its end (EPIPE) ends the command quietly, as `head` expects of a writer; other errors are real. */
export function guardPipes(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
        closing = true;
        process.exit(0);
      }
      throw err;
    });
  }
}

/** Writes `data` and, if the stream's buffer is full, waits until the reader has taken it: a slow reader slows the writer. */
export function write(s: Writable, data: Uint8Array | string): Promise<void> | void {
  if (closing || s.write(data)) return;
  return new Promise((resolve) => {
    const done = () => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.once('drain', done);
    s.once('close', done);
  });
}

/** Waits until everything written to a stream has been handed to the OS (pipes are asynchronous in Node on POSIX). */
function flushed(s: Writable): Promise<void> {
  if (closing || s.writableLength === 0 || s.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    s.write('', () => resolve());
    s.once('close', () => resolve());
  });
}

/** Exits with `code` once stdout and stderr are flushed (process.exit alone drops what a pipe has not taken yet). */
export async function exitFlushed(code: number): Promise<never> {
  await Promise.race([Promise.all([flushed(process.stdout), flushed(process.stderr)]), new Promise((r) => setTimeout(r, 30_000).unref())]);
  process.exit(code);
}
