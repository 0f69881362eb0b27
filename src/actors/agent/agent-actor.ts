// The guest-agent actor: one per VM; connects to the agent, starts and signals containers, stores their output durably
// (acknowledging to the agent only what NATS has), and reports agent.ready/container.* facts — also for what happened
// while no daemon was attached, from the agent's resync.
import type { NatsConnection } from '@nats-io/transport-node';
import type { ContainerSpec } from '../../events/schemas/mod.js';
import type { GuestChannel, GuestNetwork, GuestProcess, Vm } from '../../drivers/driver.js';
import { LogWriter, storedLogOffset } from '../../events/store/logs.js';
import type { PodAddress } from '../../events/schemas/subjects.js';
import type { Logger } from '../../log.js';
import type { PodContext } from '../../model/pod-context.js';
import type { Emit } from '../emit.js';
import { isExecProcess } from '../../exec/protocol.js';
import type { ExecSession } from '../exec/exec-session.js';

const SIGTERM = 15;
const STREAMS = [1, 2] as const;

/** Where one container instance's output goes, per stream, in order. */
interface Sink {
  gen: number;
  writers: Record<1 | 2, Promise<LogWriter>>;
  /** Serialises chunks per stream while the writer's stored offset is looked up. */
  chains: Record<1 | 2, Promise<void>>;
}

export interface AgentActorDeps {
  emit: Emit;
  podId: string;
  /** The pod's tenant (null: created before 0.3): its output goes under the tenant's log subjects. */
  tenant: string | null;
  vmId: string;
  nc: NatsConnection;
  log: Logger;
  /** Aborted when the daemon stops: writers stop retrying. */
  stopping: AbortSignal;
}

export class AgentActor {
  private channel: GuestChannel | null = null;
  private readonly sinks = new Map<string, Sink>();
  /** Exits recorded (`container#gen`): the agent sends an unreleased process's EXIT again after a resync. */
  private readonly exitsRecorded = new Set<string>();
  /** Output and exits that arrived after a resync but before adopt() gave their process a sink: replayed then. */
  private readonly early = new Map<string, { out: [1 | 2, Uint8Array, number][]; exit: number | null }>();
  /** Releases in flight: a container's name is free for its restart only once the guest forgot the old process. */
  private readonly releasing = new Map<string, Promise<void>>();

  /** Exec sessions by their guest process name: their output and exits go to the session, not to a container's log. */
  private readonly execs = new Map<string, ExecSession>();

  /** Where the pod's output goes. */
  private readonly at: PodAddress;

  // no listener on `stopping` per actor (thousands of them make addEventListener quadratic): the runner closes its actor
  constructor(private readonly d: AgentActorDeps) {
    this.at = { pod: d.podId, tenant: d.tenant };
  }

  get connected(): boolean {
    return this.channel !== null;
  }

  get bootId(): string | null {
    return this.channel?.bootId ?? null;
  }

  /** Connects; `configure` sends the pod-wide settings and records agent.ready (a fresh boot, or one re-attached before it). */
  async connect(vm: Vm, timeoutMs: number, hostname: string, configure = true, network?: GuestNetwork): Promise<boolean> {
    try {
      this.channel = await vm.connectAgent(AbortSignal.timeout(timeoutMs));
      if (configure) await this.channel.configurePod({ hostname, network });
    } catch (err) {
      this.channel = null;
      await this.d.emit('agent.failed', { reason: `guest agent of vm ${vm.id} did not answer: ${(err as Error).message}` }, 'agent.failed');
      return false;
    }
    this.channel.onContainerOutput((container, stream, data, offset) => this.output(container, stream, data, offset));
    this.channel.onContainerExit((container, exitCode, reason) => {
      if (isExecProcess(container)) {
        const s = this.execs.get(container);
        // an exec no session follows (its daemon restarted): forgotten, so the guest does not keep it
        if (s) s.exited(exitCode);
        else void this.channel?.release(container).catch(() => {});
        return;
      }
      if (!this.sinks.has(container) && this.channel?.resynced) {
        this.earlyFor(container).exit = exitCode;
        return;
      }
      void this.exited(container, exitCode, reason);
    });
    if (configure) await this.d.emit('agent.ready', { version: this.channel.version }, 'agent.ready');
    return true;
  }

  /** What the agent reported on re-attach, or null for a VM this daemon booted. */
  get resynced(): GuestProcess[] | null {
    return this.channel?.resynced ?? null;
  }

  /**
   * Re-derives what is owed after a re-attach: each container the guest runs gets its output sink back (at the offset
   * NATS already has); a start or an exit the log lacks is recorded now. Returns the containers that need no new start.
   */
  async adopt(ctx: PodContext): Promise<Set<string>> {
    const live = new Set<string>();
    const listed = new Set((this.resynced ?? []).map((p) => p.container));
    for (const [name, st] of Object.entries(ctx.containers)) {
      if (st.state === 'running' && this.resynced && !listed.has(name)) await this.d.emit('container.failed', { container: name, reason: 'its process was not found in the guest when hyperd re-attached' }, `c.${name}.${st.restarts}.lost`);
    }
    for (const p of this.resynced ?? []) {
      const st = ctx.containers[p.container];
      if (!st) continue;
      // the fold knows the pid of the last start it recorded: another pid is a start the log does not have yet
      const recorded = st.pid === p.pid && (st.state === 'running' || st.state === 'exited' || st.state === 'restarting' || st.state === 'failed');
      const gen = st.restarts;
      if (recorded && st.state !== 'running') {
        // the log already has this process's end (a daemon died before releasing it)
        if (p.state === 'exited') this.release(p.container);
        continue;
      }
      this.sink(p.container, gen, true);
      if (!recorded) await this.d.emit('container.started', { container: p.container, pid: p.pid }, `c.${p.container}.${gen}.started`);
      if (p.state === 'running') {
        live.add(`${p.container}#${gen}`);
        continue;
      }
      // exited while no daemon was attached: its output is being resent; record the exit once all of it is stored
      const key = `${p.container}#${gen}`;
      if (this.exitsRecorded.has(key)) continue;
      this.exitsRecorded.add(key);
      await this.flush(p.container, { 1: p.outBytes, 2: p.errBytes });
      await this.d.emit('container.exited', { container: p.container, exitCode: p.exitCode ?? 255 }, `c.${p.container}.${gen}.exited`);
      this.release(p.container);
      live.add(`${p.container}#${gen}`);
    }
    // exits that came in while the facts above were being recorded (their process ran at the resync)
    for (const [container, e] of this.early) if (e.exit !== null && this.sinks.has(container)) void this.exited(container, e.exit);
    this.early.clear();
    return live;
  }

  async start(c: ContainerSpec, restarts: number): Promise<void> {
    if (!this.channel) throw new Error('agent actor: start before connect');
    await this.releasing.get(c.name);
    this.sink(c.name, restarts, false);
    try {
      const { pid } = await this.channel.startContainer({
        name: c.name, image: c.image, command: c.command, args: c.args, env: c.env, workdir: c.workdir, user: c.user, tty: c.tty,
        ...(c.volumes?.length ? { volumes: c.volumes } : {}),
        ...(c.limits ? { limits: c.limits } : {}),
        ...(c.files?.length ? { files: c.files } : {}),
      });
      // as docker's without -i: a container nobody may attach to reads EOF on stdin (a pty has no EOF: it just waits)
      if (!c.stdin && !c.tty) void this.channel.stdin(c.name, new Uint8Array(0)).catch(() => {});
      await this.d.emit('container.started', { container: c.name, pid }, `c.${c.name}.${restarts}.started`);
    } catch (err) {
      await this.d.emit('container.failed', { container: c.name, reason: (err as Error).message }, `c.${c.name}.${restarts}.failed`);
    }
  }

  /** A signal to one container's main process (hyper kill). */
  async signal(container: string, signal: number): Promise<void> {
    if (!this.channel) throw new Error('agent actor: signal before connect');
    await this.channel.signal(container, signal);
  }

  /** SIGTERM to every container; the VM stop that follows enforces the grace period. */
  async terminateAll(containers: string[]): Promise<void> {
    await Promise.all(containers.map((c) => this.channel?.signal(c, SIGTERM).catch(() => {})));
  }

  /** The guest's channel while connected (exec sessions talk through it). */
  get guest(): GuestChannel | null {
    return this.channel;
  }

  /** Follows an exec session's process from before it starts (its first output may come before the exec's reply). */
  addExec(s: ExecSession): void {
    this.execs.set(s.process, s);
  }

  removeExec(s: ExecSession): void {
    if (this.execs.get(s.process) === s) this.execs.delete(s.process);
  }

  close(): void {
    for (const s of [...this.execs.values()]) s.abort('the pod\'s VM is no longer followed by this host (stopped, or hyperd is stopping)');
    this.execs.clear();
    this.channel?.close();
    this.channel = null;
    this.closeWriters();
  }

  private closeWriters(): void {
    for (const s of this.sinks.values()) for (const n of STREAMS) void s.writers[n].then((w) => w.close());
  }

  /** The output sink of a container instance; `resume` looks up how far NATS already has it (a re-attach), else starts at 0. */
  private sink(container: string, gen: number, resume: boolean): Sink {
    const instance = `${this.d.vmId}/${gen}`;
    const writer = (stream: 1 | 2) =>
      (resume ? this.storedOffset(container, stream, instance) : Promise.resolve(0)).then(
        (stored) => new LogWriter(this.d.nc, this.at, container, stream, instance, stored, (end) => this.channel?.ack(container, stream, end),
          (err) => this.d.log.warn({ err, pod: this.d.podId, container }, 'storing output failed; retrying (the guest keeps it meanwhile)')),
      );
    const w1 = writer(1);
    const w2 = writer(2);
    const s: Sink = { gen, writers: { 1: w1, 2: w2 }, chains: { 1: w1.then(() => {}, () => {}), 2: w2.then(() => {}, () => {}) } };
    this.sinks.set(container, s);
    for (const [stream, data, offset] of this.early.get(container)?.out.splice(0) ?? []) this.output(container, stream, data, offset);
    // what NATS has already, the guest may free (it resends from its own acknowledged offset otherwise)
    if (resume) for (const n of STREAMS) void s.writers[n].then((w) => w.stored > 0 && this.channel?.ack(container, n, w.stored), () => {});
    return s;
  }

  private earlyFor(container: string): { out: [1 | 2, Uint8Array, number][]; exit: number | null } {
    let e = this.early.get(container);
    if (!e) this.early.set(container, (e = { out: [], exit: null }));
    return e;
  }

  /** How far NATS has this stream, asked until it answers (the guest keeps the output meanwhile). */
  private async storedOffset(container: string, stream: 1 | 2, instance: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await storedLogOffset(this.d.nc, this.at, container, stream, instance);
      } catch (err) {
        if (this.d.stopping.aborted) return 0;
        if (attempt === 1 || attempt % 10 === 0) this.d.log.warn({ err, pod: this.d.podId, container, attempt }, 'could not read how far its output is stored; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * attempt)));
      }
    }
  }

  /** Stores each byte once: a chunk resent after a re-attach is trimmed to what NATS does not have yet. */
  private output(container: string, stream: 1 | 2, data: Uint8Array, offset: number): void {
    if (isExecProcess(container)) {
      const x = this.execs.get(container);
      // an exec no session follows (left by a daemon that restarted): acknowledged so it does not block on its output
      if (x) x.output(stream, data, offset);
      else this.channel?.ack(container, stream, offset + data.length);
      return;
    }
    const s = this.sinks.get(container);
    if (!s) {
      // resent right after a resync, before adopt() knew which run of the container it belongs to: kept for it
      if (this.channel?.resynced) return void this.earlyFor(container).out.push([stream, data, offset]);
      return void this.d.log.warn({ pod: this.d.podId, container }, 'output from a process this daemon does not follow: dropped');
    }
    s.chains[stream] = s.chains[stream].then(async () => {
      const w = await s.writers[stream];
      const end = w.end;
      if (offset + data.length <= end) return;
      if (offset > end) {
        // cannot happen while the guest frees only what was acknowledged; if it does, say so and keep offsets in step
        this.d.log.error({ pod: this.d.podId, container, stream, offset, end }, `output gap: ${offset - end} bytes of ${container} never reached NATS`);
        await w.flushTo();
        w.skipTo(offset);
      }
      w.push(offset < end ? data.subarray(end - offset) : data);
    });
  }

  /** Resolves once each stream is stored up to the given end (default: everything received so far). */
  private async flush(container: string, ends?: Record<1 | 2, number>): Promise<void> {
    const s = this.sinks.get(container);
    if (!s) return;
    await Promise.all(STREAMS.map(async (n) => {
      const w = await s.writers[n];
      // resent bytes may still be on their way from the guest: wait for them, not only for what arrived
      while (ends && w.end < ends[n] && !this.d.stopping.aborted && this.channel) await new Promise((r) => setTimeout(r, 20));
      await s.chains[n];
      await w.flushTo(ends?.[n]);
    }));
  }

  private async exited(container: string, exitCode: number, reason?: string): Promise<void> {
    const sink = this.sinks.get(container);
    // no sink: a process whose end the log already has (resent after a resync); a recorded key: the same exit again
    if (!sink || this.exitsRecorded.has(`${container}#${sink.gen}`)) return;
    const gen = sink.gen;
    this.exitsRecorded.add(`${container}#${gen}`);
    // the output comes before the exit, in the log as on the channel
    await this.flush(container);
    // the kernel killed it for its memory limit: said before the exit it explains
    if (reason === 'OOM killed') await this.d.emit('container.oom', { container }, `c.${container}.${gen}.oom`);
    await this.d.emit('container.exited', { container, exitCode }, `c.${container}.${gen}.exited`);
    this.release(container);
  }

  private release(container: string): void {
    const p = (this.channel?.release(container) ?? Promise.resolve()).catch((err) =>
      this.d.log.warn({ err, pod: this.d.podId, container }, 'the guest did not release an exited process'),
    ).finally(() => { if (this.releasing.get(container) === p) this.releasing.delete(container); });
    this.releasing.set(container, p);
  }
}
