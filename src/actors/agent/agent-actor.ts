// The guest-agent actor: one per VM; connects to the agent, starts and signals containers, and reports agent.ready/container.* facts.
import type { ContainerSpec } from '../../events/schemas/mod.js';
import type { GuestChannel, Vm } from '../../drivers/driver.js';
import type { Emit } from '../emit.js';

const SIGTERM = 15;

export class AgentActor {
  private channel: GuestChannel | null = null;
  /** Restart count of each container at its last exit, so exit facts get distinct ids across restarts. */
  private readonly generation = new Map<string, number>();

  constructor(
    private readonly emit: Emit,
    /** Where container output goes (NATS, for hyper run and hyper logs); output is not an event. */
    private readonly output: (container: string, stream: 1 | 2, data: Uint8Array) => void = () => {},
  ) {}

  get connected(): boolean {
    return this.channel !== null;
  }

  async connect(vm: Vm, timeoutMs: number, hostname: string): Promise<boolean> {
    try {
      this.channel = await vm.connectAgent(AbortSignal.timeout(timeoutMs));
      await this.channel.configurePod({ hostname });
    } catch (err) {
      await this.emit('agent.failed', { reason: `guest agent of vm ${vm.id} did not answer: ${(err as Error).message}` }, 'agent.failed');
      return false;
    }
    this.channel.onContainerOutput((container, stream, data) => this.output(container, stream, data));
    this.channel.onContainerExit((container, exitCode) => {
      const gen = this.generation.get(container) ?? 0;
      void this.emit('container.exited', { container, exitCode }, `c.${container}.${gen}.exited`);
    });
    await this.emit('agent.ready', { version: this.channel.version }, 'agent.ready');
    return true;
  }

  async start(c: ContainerSpec, restarts: number): Promise<void> {
    if (!this.channel) throw new Error('agent actor: start before connect');
    this.generation.set(c.name, restarts);
    try {
      const { pid } = await this.channel.startContainer({
        name: c.name, image: c.image, command: c.command, args: c.args, env: c.env, workdir: c.workdir, user: c.user, tty: c.tty,
      });
      await this.emit('container.started', { container: c.name, pid }, `c.${c.name}.${restarts}.started`);
    } catch (err) {
      await this.emit('container.failed', { container: c.name, reason: (err as Error).message }, `c.${c.name}.${restarts}.failed`);
    }
  }

  /** SIGTERM to every container; the VM stop that follows enforces the grace period. */
  async terminateAll(containers: string[]): Promise<void> {
    await Promise.all(containers.map((c) => this.channel?.signal(c, SIGTERM).catch(() => {})));
  }

  close(): void {
    this.channel?.close();
    this.channel = null;
  }
}
