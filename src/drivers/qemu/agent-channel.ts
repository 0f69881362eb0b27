// The guest agent behind the driver-neutral GuestChannel, and the events it sends kept until the host's actors listen.
import { readFileSync } from 'node:fs';
import { DriverError } from '../../errors.js';
import { AgentError, type AgentClient, type AgentTooOldError, type ResyncResult } from '../../guest/agent-client.js';
import { AGENT_ERROR } from '../../guest/wire.js';
import { resolveProcess } from '../../images/image-config.js';
import type { StoredImage } from '../../images/store.js';
import type { ContainerLaunch, ExecLaunch, GuestChannel, GuestNetwork, GuestProcess, GuestProcessList, GuestStats } from '../driver.js';

type OutputEvent = [container: string, stream: 1 | 2, data: Uint8Array, offset: number];

/** Output and exits from the agent, kept from the moment it is connected until someone listens (none is ever dropped). */
export class HeldEvents {
  private output: OutputEvent[] = [];
  private exits: [string, number, string | undefined][] = [];
  private onOutput: ((...e: OutputEvent) => void) | null = null;
  private onExit: ((container: string, code: number, reason?: string) => void) | null = null;

  constructor(agent: AgentClient) {
    agent.onOutput((p, stream, data, offset) => (this.onOutput ? this.onOutput(p, stream, data, offset) : this.output.push([p, stream, data, offset])));
    agent.onExit((p, code, _at, reason) => (this.onExit ? this.onExit(p, code, reason) : this.exits.push([p, code, reason])));
  }

  listenOutput(l: (...e: OutputEvent) => void): void {
    this.onOutput = l;
    for (const e of this.output.splice(0)) l(...e);
  }

  listenExit(l: (container: string, code: number, reason?: string) => void): void {
    this.onExit = l;
    for (const e of this.exits.splice(0)) l(...e);
  }
}

/** The guest agent behind the driver-neutral GuestChannel: containers start from their image's EROFS disk plus a writable layer. */
export class AgentChannel implements GuestChannel {
  readonly version: string;
  readonly bootId: string | null;
  readonly resynced: GuestProcess[] | null;

  constructor(
    private readonly agent: AgentClient,
    private readonly held: HeldEvents,
    private readonly images: Map<string, { device: string; image: StoredImage | null }>,
    resync: ResyncResult | null,
    readonly tooOld: AgentTooOldError | null,
    /** Host directory → the 9p tag it was shared under at boot; volume name → its disk (/dev/vdX). */
    private readonly shares: Map<string, string> = new Map(),
    /** eth0's MAC, given to the guest with its network (a VM restored from a template has the template's). */
    private readonly mac?: string,
  ) {
    this.version = `hyper-agent/${resync?.version ?? agent.ready?.version ?? 1}`;
    this.bootId = resync?.bootId ?? agent.ready?.bootId ?? null;
    this.resynced = resync
      ? resync.processes.filter((p) => p.main).map((p) => ({ container: p.container, main: p.main, pid: p.pid, state: p.state, exitCode: p.exitCode, exitedAtMs: p.exitedAtMs, outBytes: p.out.sent, errBytes: p.err.sent }))
      : tooOld ? [] : null;
  }

  async configurePod(o: { hostname: string; network?: GuestNetwork }): Promise<void> {
    await this.agent.startPod({ hostname: o.hostname, network: o.network, mac: o.network ? this.mac : undefined });
  }

  async startContainer(c: ContainerLaunch): Promise<{ pid: number }> {
    const shared = this.images.get(c.image);
    if (!shared) throw new DriverError('no-image', `image ${c.image} was not attached to this VM`);
    if (!shared.image) throw new DriverError('no-image', `image ${c.image} is no longer in this host's store (removed while the pod ran) — pull it again`);
    const p = resolveProcess(shared.image.config, c);
    if (p.argv.length === 0) throw new DriverError('no-command', `container ${c.name}: image ${c.image} has no Entrypoint or Cmd — give a command after the image`);
    const mounts = (c.volumes ?? []).map((v) => {
      const tag = this.shares.get(v.source);
      if (!tag) throw new DriverError('no-volume', `volume ${v.source} of container ${c.name} was not attached to this VM (it was added after the VM booted): restart the pod`);
      return `${v.readonly ? 'ro' : 'rw'}:${tag}:${v.target}`;
    });
    const files = (c.files ?? []).map((f) => {
      let data: Uint8Array;
      try {
        data = f.content !== undefined ? Buffer.from(f.content) : readFileSync(f.source!);
      } catch (err) {
        throw new DriverError('no-file', `file ${f.path} of container ${c.name}: cannot read ${f.source} on this host (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      if (data.length > 512 * 1024) throw new DriverError('no-file', `file ${f.path} of container ${c.name}: ${f.source} is ${data.length} bytes, more than the 512 KiB a file in a spec may have — bind it with -v instead`);
      return { path: f.path, data, mode: f.mode ?? 0o644 };
    });
    const pid = await this.agent.startContainer(c.name, { kind: 'block', source: shared.device, fstype: 'erofs' }, { args: p.argv, env: p.env, cwd: p.cwd, user: p.user, tty: c.tty, mounts, files, memoryMax: c.limits?.memoryMb ? c.limits.memoryMb * 1024 * 1024 : undefined, cpuMax: c.limits?.cpus ? Math.round(c.limits.cpus * 1000) : undefined });
    return { pid };
  }

  signal(container: string, signal: number): Promise<void> {
    return this.agent.signal(container, signal).then(() => undefined);
  }

  onContainerExit(listener: (container: string, exitCode: number, reason?: string) => void): void {
    this.held.listenExit(listener);
  }

  onContainerOutput(listener: (container: string, stream: 1 | 2, data: Uint8Array, offset: number) => void): void {
    this.held.listenOutput(listener);
  }

  ack(container: string, stream: 1 | 2, offset: number): void {
    this.agent.ack(container, stream, offset);
  }

  async release(container: string): Promise<void> {
    await this.agent.release(container);
  }

  async exec(x: ExecLaunch): Promise<{ pid: number }> {
    // the agent's own tools need nothing of the image: they run as root, in the container's namespace, from its root
    if (x.builtin) {
      try {
        return { pid: await this.agent.exec(x.container.name, x.process, { args: x.command, env: [], builtin: true }) };
      } catch (err) {
        // an agent from before the tools ignores BUILTIN (unknown fields are) and looks for a program of that name
        if (err instanceof AgentError && err.errno === 2) throw new DriverError('agent-too-old', `this pod's guest agent (${this.version}) predates hyper cp: restart the pod to boot it with this hyper's agent`, { cause: err });
        throw err;
      }
    }
    const shared = this.images.get(x.container.image);
    if (!shared?.image) throw new DriverError('no-image', `image ${x.container.image} of container ${x.container.name} is not in this host's store any more`);
    // the container's environment (image, then spec), then the exec's own -e; its workdir and user unless given
    const p = resolveProcess(shared.image.config, { command: x.command, env: { ...x.container.env, ...x.env }, workdir: x.workdir ?? x.container.workdir, user: x.user ?? x.container.user });
    const pid = await this.agent.exec(x.container.name, x.process, { args: p.argv, env: p.env, cwd: p.cwd, user: p.user, tty: x.tty, rows: x.rows, cols: x.cols });
    return { pid };
  }

  async stdin(process: string, data: Uint8Array): Promise<boolean> {
    try {
      await (data.length ? this.agent.stdin(process, data) : this.agent.closeStdin(process));
      return true;
    } catch (err) {
      // its buffer is full (the process reads slower than stdin comes): the caller waits and sends again
      if (err instanceof AgentError && err.agentCode === AGENT_ERROR.STATE && /full/.test(err.message)) return false;
      throw err;
    }
  }

  async resize(process: string, rows: number, cols: number): Promise<void> {
    await this.agent.resize(process, rows, cols);
  }

  async signalProcess(process: string, signal: number): Promise<void> {
    await this.agent.signal(process, signal);
  }

  async stats(): Promise<GuestStats> {
    const ok = await this.agent.stats();
    if (ok.cpuMs === undefined || ok.cpuTotalMs === undefined || ok.cpus === undefined) {
      throw new DriverError('agent-too-old', `the guest agent (${this.version}) reports no CPU time: restart the pod to boot it with this hyper's agent`);
    }
    return { memTotal: ok.memTotal ?? 0, memAvailable: ok.memAvailable ?? 0, cpuMs: ok.cpuMs, cpuTotalMs: ok.cpuTotalMs, cpus: ok.cpus, uptimeMs: ok.uptimeMs ?? 0, processes: ok.processes ?? 0 };
  }

  async processes(container?: string): Promise<GuestProcessList> {
    let ok;
    try {
      ok = await this.agent.ps(container);
    } catch (err) {
      if (err instanceof AgentError && err.agentCode === AGENT_ERROR.UNKNOWN) throw new DriverError('agent-too-old', `the guest agent (${this.version}) cannot list processes: restart the pod to boot it with this hyper's agent`, { cause: err });
      throw err;
    }
    // a PS reply's MESSAGE (decoded as `build`, its meaning in READY and RESYNC) says how many processes were left out
    return { atMs: ok.timeMs ?? Date.now(), processes: ok.ps ?? [], ...(ok.build ? { omitted: ok.build } : {}) };
  }

  close(): void {}
}
