// The client side of an exec session: asks the pod's host to run a command, then copies the process's output to this
// terminal (stdout and stderr apart; each byte once, in order, acknowledged only once written, so a slow reader slows the
// process) and this terminal's stdin to it; with a tty, raw mode and the window size. Resolves with the exit code.
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { sessionSubject, type PodAddress } from '../events/schemas/subjects.js';
import { ACK_EVERY, ExitMessage, H, type CopyRequest, type ExecReply, type ExecRequest } from '../exec/protocol.js';
import { write } from './stdio.js';
import { ExecError, askHost, controlSender, pinger, pumpStdin, reportStdin, terminal, type Control } from './session-io.js';

export { ExecError };

export interface ExecOptions {
  host: string;
  at: PodAddress;
  tenant: string;
  /** A command to run, or a copy (hyper cp: the agent's tar tools, stdout a tar stream out, stdin one in). */
  request: Omit<ExecRequest, 'session'> | Omit<CopyRequest, 'session'>;
  /** Where output goes and stdin comes from (the process's own, by default). */
  stdout?: Writable;
  stderr?: Writable;
  stdin?: NodeJS.ReadableStream;
  /**
   * The terminal is somebody else's (the Docker API's hijacked connection): no raw mode or signal handlers in this process;
   * `onControl` gets what sends resizes and signals to the session.
   */
  remote?: { tty: boolean; onControl(control: Control): void };
}

export async function execSession(nc: NatsConnection, o: ExecOptions): Promise<number> {
  const session = randomBytes(12).toString('base64url');
  const out: Writable = o.stdout ?? process.stdout;
  const err: Writable = o.stderr ?? process.stderr;
  const input = o.stdin ?? process.stdin;
  const inSubject = sessionSubject(o.tenant, session, 'in');
  const sub = nc.subscribe(sessionSubject(o.tenant, session, 'out'));
  const control = controlSender(nc, inSubject);
  try {
    await askHost<Extract<ExecReply, { ok: true }>>(nc, o.host, o.at, { ...o.request, session });
  } catch (e) {
    sub.unsubscribe();
    throw e;
  }

  const r = o.request;
  const copy = 'kind' in r;
  const interactive = copy ? r.direction === 'to' : r.interactive;
  const tty = !copy && r.tty && (o.remote ? o.remote.tty : (input as NodeJS.ReadStream).isTTY === true);
  const restore = o.remote ? () => {} : terminal(input, out, control, tty);
  o.remote?.onControl(control);
  // is the host still there? silence for as long as the host waits for us ends the session
  let lost: string | null = null;
  const stopPinger = pinger(nc, inSubject, (why) => {
    lost = why;
    sub.unsubscribe();
  }, o.host);
  // a stdin the guest stopped taking (the process exited, or closed it) is said, not hidden; the output still comes
  // a copy's tool may stop reading once the archive ended (a local tar pads it) or fail early: its exit code tells; only a
  // stdin that broke for another reason is said, and ends the copy (the tool would wait for the rest forever)
  let over = false;
  const copyStdin = (e: unknown) => {
    if (over || /is closed/.test((e as Error).message)) return;
    reportStdin(err, 'cp')(e);
    control('signal', { signal: 9 });
  };
  if (interactive) pumpStdin(nc, inSubject, input).catch(copy ? copyStdin : reportStdin(err, 'exec'));

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
    over = true;
    stopPinger();
    clearInterval(acker);
    ack();
    restore();
    sub.unsubscribe();
    (input as NodeJS.ReadStream).pause?.();
  }
  if (!exit) throw new ExecError(lost ?? `the exec session on pod ${o.at.pod} ended without an exit code`);
  if (exit.reason) await write(err, `hyper: ${exit.reason}\n`);
  return exit.exitCode;
}
