// The host's client for the guest agent: requests with replies by id, output and exit events, acknowledgements,
// readiness, and re-attaching to a running agent (hunting for the resync reply, then resync).
import { randomInt } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { HyperError } from '../errors.js';
import { decodeAgentMessage, type AgentMessage, type ProcessEntry } from './messages.js';
import { ResyncHunter } from './hunt.js';
import type { GuestNetwork } from '../drivers/driver.js';
import { AGENT_ERROR, encodeFields, encodeFrame, FrameReader, MSG, PROTOCOL_VERSION, ProtocolError, type Fields } from './wire.js';

export type { ProcessEntry } from './messages.js';

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

/** The agent predates RESYNC (protocol 1): its processes cannot be re-attached to. */
export class AgentTooOldError extends HyperError {
  constructor(readonly version: number, build: string | undefined, options?: { cause?: unknown }) {
    super(
      'agent-too-old',
      `guest agent ${build ? `"${build}" ` : ''}speaks protocol ${version}, which has no RESYNC (added in protocol 2; this host speaks ${PROTOCOL_VERSION}): ` +
        'the pod keeps running but cannot be resynced — stop it and start it again to get a current agent',
      options,
    );
  }
}

export type Ok = Extract<AgentMessage, { kind: 'ok' }>;
interface Pending { resolve(m: Ok): void; reject(e: Error): void; what: string; timer: NodeJS.Timeout | null }

export interface ResyncResult { version: number; build?: string; bootId?: string; processes: ProcessEntry[] }

export interface AgentClientOptions {
  /** Acknowledge each OUTPUT as soon as it arrives (default true). A host that stores output durably passes false and calls ack() itself. */
  autoAck?: boolean;
  /** Send RELEASE when an EXIT arrives, after the listeners ran (default true). */
  autoRelease?: boolean;
  /**
   * The channel may start with the tail of frames torn by a previous host's disconnect: ignore everything until the
   * reply to this client's resync() (default false). Call resync() first; other requests are answered after it.
   */
  hunt?: boolean;
}

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
  /** args[0] names a tool built into the agent (exec only). */
  builtin?: boolean;
  /** 9p shares to mount in the container before it starts: "ro|rw:TAG:TARGET" (container start only). */
  mounts?: string[];
  /** The container's limits (container start only): memory in bytes, CPU in thousandths of a vCPU. */
  memoryMax?: number;
  cpuMax?: number;
  /** Files written in the container's root before it starts (container start only). */
  files?: { path: string; data: Uint8Array; mode: number }[];
}

export interface RootfsSpec { kind: '9p' | 'block' | 'host'; source?: string; fstype?: string }

type OutputListener = (process: string, stream: 1 | 2, data: Buffer, offset: number) => void;
/** reason: why the guest says it ended, when it knows ("OOM killed"). */
type ExitListener = (process: string, code: number, atMs?: number, reason?: string) => void;

// ordinary request ids stay below 2^31; resync ids are drawn from [2^31, 2^32), so a hunt cannot match an old reply
const RESYNC_ID_MIN = 2 ** 31;

export class AgentClient {
  private readonly reader = new FrameReader();
  private readonly hunter: ResyncHunter | null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed: Error | null = null;
  private readonly outputListeners = new Set<OutputListener>();
  private readonly exitListeners = new Set<ExitListener>();
  private readonly exits = new Map<string, number>();
  private readonly exitWaiters = new Map<string, ((code: number) => void)[]>();
  private readonly autoAck: boolean;
  private readonly autoRelease: boolean;
  ready: { version: number; build?: string; bootId?: string } | null = null;
  private readyWaiters: ((version: number) => void)[] = [];

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly onFatal: (err: Error) => void = () => {},
    opts: AgentClientOptions = {},
  ) {
    this.autoAck = opts.autoAck ?? true;
    this.autoRelease = opts.autoRelease ?? true;
    this.hunter = opts.hunt ? new ResyncHunter() : null;
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    input.on('close', () => this.fail(new HyperError('agent-gone', 'the guest agent channel closed')));
    input.on('error', (err) => this.fail(err));
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      let bytes: Buffer | null = chunk;
      if (this.hunter?.hunting) bytes = this.hunter.push(chunk);
      if (!bytes) return;
      for (const frame of this.reader.push(bytes)) this.dispatch(decodeAgentMessage(frame));
    } catch (err) {
      // a malformed stream cannot be resynchronised: drop the channel, never the host
      if (err instanceof ProtocolError) return this.fail(err);
      throw err;
    }
  }

  private dispatch(m: AgentMessage): void {
    switch (m.kind) {
      case 'ready':
        this.ready = { version: m.version, build: m.build, bootId: m.bootId };
        for (const w of this.readyWaiters) w(m.version);
        this.readyWaiters = [];
        return;
      case 'output':
        for (const l of this.outputListeners) l(m.process, m.stream, m.data, m.offset);
        if (this.autoAck) this.ack(m.process, m.stream, m.offset + m.data.length);
        return;
      case 'exit':
        this.exits.set(m.process, m.exitCode);
        for (const l of this.exitListeners) l(m.process, m.exitCode, m.timeMs, m.reason);
        for (const w of this.exitWaiters.get(m.process) ?? []) w(m.exitCode);
        this.exitWaiters.delete(m.process);
        if (this.autoRelease) this.release(m.process).catch(() => {});
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

  private fail(err: Error, fatal = true): void {
    if (this.closed) return;
    this.closed = err;
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    if (fatal) this.onFatal(err);
  }

  /** Sends one request and waits for its reply (timeoutMs 0: no timeout). */
  send(type: number, fields: Fields, what: string, timeoutMs = 30_000): Promise<Ok> {
    const id = this.nextId;
    this.nextId = this.nextId >= RESYNC_ID_MIN - 1 ? 1 : this.nextId + 1;
    return this.request(type, id, fields, what, timeoutMs);
  }

  private request(type: number, id: number, fields: Fields, what: string, timeoutMs: number): Promise<Ok> {
    if (this.closed) return Promise.reject(this.closed);
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

  /** Ends this host's side of the channel (the agent keeps its processes): pending requests fail, onFatal is not called. */
  close(): void {
    this.fail(new HyperError('agent-closed', 'the guest agent channel was closed by this host'), false);
    this.input.destroy();
    this.output.destroy();
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

  /**
   * Every process the agent knows (running, or exited and not yet released) with its per-stream positions; then the
   * agent sends again every byte not acknowledged (OUTPUT from each stream's acked offset) and, after a process's
   * output, its EXIT. Rejects with AgentTooOldError for a protocol-1 agent.
   */
  async resync(timeoutMs = 2_000): Promise<ResyncResult> {
    const id = randomInt(RESYNC_ID_MIN, 2 ** 32);
    this.hunter?.expect(id);
    let ok: Ok;
    try {
      ok = await this.request(MSG.RESYNC, id, {}, 'resync', timeoutMs);
    } catch (err) {
      if (err instanceof AgentError && err.agentCode === AGENT_ERROR.UNKNOWN) throw new AgentTooOldError(this.ready?.version ?? 1, this.ready?.build, { cause: err });
      throw err;
    }
    const result: ResyncResult = { version: ok.version ?? 0, build: ok.build, bootId: ok.bootId, processes: ok.entries ?? [] };
    this.ready ??= { version: result.version, build: result.build, bootId: result.bootId };
    return result;
  }

  /** The host stored that stream up to offset: the agent frees what lies below. Fire and forget. */
  ack(process: string, stream: 1 | 2, offset: number): void {
    this.send(MSG.ACK, { PROCESS: process, STREAM: stream, OFFSET: offset }, `ack of ${process}`, 0).catch(() => {});
  }

  /** The host recorded the process's exit: the agent forgets it (and its name may be used again). */
  release(process: string): Promise<Ok> { return this.send(MSG.RELEASE, { PROCESS: process }, `release of ${process}`); }

  ping(): Promise<Ok> { return this.send(MSG.PING, {}, 'ping'); }
  /** mac: eth0's hardware address, set before the link comes up (a clone restored from a template has the template's). */
  startPod(o: { hostname?: string; dns?: string[]; network?: GuestNetwork; mac?: string }): Promise<Ok> {
    const n = o.network;
    const net = n ? { ADDRESS: `${n.address}/${n.prefix}`, GATEWAY: n.gateway, MTU: n.mtu, MAC: o.mac, HOSTS: n.hosts, SEARCH: n.search.length ? n.search : undefined } : {};
    return this.send(MSG.START_POD, { HOSTNAME: o.hostname, DNS: n ? n.dns : o.dns, ...net }, 'start pod');
  }

  async startContainer(name: string, rootfs: RootfsSpec, p: ProcessSpec): Promise<number> {
    this.exits.delete(name); // a released name used again: waitExit is about this process now
    const ok = await this.send(MSG.START_CONTAINER, { CONTAINER: name, ROOTFS_KIND: rootfs.kind, ROOTFS_SOURCE: rootfs.source, ROOTFS_FSTYPE: rootfs.fstype, ...processFields(p) }, `start container ${name}`);
    return ok.pid ?? 0;
  }

  async exec(container: string, process: string, p: ProcessSpec): Promise<number> {
    this.exits.delete(process);
    const ok = await this.send(MSG.EXEC, { CONTAINER: container, PROCESS: process, ...processFields(p) }, `exec ${process} in ${container}`);
    return ok.pid ?? 0;
  }

  signal(process: string, signal: number): Promise<Ok> { return this.send(MSG.SIGNAL, { PROCESS: process, SIGNAL: signal }, `signal ${signal} to ${process}`); }
  stdin(process: string, data: Uint8Array): Promise<Ok> { return this.send(MSG.STDIN, { PROCESS: process, DATA: data }, `stdin of ${process}`); }
  closeStdin(process: string): Promise<Ok> { return this.send(MSG.STDIN, { PROCESS: process, DATA: Buffer.alloc(0) }, `close stdin of ${process}`); }
  resize(process: string, rows: number, cols: number): Promise<Ok> { return this.send(MSG.RESIZE, { PROCESS: process, ROWS: rows, COLS: cols }, `resize ${process}`); }
  stats(): Promise<Ok> { return this.send(MSG.STATS, {}, 'stats'); }
  /** The processes of every container (or of one), read from the guest's /proc. */
  ps(container?: string): Promise<Ok> { return this.send(MSG.PS, { CONTAINER: container }, container ? `processes of ${container}` : 'processes'); }
  reseed(bytes: Uint8Array): Promise<Ok> { return this.send(MSG.RESEED, { DATA: bytes }, 'reseed'); }
  /** Tells a guest restored from a template's saved state who it is now: entropy, the wall-clock time, its boot id. */
  async restored(o: { entropy: Uint8Array; timeMs: number; bootId: string }): Promise<Ok> {
    const ok = await this.send(MSG.RESTORED, { DATA: o.entropy, TIME_MS: o.timeMs, BOOT_ID: o.bootId }, 'restored');
    // the READY this agent sent went to the template's host: its answer says again who it is, with its new boot id
    this.ready = { version: ok.version ?? this.ready?.version ?? 0, build: ok.build ?? this.ready?.build, bootId: ok.bootId ?? o.bootId };
    return ok;
  }
  shutdown(): Promise<Ok> { return this.send(MSG.SHUTDOWN, {}, 'shutdown', 5_000); }

  /** Output as it arrives; offset is the stream offset of data's first byte (after a resync, bytes may repeat: see OutputCursor). */
  onOutput(l: OutputListener): () => void {
    this.outputListeners.add(l);
    return () => this.outputListeners.delete(l);
  }

  /** Exits (atMs: guest realtime at reaping). After a resync, every exit not yet released is announced again, after its output. */
  onExit(l: ExitListener): () => void {
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
  return { ARG: p.args, ENV: p.env, CWD: p.cwd, USER: p.user, UID: p.uid, GID: p.gid, TTY: p.tty ? 1 : undefined, ROWS: p.rows, COLS: p.cols, BUILTIN: p.builtin ? 1 : undefined, MOUNT: p.mounts?.length ? p.mounts : undefined, MEMORY_MAX: p.memoryMax, CPU_MAX: p.cpuMax, FILE: p.files?.map((f) => encodeFields({ PATH: f.path, DATA: f.data, MODE: f.mode })) };
}
