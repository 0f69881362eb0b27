// The QEMU driver: each pod VM is a QEMU microvm booted with our kernel and agent; each image a pod uses is attached once as
// a read-only EROFS disk from the image store, and every container gets its own writable layer over it in the guest.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DriverError } from '../../errors.js';
import type { AgentClient } from '../../guest/agent-client.js';
import type { Capabilities, ContainerLaunch, Driver, GuestChannel, PreparedImage, Vm, VmConfig } from '../driver.js';
import { launchQemu, type QemuVm } from './launch.js';
import { resolveProcess } from '../../images/image-config.js';
import type { ImageStore, StoredImage } from '../../images/store.js';

export interface QemuDriverOptions {
  kernel: string;
  initrd: string;
  accel: 'kvm' | 'tcg';
  /** Per-VM work directories (agent socket, console log) go here. */
  runDir: string;
  /** Pulls images a pod needs if they are missing; names their EROFS disks and configs. */
  images: Pick<ImageStore, 'ensure' | 'get' | 'find'>;
  bootTimeoutMs?: number;
}

export class QemuDriver implements Driver {
  readonly name = 'qemu';
  readonly capabilities: Capabilities = { survivesDaemonRestart: false, isolation: true, snapshotRestore: false, cpuHotplug: false };
  private readonly vms = new Map<string, QemuPodVm>();

  constructor(private readonly o: QemuDriverOptions) {}

  createVm(config: VmConfig): Vm {
    const vm = new QemuPodVm(config, this.o, () => this.vms.delete(config.id));
    this.vms.set(config.id, vm);
    return vm;
  }

  async list(): Promise<string[]> {
    return [...this.vms.keys()];
  }
}

class QemuPodVm implements Vm {
  private qemu: QemuVm | null = null;
  private exitListener: ((reason: string) => void) | null = null;
  private stopping = false;
  private readonly images = new Map<string, { device: string; image: StoredImage }>();

  constructor(
    private readonly config: VmConfig,
    private readonly o: QemuDriverOptions,
    private readonly forget: () => void,
  ) {}

  get id() {
    return this.config.id;
  }

  private get workDir() {
    return join(this.o.runDir, this.config.id);
  }

  async prepare(onProgress: (message: string) => void, onPulling?: (image: string) => Promise<void>): Promise<PreparedImage[]> {
    const prepared: PreparedImage[] = [];
    for (const ref of this.config.images) {
      const t0 = performance.now();
      if (!this.o.images.find(ref)) await onPulling?.(ref);
      const r = await this.o.images.ensure(ref, { onProgress });
      prepared.push({ image: ref, id: r.image.id, pulled: r.pulled, converted: r.converted, ms: Math.round(performance.now() - t0) });
    }
    return prepared;
  }

  async boot(signal: AbortSignal): Promise<{ vmmMs: number; guestMs: number }> {
    // one disk per distinct image, however many containers use it: /dev/vda, /dev/vdb, … in attach order
    const disks: string[] = [];
    const byId = new Map<string, string>();
    for (const ref of this.config.images) {
      const image = this.o.images.get(ref);
      let device = byId.get(image.id);
      if (!device) {
        device = `/dev/vd${String.fromCharCode(97 + disks.length)}`;
        byId.set(image.id, device);
        disks.push(image.diskPath);
      }
      this.images.set(ref, { device, image });
    }
    const launching = launchQemu({
      kernel: this.o.kernel, initrd: this.o.initrd, workDir: this.workDir, accel: this.o.accel,
      cpus: this.config.cpus, memoryMb: this.config.memoryMb, disks, bootTimeoutMs: this.o.bootTimeoutMs,
    });
    const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    try {
      this.qemu = await Promise.race([launching, aborted]);
    } catch (err) {
      void launching.then((vm) => vm.kill(), () => {});
      this.cleanup();
      throw err;
    }
    const qemu = this.qemu;
    void qemu.exited.then((code) => {
      if (this.stopping) return;
      const how = qemu.proc.signalCode ? `was killed by ${qemu.proc.signalCode}` : `exited with code ${code}`;
      this.exitListener?.(`qemu ${how}; guest console:\n${qemu.consoleTail(10) || '(empty)'}`);
      this.cleanup();
    });
    return { vmmMs: Math.round(qemu.vmmMs), guestMs: Math.round(qemu.readyMs - qemu.vmmMs) };
  }

  async connectAgent(): Promise<GuestChannel> {
    if (!this.qemu) throw new DriverError('state', `vm ${this.id} is not booted`);
    return new AgentChannel(this.qemu.agent, this.images);
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    await this.qemu?.stop(Math.max(graceMs, 500));
    this.cleanup();
  }

  onExit(listener: (reason: string) => void): void {
    this.exitListener = listener;
  }

  private cleanup(): void {
    this.forget();
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

/** The guest agent behind the driver-neutral GuestChannel: containers start from their image's EROFS disk plus a writable layer. */
class AgentChannel implements GuestChannel {
  readonly version: string;

  constructor(
    private readonly agent: AgentClient,
    private readonly images: Map<string, { device: string; image: StoredImage }>,
  ) {
    this.version = `hyper-agent/${agent.ready?.version ?? 1}`;
  }

  async configurePod(o: { hostname: string }): Promise<void> {
    await this.agent.startPod({ hostname: o.hostname });
  }

  async startContainer(c: ContainerLaunch): Promise<{ pid: number }> {
    const shared = this.images.get(c.image);
    if (!shared) throw new DriverError('no-image', `image ${c.image} was not attached to this VM`);
    const p = resolveProcess(shared.image.config, c);
    if (p.argv.length === 0) throw new DriverError('no-command', `container ${c.name}: image ${c.image} has no Entrypoint or Cmd — give a command after the image`);
    const pid = await this.agent.startContainer(c.name, { kind: 'block', source: shared.device, fstype: 'erofs' }, { args: p.argv, env: p.env, cwd: p.cwd, user: p.user, tty: c.tty });
    return { pid };
  }

  signal(container: string, signal: number): Promise<void> {
    return this.agent.signal(container, signal).then(() => undefined);
  }

  onContainerExit(listener: (container: string, exitCode: number) => void): void {
    this.agent.onExit(listener);
  }

  onContainerOutput(listener: (container: string, stream: 1 | 2, data: Uint8Array) => void): void {
    this.agent.onOutput(listener);
  }

  close(): void {}
}
