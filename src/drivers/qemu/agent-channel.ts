// The guest agent behind the driver-neutral GuestChannel, and the events it sends kept until the host's actors listen.
import { DriverError } from '../../errors.js';
import type { AgentClient, AgentTooOldError, ResyncResult } from '../../guest/agent-client.js';
import { resolveProcess } from '../../images/image-config.js';
import type { StoredImage } from '../../images/store.js';
import type { ContainerLaunch, GuestChannel, GuestProcess } from '../driver.js';

type OutputEvent = [container: string, stream: 1 | 2, data: Uint8Array, offset: number];

/** Output and exits from the agent, kept from the moment it is connected until someone listens (none is ever dropped). */
export class HeldEvents {
  private output: OutputEvent[] = [];
  private exits: [string, number][] = [];
  private onOutput: ((...e: OutputEvent) => void) | null = null;
  private onExit: ((container: string, code: number) => void) | null = null;

  constructor(agent: AgentClient) {
    agent.onOutput((p, stream, data, offset) => (this.onOutput ? this.onOutput(p, stream, data, offset) : this.output.push([p, stream, data, offset])));
    agent.onExit((p, code) => (this.onExit ? this.onExit(p, code) : this.exits.push([p, code])));
  }

  listenOutput(l: (...e: OutputEvent) => void): void {
    this.onOutput = l;
    for (const e of this.output.splice(0)) l(...e);
  }

  listenExit(l: (container: string, code: number) => void): void {
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
  ) {
    this.version = `hyper-agent/${resync?.version ?? agent.ready?.version ?? 1}`;
    this.bootId = resync?.bootId ?? agent.ready?.bootId ?? null;
    this.resynced = resync
      ? resync.processes.filter((p) => p.main).map((p) => ({ container: p.container, main: p.main, pid: p.pid, state: p.state, exitCode: p.exitCode, exitedAtMs: p.exitedAtMs, outBytes: p.out.sent, errBytes: p.err.sent }))
      : tooOld ? [] : null;
  }

  async configurePod(o: { hostname: string }): Promise<void> {
    await this.agent.startPod({ hostname: o.hostname });
  }

  async startContainer(c: ContainerLaunch): Promise<{ pid: number }> {
    const shared = this.images.get(c.image);
    if (!shared) throw new DriverError('no-image', `image ${c.image} was not attached to this VM`);
    if (!shared.image) throw new DriverError('no-image', `image ${c.image} is no longer in this host's store (removed while the pod ran) — pull it again`);
    const p = resolveProcess(shared.image.config, c);
    if (p.argv.length === 0) throw new DriverError('no-command', `container ${c.name}: image ${c.image} has no Entrypoint or Cmd — give a command after the image`);
    const pid = await this.agent.startContainer(c.name, { kind: 'block', source: shared.device, fstype: 'erofs' }, { args: p.argv, env: p.env, cwd: p.cwd, user: p.user, tty: c.tty });
    return { pid };
  }

  signal(container: string, signal: number): Promise<void> {
    return this.agent.signal(container, signal).then(() => undefined);
  }

  onContainerExit(listener: (container: string, exitCode: number) => void): void {
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

  close(): void {}
}
