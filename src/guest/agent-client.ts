// The host's client for the guest agent: requests with replies by id, output and exit events, flow-control credit, readiness.
import type { Readable, Writable } from 'node:stream';
import { HyperError } from '../errors.js';
import { decodeAgentMessage, type AgentMessage } from './messages.js';
import { AGENT_ERROR, encodeFrame, FrameReader, MSG, ProtocolError, type Fields } from './wire.js';

/** The agent answered a request with an error. */
export class AgentError extends HyperError {
  constructor(
    readonly request: string,
    readonly agentCode: number,
    message: string,
    readonly errno?: number,
  ) {
    const name = Object.entries(AGENT_ERROR).find(([, v]) => v === agentCode)?.[0] ?? String(agentCode);
    super(`agent-${name.toLowerCase()}`, `guest agent refused ${request}: ${message}`);
  }
}

type Ok = Extract<AgentMessage, { kind: 'ok' }>;
interface Pending { resolve(m: Ok): void; reject(e: Error): void; what: string; timer: NodeJS.Timeout | null }

export interface ProcessSpec {
  args: string[];
  env?: string[];
  cwd?: string;
  /** "user[:group]", names resolved in the container's /etc/passwd and /etc/group (or uid/gid). */
  user?: string;
  uid?: number;
  gid?: number;
  tty?: boolean;
  rows?: number;
  cols?: number;
}

export interface RootfsSpec { kind: '9p' | 'block' | 'host'; source?: string; fstype?: string }

export class AgentClient {
  private readonly reader = new FrameReader();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed: Error | null = null;
  private readonly outputListeners = new Set<(process: string, stream: 1 | 2, data: Buffer) => void>();
  private readonly exitListeners = new Set<(process: string, code: number) => void>();
  private readonly exits = new Map<string, number>();
  private readonly exitWaiters = new Map<string, ((code: number) => void)[]>();
  ready: { version: number; build?: string } | null = null;
  private readyWaiters: ((version: number) => void)[] = [];

  constructor(
    input: Readable,
    private readonly output: Writable,
    private readonly onFatal: (err: Error) => void = () => {},
  ) {
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    input.on('close', () => this.fail(new HyperError('agent-gone', 'the guest agent channel closed')));
    input.on('error', (err) => this.fail(err));
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      for (const frame of this.reader.push(chunk)) this.dispatch(decodeAgentMessage(frame));
    } catch (err) {
      // a malformed stream cannot be resynchronised: drop the channel, never the host
      if (err instanceof ProtocolError) return this.fail(err);
      throw err;
    }
  }

  private dispatch(m: AgentMessage): void {
    switch (m.kind) {
      case 'ready':
        this.ready = { version: m.version, build: m.build };
        for (const w of this.readyWaiters) w(m.version);
        this.readyWaiters = [];
        return;
      case 'output':
        for (const l of this.outputListeners) l(m.process, m.stream, m.data);
        this.send(MSG.WINDOW, { PROCESS: m.process, BYTES: m.data.length }, 'window').catch(() => {});
        return;
      case 'exit':
        this.exits.set(m.process, m.exitCode);
        for (const l of this.exitListeners) l(m.process, m.exitCode);
        for (const w of this.exitWaiters.get(m.process) ?? []) w(m.exitCode);
        this.exitWaiters.delete(m.process);
        return;
      case 'ok':
      case 'error': {
        const p = this.pending.get(m.id);
        if (!p) return; // a reply nobody waits for (timed out): ignore
        this.pending.delete(m.id);
        if (p.timer) clearTimeout(p.timer);
        if (m.kind === 'ok') p.resolve(m);
        else p.reject(new AgentError(p.what, m.error, m.message, m.errno));
      }
    }
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = err;
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.onFatal(err);
  }

  /** Sends one request and waits for its reply. */
  send(type: number, fields: Fields, what: string, timeoutMs = 30_000): Promise<Ok> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise<Ok>((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => {
        this.pending.delete(id);
        reject(new HyperError('agent-timeout', `guest agent did not answer ${what} within ${timeoutMs} ms`));
      }, timeoutMs) : null;
      this.pending.set(id, { resolve, reject, what, timer });
      this.output.write(encodeFrame(type, id, fields));
    });
  }

  /** Writes raw bytes to the channel (tests of malformed input). */
  writeRaw(bytes: Uint8Array): void {
    this.output.write(bytes);
  }

  /**
   * Resolves with the agent's protocol version at its READY event or its first answer to a ping, whichever comes first:
   * READY is lost if it was sent before the host attached, so pings keep going until one is answered.
   */
  async waitReady(timeoutMs: number, everyMs = 100): Promise<number> {
    if (this.ready) return this.ready.version;
    const deadline = Date.now() + timeoutMs;
    let done = false;
    const announced = new Promise<number>((resolve) => this.readyWaiters.push(resolve));
    const pinged = (async () => {
      for (;;) {
        try {
          const ok = await this.send(MSG.PING, {}, 'ping', Math.min(everyMs, Math.max(1, deadline - Date.now())));
          return ok.version ?? 0;
        } catch (err) {
          if (done) return 0;
          if (this.closed || Date.now() >= deadline) throw err;
        }
      }
    })();
    try {
      return await Promise.race([announced, pinged]);
    } finally {
      done = true;
    }
  }

  ping(): Promise<Ok> { return this.send(MSG.PING, {}, 'ping'); }
  startPod(o: { hostname?: string; dns?: string[] }): Promise<Ok> { return this.send(MSG.START_POD, { HOSTNAME: o.hostname, DNS: o.dns }, 'start pod'); }

  async startContainer(name: string, rootfs: RootfsSpec, p: ProcessSpec): Promise<number> {
    const ok = await this.send(MSG.START_CONTAINER, { CONTAINER: name, ROOTFS_KIND: rootfs.kind, ROOTFS_SOURCE: rootfs.source, ROOTFS_FSTYPE: rootfs.fstype, ...processFields(p) }, `start container ${name}`);
    return ok.pid ?? 0;
  }

  async exec(container: string, process: string, p: ProcessSpec): Promise<number> {
    const ok = await this.send(MSG.EXEC, { CONTAINER: container, PROCESS: process, ...processFields(p) }, `exec ${process} in ${container}`);
    return ok.pid ?? 0;
  }

  signal(process: string, signal: number): Promise<Ok> { return this.send(MSG.SIGNAL, { PROCESS: process, SIGNAL: signal }, `signal ${signal} to ${process}`); }
  stdin(process: string, data: Uint8Array): Promise<Ok> { return this.send(MSG.STDIN, { PROCESS: process, DATA: data }, `stdin of ${process}`); }
  closeStdin(process: string): Promise<Ok> { return this.send(MSG.STDIN, { PROCESS: process, DATA: Buffer.alloc(0) }, `close stdin of ${process}`); }
  resize(process: string, rows: number, cols: number): Promise<Ok> { return this.send(MSG.RESIZE, { PROCESS: process, ROWS: rows, COLS: cols }, `resize ${process}`); }
  stats(): Promise<Ok> { return this.send(MSG.STATS, {}, 'stats'); }
  reseed(bytes: Uint8Array): Promise<Ok> { return this.send(MSG.RESEED, { DATA: bytes }, 'reseed'); }
  shutdown(): Promise<Ok> { return this.send(MSG.SHUTDOWN, {}, 'shutdown', 5_000); }

  onOutput(l: (process: string, stream: 1 | 2, data: Buffer) => void): () => void {
    this.outputListeners.add(l);
    return () => this.outputListeners.delete(l);
  }

  onExit(l: (process: string, code: number) => void): () => void {
    this.exitListeners.add(l);
    return () => this.exitListeners.delete(l);
  }

  /** Resolves with the process's exit code (at once if it already exited). */
  waitExit(process: string): Promise<number> {
    const code = this.exits.get(process);
    if (code !== undefined) return Promise.resolve(code);
    return new Promise((resolve) => this.exitWaiters.set(process, [...(this.exitWaiters.get(process) ?? []), resolve]));
  }

  get isClosed(): boolean {
    return this.closed !== null;
  }
}

function processFields(p: ProcessSpec): Fields {
  return { ARG: p.args, ENV: p.env, CWD: p.cwd, USER: p.user, UID: p.uid, GID: p.gid, TTY: p.tty ? 1 : undefined, ROWS: p.rows, COLS: p.cols };
}
