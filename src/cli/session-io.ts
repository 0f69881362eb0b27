// What exec and attach sessions share on the client: asking the pod's host to open one, control messages, this terminal
// (raw mode, window size, signals), pings that keep the session alive, and stdin carried in order with backpressure.
import { Writable } from 'node:stream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { HyperError } from '../errors.js';
import { execSubject, type PodAddress } from '../events/schemas/subjects.js';
import { CLIENT_SILENCE_MS, EXIT, H, PING_EVERY_MS } from '../exec/protocol.js';
import { write } from './stdio.js';

/** A failure of hyper's own (exit 125), as docker exec reports it. */
export class ExecError extends HyperError {
  constructor(message: string, readonly exitCode: number = EXIT.HYPER) {
    super('exec', message);
  }
}

/**
 * A command's ExecError said as hyper's own error (its code, or `exitCode`, docker's 1 for cp/stats/top); anything else
 * is not one of ours to word and goes on to the CLI's handler.
 */
export function reportExecError(err: unknown, exitCode?: number): void {
  if (!(err instanceof ExecError)) throw err;
  process.stderr.write(`hyper: ${err.message}\n`);
  process.exitCode = exitCode ?? err.exitCode;
}

/** Asks the host that runs the pod to open a session; a refusal comes back as an ExecError with docker's exit code. */
export async function askHost<R extends { ok: boolean }>(nc: NatsConnection, host: string, at: PodAddress, body: object): Promise<R> {
  let reply: R & { code?: number; error?: string };
  try {
    const r = await nc.request(execSubject(host, at), JSON.stringify(body), { timeout: 15_000 });
    reply = JSON.parse(r.string());
  } catch (e) {
    const m = (e as Error).message;
    if (/no responders|503/i.test(m) || /timeout/i.test(m)) throw new ExecError(`host ${host}, which runs pod ${at.pod}, did not answer (${m}): is its hyperd running? hyper hosts shows its lease`);
    throw new ExecError(`the request to pod ${at.pod}'s host failed: ${m}`);
  }
  if (!reply.ok) throw new ExecError(reply.error ?? 'refused', reply.code);
  return reply;
}

export type Control = (kind: string, body?: object) => void;

export function controlSender(nc: NatsConnection, inSubject: string): Control {
  return (kind, body = {}) => {
    const h = natsHeaders();
    h.set(H.KIND, kind);
    nc.publish(inSubject, JSON.stringify(body), { headers: h });
  };
}

/**
 * With a tty: raw mode and the window size now and on every SIGWINCH. Without: Ctrl-C and TERM go to the process (once
 * each; a second one ends this client). Returns what undoes it.
 */
export function terminal(input: NodeJS.ReadableStream, out: Writable, control: Control, tty: boolean): () => void {
  const restore: (() => void)[] = [];
  if (tty) {
    const stdin = input as NodeJS.ReadStream;
    stdin.setRawMode(true);
    restore.push(() => stdin.setRawMode(false));
    const resize = () => {
      const o = out as unknown as NodeJS.WriteStream;
      if (o.rows && o.columns) control('resize', { rows: o.rows, cols: o.columns });
    };
    process.on('SIGWINCH', resize);
    restore.push(() => process.off('SIGWINCH', resize));
  } else {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const n = sig === 'SIGINT' ? 2 : 15;
      const h = () => {
        control('signal', { signal: n });
        process.off(sig, h);
      };
      process.on(sig, h);
      restore.push(() => process.off(sig, h));
    }
  }
  return () => { for (const r of restore.splice(0)) r(); };
}

/** The size of this terminal, for a session that starts on it. */
export function windowOf(out: Writable): { rows?: number; cols?: number } {
  const o = out as unknown as NodeJS.WriteStream;
  return o.isTTY && o.rows && o.columns ? { rows: o.rows, cols: o.columns } : {};
}

/** A ping every few seconds; `onLost` once the host has not answered for as long as it waits for a silent client. */
export function pinger(nc: NatsConnection, inSubject: string, onLost: (why: string) => void, host: string): () => void {
  let lastAnswer = Date.now();
  const t = setInterval(() => {
    const h = natsHeaders();
    h.set(H.KIND, 'ping');
    nc.request(inSubject, '', { headers: h, timeout: PING_EVERY_MS }).then(() => (lastAnswer = Date.now()), () => {
      if (Date.now() - lastAnswer > CLIENT_SILENCE_MS) onLost(`host ${host} stopped answering the session for ${Math.round(CLIENT_SILENCE_MS / 1000)} s`);
    });
  }, PING_EVERY_MS);
  t.unref();
  return () => clearInterval(t);
}

/**
 * Copies stdin to the session: one chunk in flight at a time, each answered once the guest has buffered it, then EOF.
 * `filter` sees each chunk first and may shorten it and stop the copy (detach keys): then no EOF is sent.
 */
export async function pumpStdin(nc: NatsConnection, subject: string, input: NodeJS.ReadableStream, filter?: (b: Buffer) => { data: Buffer; stop: boolean }): Promise<void> {
  const send = async (kind: 'stdin' | 'eof', data: Uint8Array) => {
    const h = natsHeaders();
    h.set(H.KIND, kind);
    for (let attempt = 0; ; attempt++) {
      try {
        const r = JSON.parse((await nc.request(subject, data, { headers: h, timeout: 30_000 })).string()) as { ok: boolean; error?: string };
        if (!r.ok) throw new ExecError(`stdin not taken: ${r.error}`);
        return;
      } catch (e) {
        if (e instanceof ExecError || attempt >= 2) throw e;
      }
    }
  };
  for await (const chunk of input) {
    let b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    let stop = false;
    if (filter) ({ data: b, stop } = filter(b));
    for (let i = 0; i < b.length; i += 256 * 1024) await send('stdin', b.subarray(i, i + 256 * 1024));
    if (stop) return;
  }
  await send('eof', new Uint8Array(0));
}

/** Says what went wrong with stdin without ending the session: the output still comes. */
export function reportStdin(err: Writable, what: string): (e: unknown) => void {
  return (e) => void write(err, `hyper: ${what} stdin: ${(e as Error).message}\n`);
}

/** A guest tool's stderr, kept to explain a failure (its first lines are enough). */
export class Collect extends Writable {
  text = '';
  override _write(b: Buffer, _enc: BufferEncoding, cb: () => void): void {
    if (this.text.length < 4000) this.text += b.toString();
    cb();
  }
}
