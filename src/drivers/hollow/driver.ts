// The HOLLOW driver: VMs that exist only in memory, for control-plane tests and scale benchmarks (like kubemark's hollow nodes). It runs no code and isolates nothing.
import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError } from '../../errors.js';
import { unsupported, type Capabilities, type ContainerLaunch, type Driver, type FoundVm, type GuestChannel, type Vm, type VmConfig } from '../driver.js';

export interface HollowOptions {
  /** Simulated boot latency in ms. */
  bootMs?: number;
  /** Probability (0..1) that a boot fails. */
  failureRate?: number;
}

/** Per-pod behaviour comes from labels, so a test can ask for a container that exits. */
export const HOLLOW_EXIT_AFTER_MS = 'hollow.exit-after-ms';
export const HOLLOW_EXIT_CODE = 'hollow.exit-code';
export const HOLLOW_FAIL_BOOT = 'hollow.fail-boot';

export const HOLLOW_AGENT_VERSION = 'hollow-1';

export class HollowDriver implements Driver {
  readonly name = 'hollow';
  // hollow VMs live in this process's memory: they cannot outlive it, so their pods stop (or are reported lost) with it
  static readonly capabilities: Capabilities = { reattach: false, isolation: false, maxCpus: 1024, maxMemoryMb: 1 << 24 };
  readonly capabilities = HollowDriver.capabilities;
  private readonly vms = new Map<string, HollowVm>();

  constructor(private readonly opts: HollowOptions = {}) {}

  createVm(config: VmConfig): Vm {
    const vm = new HollowVm(config, this.opts, () => this.vms.delete(config.id));
    this.vms.set(config.id, vm);
    return vm;
  }

  /** Nothing of a hollow VM is left once its daemon is gone. */
  async list(): Promise<FoundVm[]> {
    return [];
  }

  async attach(found: FoundVm): Promise<Vm> {
    throw unsupported(this.name, `re-attach to vm ${found.id} (hollow VMs end with their daemon)`);
  }

  async destroy(): Promise<void> {}
}

class HollowVm implements Vm {
  private channel: HollowChannel | null = null;
  constructor(
    private readonly config: VmConfig,
    private readonly opts: HollowOptions,
    private readonly forget: () => void,
  ) {}

  get id() {
    return this.config.id;
  }

  async boot(signal: AbortSignal): Promise<void> {
    if (this.opts.bootMs) await sleep(this.opts.bootMs, undefined, { signal });
    if (this.config.labels[HOLLOW_FAIL_BOOT] || Math.random() < (this.opts.failureRate ?? 0)) {
      this.forget();
      throw new DriverError('boot', `hollow vm ${this.id} failed to boot: simulated failure (failure rate ${this.opts.failureRate ?? 0}, label ${HOLLOW_FAIL_BOOT})`);
    }
  }

  async connectAgent(): Promise<GuestChannel> {
    this.channel = new HollowChannel(this.config.labels);
    return this.channel;
  }

  async stop(): Promise<void> {
    this.channel?.close();
    this.forget();
  }

  detach(): void {
    void this.stop();
  }

  /** A hollow VM never ends by itself: it only stops when asked. */
  onExit(): void {}
}

class HollowChannel implements GuestChannel {
  readonly version = HOLLOW_AGENT_VERSION;
  readonly bootId = null;
  readonly resynced = null;
  private listener: ((container: string, exitCode: number) => void) | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextPid = 2;
  constructor(private readonly labels: Record<string, string>) {}

  async configurePod(): Promise<void> {}

  async startContainer(c: ContainerLaunch): Promise<{ pid: number }> {
    const after = Number(this.labels[HOLLOW_EXIT_AFTER_MS]);
    if (Number.isFinite(after) && this.labels[HOLLOW_EXIT_AFTER_MS] !== undefined) {
      const code = Number(this.labels[HOLLOW_EXIT_CODE] ?? 0);
      this.exitLater(c.name, code, after);
    }
    return { pid: this.nextPid++ };
  }

  async signal(container: string, signal: number): Promise<void> {
    this.exitLater(container, 128 + signal, 0);
  }

  onContainerExit(listener: (container: string, exitCode: number) => void): void {
    this.listener = listener;
  }

  /** Hollow containers run nothing, so they print nothing. */
  onContainerOutput(): void {}
  ack(): void {}
  async release(): Promise<void> {}

  /** Hollow containers run nothing: there is nothing to exec into. */
  async exec(): Promise<{ pid: number }> {
    throw unsupported('hollow', 'exec (hollow VMs run no processes)');
  }
  /** Nothing reads a hollow container's input: its end (an empty write, sent to every container started without -i) is a no-op. */
  async stdin(_container: string, data: Uint8Array): Promise<boolean> {
    if (data.length === 0) return true;
    throw unsupported('hollow', 'stdin');
  }
  async resize(): Promise<void> {}
  /** A hollow VM has no guest to measure or list. */
  async stats(): Promise<never> {
    throw unsupported('hollow', 'stats (hollow VMs have no guest)');
  }
  async processes(): Promise<never> {
    throw unsupported('hollow', 'top (hollow VMs run no processes)');
  }
  async signalProcess(container: string, signal: number): Promise<void> {
    return this.signal(container, signal);
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private exitLater(container: string, code: number, ms: number) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.listener?.(container, code);
    }, ms);
    this.timers.add(t);
  }
}
