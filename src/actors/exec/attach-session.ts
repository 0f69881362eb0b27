// One attach session on the host that runs the pod: carries a client's stdin, window size and signals to a container's
// main process (whichever run of it is current: a restarted container keeps its attached clients), and records who
// attached and when they left (attach.started / attach.ended). Output is not here: clients read it from the log stream.
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { GuestChannel } from '../../drivers/driver.js';
import type { Logger } from '../../log.js';
import type { Emit } from '../emit.js';
import { CLIENT_SILENCE_MS, Control, H, type AttachRequest } from '../../exec/protocol.js';
import { sessionSubject } from '../../events/schemas/subjects.js';

export interface AttachSessionDeps {
  nc: NatsConnection;
  channel: GuestChannel;
  emit: Emit;
  tenant: string;
  /** The container attached to (its main process has the container's name in the guest). */
  container: string;
  /** Whether the container keeps stdin open (created with -i): otherwise stdin from the client is refused. */
  stdin: boolean;
  log: Logger;
  onEnd: () => void;
}

export class AttachSession {
  private sub: Subscription | null = null;
  private lastHeard = Date.now();
  private readonly timer: NodeJS.Timeout;
  private ended = false;
  private inChain: Promise<void> = Promise.resolve();

  constructor(
    private readonly req: AttachRequest,
    private readonly d: AttachSessionDeps,
  ) {
    this.timer = setInterval(() => this.checkClient(), 5_000);
    this.timer.unref();
  }

  get session(): string {
    return this.req.session;
  }

  start(): void {
    this.sub = this.d.nc.subscribe(sessionSubject(this.d.tenant, this.req.session, 'in'), { callback: (err, m) => { if (!err) this.onIn(m); } });
    if (this.req.rows && this.req.cols) void this.d.channel.resize(this.d.container, this.req.rows, this.req.cols).catch(() => {});
    void this.d.emit('attach.started', { session: this.req.session, container: this.d.container, stdin: this.req.stdin && this.d.stdin }, 'attach.started');
  }

  /** The daemon stops, or the pod's VM is no longer followed here. */
  abort(reason: string): void {
    this.end(reason);
  }

  private onIn(m: Msg): void {
    this.lastHeard = Date.now();
    const kind = m.headers?.get(H.KIND) ?? '';
    const reply = (r: object) => m.reply && m.respond(JSON.stringify(r));
    if (kind === 'ping') return void reply({ ok: true });
    if (kind === 'detach') return this.end('the client detached');
    if (kind === 'stdin' || kind === 'eof') {
      if (!this.d.stdin) return void reply({ ok: false, error: `container ${this.d.container} was not created with -i: its stdin is closed` });
      // EOF closes the container's stdin only for the client that owns it (run -i); another attached client just stops typing
      if (kind === 'eof' && !this.req.stdinOnce) return void reply({ ok: true });
      const data = kind === 'eof' ? new Uint8Array(0) : m.data;
      this.inChain = this.inChain.then(() => this.toStdin(data)).then(() => void reply({ ok: true }), (err) => void reply({ ok: false, error: (err as Error).message }));
      return;
    }
    let c: Control;
    try {
      c = Control.parse({ kind, ...JSON.parse(m.string() || '{}') });
    } catch (err) {
      return void this.d.log.warn({ session: this.req.session, kind, err: (err as Error).message }, 'ignored a malformed attach session message');
    }
    if (c.kind === 'resize') void this.d.channel.resize(this.d.container, c.rows, c.cols).catch(() => {});
    else if (c.kind === 'signal') void this.d.channel.signal(this.d.container, c.signal).catch(() => {});
  }

  /** Into the guest's stdin buffer for the container, waiting while it is full. */
  private async toStdin(data: Uint8Array): Promise<void> {
    for (let wait = 2; !this.ended; wait = Math.min(100, wait * 2)) {
      if (await this.d.channel.stdin(this.d.container, data)) return;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  private checkClient(): void {
    if (Date.now() - this.lastHeard >= CLIENT_SILENCE_MS) this.end('the client went away');
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    void this.sub?.drain().catch(() => {});
    void this.d.emit('attach.ended', { session: this.req.session, reason }, 'attach.ended');
    this.d.onEnd();
  }
}
