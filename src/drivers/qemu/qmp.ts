// A small QMP (QEMU Machine Protocol) client over a unix socket: greeting, capabilities, commands matched by id, events.
import { connect, type Socket } from 'node:net';
import { DriverError } from '../../errors.js';

/** The QMP conversation failed: could not connect, no greeting, the socket closed, or no answer in time. */
export class QmpError extends DriverError {
  constructor(
    code: string,
    readonly socketPath: string,
    readonly command: string | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** QEMU answered a command with an error: `qemuClass` is QMP's error class (CommandNotFound, GenericError, DeviceNotFound…). */
export class QmpCommandError extends QmpError {
  constructor(socketPath: string, command: string, readonly qemuClass: string, readonly desc: string) {
    super('qmp-command', socketPath, command, `QEMU refused QMP command ${command} on ${socketPath}: ${qemuClass}: ${desc}`);
  }
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

interface Pending { command: string; resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout | null }
type Listener = (e: QmpEvent) => void;

export interface QmpConnectOptions {
  /** Keep retrying the connection (the socket may not exist yet) and the handshake until then; default 5 s. */
  timeoutMs?: number;
}

export class QmpClient {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private closedWith: QmpError | null = null;
  private greeted: ((g: unknown) => void) | null = null;
  /** QEMU's version from the greeting, e.g. { qemu: { major: 7, minor: 2, micro: 22 } }. */
  version: unknown = null;
  /** Resolves when the socket closes (QEMU exited, or close() was called). */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket, readonly socketPath: string) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => {}); // 'close' follows and reports it
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.fail(new QmpError('qmp-closed', socketPath, null, `the QMP socket ${socketPath} closed (QEMU exited?)`));
      resolve();
    }));
  }

  static async connect(socketPath: string, o: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = o.timeoutMs ?? 5_000;
    const deadline = Date.now() + timeoutMs;
    let lastError: Error | null = null;
    for (;;) {
      const socket = await new Promise<Socket | Error>((resolve) => {
        const s = connect(socketPath);
        s.once('connect', () => resolve(s));
        s.once('error', (err) => resolve(err));
      });
      if (!(socket instanceof Error)) {
        const qmp = new QmpClient(socket, socketPath);
        try {
          await qmp.handshake(Math.max(1, deadline - Date.now()));
          return qmp;
        } catch (err) {
          qmp.close();
          throw err;
        }
      }
      lastError = socket;
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new QmpError('qmp-connect', socketPath, null, `could not connect to QMP socket ${socketPath} within ${timeoutMs} ms: ${lastError?.message} — is QEMU running with -qmp unix:${socketPath},server=on,wait=off?`, { cause: lastError });
  }

  private async handshake(timeoutMs: number): Promise<void> {
    // QEMU speaks first ({"QMP": {"version": …, "capabilities": […]}}) and accepts only qmp_capabilities until it is sent
    const greeting = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new QmpError('qmp-timeout', this.socketPath, null, `no QMP greeting on ${this.socketPath} within ${timeoutMs} ms`)), timeoutMs);
      this.greeted = (g) => { clearTimeout(timer); resolve(g); };
      void this.closed.then(() => { clearTimeout(timer); reject(this.closedWith); });
    });
    const g = (await greeting) as { QMP?: { version?: unknown } };
    this.version = g.QMP?.version ?? null;
    await this.execute('qmp_capabilities', undefined, timeoutMs);
  }

  /** Runs a command; resolves with its `return` value, rejects with QmpCommandError (QEMU said no) or QmpError (no answer). */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = `h${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError('qmp-timeout', this.socketPath, command, `QEMU did not answer QMP command ${command} on ${this.socketPath} within ${timeoutMs} ms`));
      }, timeoutMs) : null;
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.write(JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id }) + '\n');
    });
  }

  /** Listens for an event by name (SHUTDOWN, STOP, RESUME, POWERDOWN…) or '*' for all; returns the unsubscribe function. */
  on(event: string, listener: Listener): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** The next event with this name, or a QmpError after timeoutMs. */
  nextEvent(event: string, timeoutMs = 10_000): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new QmpError('qmp-timeout', this.socketPath, null, `no QMP ${event} event on ${this.socketPath} within ${timeoutMs} ms`)); }, timeoutMs);
      const off = this.on(event, (e) => { clearTimeout(timer); off(); resolve(e); });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch (err) {
        // QMP is line-delimited JSON; anything else means we are not talking to QMP
        this.fail(new QmpError('qmp-protocol', this.socketPath, null, `malformed QMP message on ${this.socketPath}: ${line.slice(0, 200)}`, { cause: err }));
        this.socket.destroy();
        return;
      }
      this.dispatch(msg);
    }
  }

  private dispatch(msg: Record<string, unknown>): void {
    if ('QMP' in msg) return this.greeted?.(msg);
    if (typeof msg.event === 'string') {
      const e = msg as unknown as QmpEvent;
      for (const key of [e.event, '*']) for (const l of this.listeners.get(key) ?? []) l(e);
      return;
    }
    const id = typeof msg.id === 'string' ? msg.id : null;
    const p = id ? this.pending.get(id) : undefined;
    if (!p || !id) return; // an answer to a command that already timed out
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    const err = msg.error as { class?: string; desc?: string } | undefined;
    if (err) p.reject(new QmpCommandError(this.socketPath, p.command, err.class ?? 'unknown', err.desc ?? '(no description)'));
    else p.resolve(msg.return);
  }

  private fail(err: QmpError): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new QmpError(err.code, this.socketPath, p.command, `QMP command ${p.command} got no answer: ${err.message}`, { cause: err }));
    }
    this.pending.clear();
  }
}
