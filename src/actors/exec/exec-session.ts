// One `hyper exec` session on the host that runs the pod: starts the process in the guest, forwards its output to the
// client and the client's stdin to it, and records who ran what (exec.started / exec.failed / exec.exited). Output is
// acknowledged to the guest only once the client acknowledged it, so a slow reader slows the process, never the host, and
// what the client has not acknowledged (at most the guest's window per stream) is kept here to be sent again.
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { ContainerLaunch, GuestChannel } from '../../drivers/driver.js';
import { AgentError } from '../../guest/agent-client.js';
import type { Logger } from '../../log.js';
import type { SessionFacts } from './session-facts.js';
import { CLIENT_SILENCE_MS, Control, EXIT, H, execProcess, type ExecReply, type ExecRequest, type ExitMessage } from '../../exec/protocol.js';
import { sessionSubject } from '../../events/schemas/subjects.js';

const SIGKILL = 9;
const ENOENT = 2;
const EACCES = 13;

export interface ExecSessionDeps {
  nc: NatsConnection;
  channel: GuestChannel;
  /** What the session records (exec.* or copy.*), by the requester, with ids keyed by the session. */
  facts: SessionFacts;
  /** The command names a tool built into the agent (hyper cp's tar-out / tar-in), not a program of the image. */
  builtin?: boolean;
  tenant: string;
  container: ContainerLaunch;
  log: Logger;
  /** Called once the session is over (the process ended and the client has it all, or the client went away). */
  onEnd: () => void;
}

interface Held { offset: number; data: Uint8Array }

export class ExecSession {
  readonly process: string;
  private readonly out: string;
  private sub: Subscription | null = null;
  /** Per stream: bytes received from the guest (end offset), acknowledged by the client, and those kept until then. */
  private readonly received = { 1: 0, 2: 0 };
  private readonly acked = { 1: 0, 2: 0 };
  private readonly held: Record<1 | 2, Held[]> = { 1: [], 2: [] };
  private exit: ExitMessage | null = null;
  private lastHeard = Date.now();
  private readonly timer: NodeJS.Timeout;
  private ended = false;
  /** stdin requests are applied one at a time, in order */
  private inChain: Promise<void> = Promise.resolve();

  constructor(
    private readonly req: ExecRequest,
    private readonly d: ExecSessionDeps,
  ) {
    this.process = execProcess(req.session);
    this.out = sessionSubject(d.tenant, req.session, 'out');
    this.timer = setInterval(() => this.checkClient(), 5_000);
    this.timer.unref();
  }

  /** Starts the process; the reply tells the client its pid, or why it could not run (with docker's exit code). */
  async start(): Promise<ExecReply> {
    this.sub = this.d.nc.subscribe(sessionSubject(this.d.tenant, this.req.session, 'in'), { callback: (err, m) => { if (!err) this.onIn(m); } });
    try {
      const { pid } = await this.d.channel.exec({ container: this.d.container, process: this.process, command: this.req.command, env: this.req.env, workdir: this.req.workdir, user: this.req.user, tty: this.req.tty, rows: this.req.rows, cols: this.req.cols, builtin: this.d.builtin });
      if (!this.req.interactive) await this.d.channel.stdin(this.process, new Uint8Array(0)).catch(() => {});
      this.d.facts.started(pid);
      return { ok: true, pid, container: this.d.container.name };
    } catch (err) {
      const errno = err instanceof AgentError ? err.errno : undefined;
      const code = errno === ENOENT ? EXIT.NOT_FOUND : errno === EACCES || err instanceof AgentError ? EXIT.CANNOT_RUN : EXIT.HYPER;
      const reason = (err as Error).message.replace(/^guest agent refused exec [^:]*: /, '');
      this.d.facts.failed(reason);
      this.end();
      const what = this.d.builtin ? 'cannot copy' : `cannot run ${JSON.stringify(this.req.command.join(' '))}`;
      return { ok: false, code, error: `${what} in container ${this.d.container.name}: ${reason}` };
    }
  }

  /** Output of the process from the guest (its offset says where; bytes already received are dropped). */
  output(stream: 1 | 2, data: Uint8Array, offset: number): void {
    const end = this.received[stream];
    if (offset + data.length <= end) return;
    const fresh = offset < end ? data.subarray(end - offset) : data;
    const at = Math.max(offset, end);
    this.received[stream] = at + fresh.length;
    this.held[stream].push({ offset: at, data: fresh });
    this.send(stream, at, fresh);
  }

  /** The process ended (after all its output): the client is told, with the ends it must have read up to. */
  exited(exitCode: number, reason?: string): void {
    if (this.exit) return;
    this.exit = { exitCode, out: this.received[1], err: this.received[2], ...(reason ? { reason } : {}) };
    this.d.facts.exited(exitCode, reason);
    void this.d.channel.release(this.process).catch((err) => this.d.log.warn({ err, process: this.process }, 'the guest did not release an exec\'d process'));
    this.sendExit();
    this.maybeEnd();
  }

  /** The daemon stops or the VM went away: the client is told, the process (if any) is left to the guest. */
  abort(reason: string): void {
    if (!this.exit) this.exited(EXIT.HYPER, reason);
    this.end();
  }

  private send(stream: 1 | 2, offset: number, data: Uint8Array): void {
    const h = natsHeaders();
    h.set(H.KIND, 'out');
    h.set(H.STREAM, String(stream));
    h.set(H.OFFSET, String(offset));
    this.d.nc.publish(this.out, data, { headers: h });
  }

  private sendExit(): void {
    const h = natsHeaders();
    h.set(H.KIND, 'exit');
    this.d.nc.publish(this.out, JSON.stringify(this.exit), { headers: h });
  }

  private onIn(m: Msg): void {
    this.lastHeard = Date.now();
    const kind = m.headers?.get(H.KIND) ?? '';
    const reply = (r: object) => m.reply && m.respond(JSON.stringify(r));
    if (kind === 'ping') return void reply({ ok: true, exited: this.exit !== null });
    if (kind === 'stdin' || kind === 'eof') {
      const data = kind === 'eof' ? new Uint8Array(0) : m.data;
      this.inChain = this.inChain.then(() => this.toStdin(data)).then(() => void reply({ ok: true }), (err) => void reply({ ok: false, error: (err as Error).message }));
      return;
    }
    let c: Control;
    try {
      c = Control.parse({ kind, ...JSON.parse(m.string() || '{}') });
    } catch (err) {
      // a malformed message from a client is its problem, never the daemon's
      return void this.d.log.warn({ process: this.process, kind, err: (err as Error).message }, 'ignored a malformed exec session message');
    }
    switch (c.kind) {
      case 'ack':
        for (const s of [1, 2] as const) {
          const to = Math.min(s === 1 ? c.out : c.err, this.received[s]);
          if (to <= this.acked[s]) continue;
          this.acked[s] = to;
          const h = this.held[s];
          while (h.length && h[0].offset + h[0].data.length <= to) h.shift();
          this.d.channel.ack(this.process, s, to);
        }
        return this.maybeEnd();
      case 'resend':
        for (const x of this.held[c.stream]) if (x.offset + x.data.length > c.from) this.send(c.stream, x.offset, x.data);
        if (this.exit) this.sendExit();
        return;
      case 'resize':
        return void this.d.channel.resize(this.process, c.rows, c.cols).catch(() => {});
      case 'signal':
        return void this.d.channel.signalProcess(this.process, c.signal).catch(() => {});
    }
  }

  /** Into the guest's stdin buffer, waiting while it is full (the process reads slower than the client writes). */
  private async toStdin(data: Uint8Array): Promise<void> {
    for (let wait = 2; !this.exit; wait = Math.min(100, wait * 2)) {
      if (await this.d.channel.stdin(this.process, data)) return;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  private maybeEnd(): void {
    if (this.exit && this.acked[1] >= this.exit.out && this.acked[2] >= this.exit.err) this.end();
  }

  private checkClient(): void {
    if (Date.now() - this.lastHeard < CLIENT_SILENCE_MS) return;
    if (!this.exit) {
      this.d.log.warn({ process: this.process }, `exec session ${this.req.session}: the client went away; killing its process`);
      void this.d.channel.signalProcess(this.process, SIGKILL).catch(() => {});
      // its exit, when the guest reports it, is recorded as usual; the reason is kept if it never comes
      setTimeout(() => this.exited(137, 'the client went away'), 5_000).unref();
      this.lastHeard = Date.now();
      return;
    }
    this.end();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    void this.sub?.drain().catch(() => {});
    this.held[1] = [];
    this.held[2] = [];
    this.d.onEnd();
  }
}
