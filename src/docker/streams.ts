// What the Docker API's streaming handlers share: the 101 answer of a hijacked connection naming its stream type, the
// request body read off that connection before the client's own bytes, the connection's input as a stream, a window size
// as docker gives it, the end of a session's output, and a sink for output nobody reads.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';

/** The answer that hands the connection over: raw bytes with a tty, Docker's multiplexed frames without. */
export function upgraded(tty: boolean): string {
  return `HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.${tty ? 'raw' : 'multiplexed'}-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`;
}

/**
 * A hijacked request's body (its Content-Length, at most 1 MB) read off the connection, and whatever came after it: the
 * first bytes of the client's stream.
 */
export async function splitBody(req: IncomingMessage, socket: Socket, head: Buffer): Promise<{ body: Buffer; rest: Buffer }> {
  const want = Math.min(Number(req.headers['content-length']) || 0, 1 << 20);
  let got = head;
  while (got.length < want) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const done = (b: Buffer | null) => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.pause();
        resolve(b);
      };
      const onData = (b: Buffer) => done(b);
      const onEnd = () => done(null);
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.resume();
    });
    if (!chunk) break;
    got = Buffer.concat([got, chunk]);
  }
  return { body: got.subarray(0, want), rest: got.subarray(want) };
}

/** The connection's input from `head` (what came with the request) on; the client's half-close ends it. */
export function connectionInput(socket: Socket, head: Buffer): PassThrough {
  const input = new PassThrough();
  if (head.length) input.write(head);
  socket.pipe(input);
  return input;
}

/** docker's h and w (or ConsoleSize's [h, w]) as a window size, or null if either is missing or not above 0. */
export function windowSize(h: number, w: number): { rows: number; cols: number } | null {
  return h > 0 && w > 0 ? { rows: Math.min(h, 10_000), cols: Math.min(w, 10_000) } : null;
}

/**
 * Ends a writable and waits until every chunk written to it went through its write: a session's last chunks may still
 * be queued behind a slow one, and ending the connection under them would drop them.
 */
export function ended(w: Writable): Promise<void> {
  return new Promise((resolve) => w.end(() => resolve()));
}

/** Where output nobody reads goes (docker exec -d, a copy's stdout into the guest). */
export function discard(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}
