// The client side of an exec session: asks the pod's host to run a command, then copies the process's output to this
// terminal (stdout and stderr apart; each byte once, in order, acknowledged only once written, so a slow reader slows the
// process) and this terminal's stdin to it; with a tty, raw mode and the window size. Resolves with the exit code.
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { HyperError } from '../errors.js';
import { execSubject, sessionSubject, type PodAddress } from '../events/schemas/subjects.js';
import { ACK_EVERY, CLIENT_SILENCE_MS, EXIT, ExitMessage, H, PING_EVERY_MS, type ExecReply, type ExecRequest } from '../exec/protocol.js';
import { write } from './stdio.js';

export interface ExecOptions {
  host: string;
  at: PodAddress;
  tenant: string;
  request: Omit<ExecRequest, 'session'>;
  /** Where output goes and stdin comes from (the process's own, by default). */
  stdout?: Writable;
  stderr?: Writable;
  stdin?: NodeJS.ReadableStream;
}

/** A failure of hyper's own (exit 125), as docker exec reports it. */
export class ExecError extends HyperError {
  constructor(message: string, readonly exitCode: number = EXIT.HYPER) {
    super('exec', message);
  }
}

export async function execSession(nc: NatsConnection, o: ExecOptions): Promise<number> {
  const session = randomBytes(12).toString('base64url');
  const out: Writable = o.stdout ?? process.stdout;
  const err: Writable = o.stderr ?? process.stderr;
  const input = o.stdin ?? process.stdin;
  const inSubject = sessionSubject(o.tenant, session, 'in');
  const sub = nc.subscribe(sessionSubject(o.tenant, session, 'out'));
  const control = (kind: string, body: object = {}) => {
    const h = natsHeaders();
    h.set(H.KIND, kind);
    nc.publish(inSubject, JSON.stringify(body), { headers: h });
  };
  let reply: ExecReply;
  try {
    const r = await nc.request(execSubject(o.host, o.at), JSON.stringify({ ...o.request, session }), { timeout: 15_000 });
    reply = JSON.parse(r.string()) as ExecReply;
  } catch (e) {
    sub.unsubscribe();
    const m = (e as Error).message;
    if (/no responders|503/i.test(m) || /timeout/i.test(m)) throw new ExecError(`host ${o.host}, which runs pod ${o.at.pod}, did not answer the exec request (${m}): is its hyperd running? hyper hosts shows its lease`);
    throw new ExecError(`exec into pod ${o.at.pod} failed: ${m}`);
  }
  if (!reply.ok) {
    sub.unsubscribe();
    throw new ExecError(reply.error, reply.code);
  }

  const tty = o.request.tty && (input as NodeJS.ReadStream).isTTY === true;
  const restore: (() => void)[] = [];
  if (tty) {
    const stdin = input as NodeJS.ReadStream;
    stdin.setRawMode(true);
    restore.push(() => stdin.setRawMode(false));
    const resize = () => {
      const o2 = out as unknown as NodeJS.WriteStream;
      if (o2.rows && o2.columns) control('resize', { rows: o2.rows, cols: o2.columns });
    };
    process.on('SIGWINCH', resize);
    restore.push(() => process.off('SIGWINCH', resize));
  } else {
    // without a tty, Ctrl-C and a TERM reach the process (once; a second one ends this client)
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

  // is the host still there? a ping every few seconds; silence for as long as the host waits for us ends the session
  let lastAnswer = Date.now();
  let lost: string | null = null;
  const pinger = setInterval(() => {
    const h = natsHeaders();
    h.set(H.KIND, 'ping');
    nc.request(inSubject, '', { headers: h, timeout: PING_EVERY_MS }).then(() => (lastAnswer = Date.now()), () => {
      if (Date.now() - lastAnswer > CLIENT_SILENCE_MS) {
        lost = `host ${o.host} stopped answering the exec session for ${Math.round(CLIENT_SILENCE_MS / 1000)} s`;
        sub.unsubscribe();
      }
    });
  }, PING_EVERY_MS);
  pinger.unref();

  // stdin: one chunk in flight at a time, each answered once the guest has buffered it
  // a stdin the guest stopped taking (the process exited, or closed it) is said, not hidden; the output still comes
  if (o.request.interactive) pumpStdin(nc, inSubject, input).catch((e) => void write(err, `hyper: exec stdin: ${(e as Error).message}\n`));

  const got = { 1: 0, 2: 0 };
  let acked = { 1: 0, 2: 0 };
  const ack = () => {
    if (got[1] === acked[1] && got[2] === acked[2]) return;
    acked = { ...got };
    control('ack', { out: got[1], err: got[2] });
  };
  const acker = setInterval(ack, 100);
  acker.unref();
  let exit: ExitMessage | null = null;
  try {
    for await (const m of sub) {
      const kind = m.headers?.get(H.KIND);
      if (kind === 'out') {
        const stream = m.headers!.get(H.STREAM) === '2' ? 2 : 1;
        const offset = Number(m.headers!.get(H.OFFSET));
        const end = offset + m.data.length;
        if (!Number.isFinite(offset) || end <= got[stream]) continue;
        if (offset > got[stream]) {
          // a message NATS did not deliver: ask again for everything from where we are
          control('resend', { stream, from: got[stream] });
          continue;
        }
        await write(stream === 2 && !tty ? err : out, m.data.subarray(got[stream] - offset));
        got[stream] = end;
        if (got[stream] - acked[stream] >= ACK_EVERY) ack();
      } else if (kind === 'exit') {
        const r = ExitMessage.safeParse(JSON.parse(m.string()));
        if (r.success) exit = r.data;
      }
      if (exit) {
        if (got[1] >= exit.out && got[2] >= exit.err) break;
        for (const s of [1, 2] as const) if (got[s] < (s === 1 ? exit.out : exit.err)) control('resend', { stream: s, from: got[s] });
      }
    }
  } finally {
    clearInterval(pinger);
    clearInterval(acker);
    ack();
    for (const r of restore) r();
    sub.unsubscribe();
    (input as NodeJS.ReadStream).pause?.();
  }
  if (!exit) throw new ExecError(lost ?? `the exec session on pod ${o.at.pod} ended without an exit code`);
  if (exit.reason) await write(err, `hyper: ${exit.reason}\n`);
  return exit.exitCode;
}

async function pumpStdin(nc: NatsConnection, subject: string, input: NodeJS.ReadableStream): Promise<void> {
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
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    for (let i = 0; i < b.length; i += 256 * 1024) await send('stdin', b.subarray(i, i + 256 * 1024));
  }
  await send('eof', new Uint8Array(0));
}
