// The QEMU driver: each pod VM is a QEMU microvm booted with our kernel and agent, detached from hyperd and recorded in its
// work dir, so a restarted daemon re-attaches; each image a pod uses is attached once as a read-only EROFS disk.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { VolumeStore } from '../../volumes/store.js';
import { DriverError } from '../../errors.js';
import { AgentTooOldError, type ResyncResult } from '../../guest/agent-client.js';
import { AgentChannel, HeldEvents } from './agent-channel.js';
import { PROTOCOL_VERSION } from '../../guest/wire.js';
import type { Capabilities, Device, Driver, FoundVm, GuestChannel, PreparedImage, Vm, VmConfig } from '../driver.js';
import { attachQemu, launchQemu, tailOf, type QemuVm } from './launch.js';
import { isQemuOf, onPath, readPid, waitGone } from './process.js';
import { readVmState, STATE_FORMAT, writeVmState, type VmState } from './state-file.js';
import { QmpClient } from './qmp.js';
import { ensureFenceGuard, fencedBecause } from './fencing.js';
import type { ImageStore, StoredImage } from '../../images/store.js';

export interface QemuDriverOptions {
  kernel: string;
  initrd: string;
  accel: 'kvm' | 'tcg';
  /** Per-VM work directories (sockets, pidfile, console log, state file) go here; this driver touches nothing else. */
  runDir: string;
  /** Pulls images a pod needs if they are missing; names their EROFS disks and configs. */
  images: Pick<ImageStore, 'ensure' | 'get' | 'find'>;
  /** Named volumes (made on first use). */
  volumes?: VolumeStore;
  bootTimeoutMs?: number;
}

/** hyperd acknowledges output only once it is stored, and releases an exit only once it is recorded. */
const DURABLE = { autoAck: false, autoRelease: false } as const;

export class QemuDriver implements Driver {
  readonly name = 'qemu';
  static readonly capabilities: Capabilities = { reattach: true, isolation: true, maxCpus: 64, maxMemoryMb: Math.floor(totalmem() / 1024 / 1024) };
  readonly capabilities = QemuDriver.capabilities;

  constructor(private readonly o: QemuDriverOptions) {}

  createVm(config: VmConfig): Vm {
    return new QemuPodVm(config, this.o);
  }

  async list(): Promise<FoundVm[]> {
    let names: string[];
    try {
      names = readdirSync(this.o.runDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
    return names.map((id) => {
      const dir = join(this.o.runDir, id);
      const st = readVmState(dir);
      const pid = readPid(join(dir, 'qemu.pid')) ?? (st.ok ? st.state.pid : null);
      const alive = pid !== null && isQemuOf(pid, dir);
      const found: FoundVm = { id, pod: st.ok ? st.state.pod : null, run: st.ok ? st.state.run : null, alive };
      if (!st.ok) found.why = st.why;
      else if (!alive) found.why = fencedBecause(dir) ?? `QEMU${pid ? ` (pid ${pid})` : ''} is gone${consoleSummary(dir)}`;
      return found;
    });
  }

  guardFencing(leaseFile: string): void {
    mkdirSync(this.o.runDir, { recursive: true });
    ensureFenceGuard(this.o.runDir, leaseFile);
  }

  async attach(found: FoundVm, o: { timeoutMs?: number } = {}): Promise<Vm> {
    const dir = join(this.o.runDir, found.id);
    const st = readVmState(dir);
    if (!st.ok) throw new DriverError('attach', `cannot re-attach to vm ${found.id}: ${st.why}`);
    const deadline = Date.now() + (o.timeoutMs ?? 10_000);
    const { qemu, held, resync, tooOld } = await resyncAgent(dir, st.state.pid, deadline);
    const vm = new QemuPodVm({ id: st.state.vm, podId: st.state.pod, run: st.state.run, cpus: st.state.cpus, memoryMb: st.state.memoryMb, labels: {}, images: [] }, this.o);
    vm.adopt(qemu, held, st.state.devices, resync, tooOld);
    return vm;
  }

  async destroy(found: FoundVm): Promise<void> {
    const dir = join(this.o.runDir, found.id);
    const pid = readPid(join(dir, 'qemu.pid'));
    if (found.alive && pid && isQemuOf(pid, dir)) {
      // QMP quit first (QEMU exits at once); SIGKILL if QEMU cannot answer
      await QmpClient.connect(join(dir, 'qmp.sock'), { timeoutMs: 1_000 }).then((q) => q.execute('quit', undefined, 1_000).catch(() => {}).finally(() => q.close()), () => {});
      if (!(await waitGone(pid, 2_000))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
        if (!(await waitGone(pid, 3_000))) throw new DriverError('destroy', `QEMU pid ${pid} of ${dir} is still alive 3 s after SIGKILL`);
      }
    }
    // its tap, if it had one (a VM no run owns: no pod runner will remove it)
    const st = readVmState(dir);
    for (const dev of st.ok ? st.state.devices : []) if (dev.kind === 'nic' && dev.mode === 'tap') execFile('ip', ['link', 'del', dev.tap], () => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a dead VM left behind: QEMU's last words and the guest console's last lines. */
function consoleSummary(dir: string): string {
  const err = tailOf(join(dir, 'qemu.log'), 5);
  const con = tailOf(join(dir, 'console.log'), 5);
  return `${err ? `; qemu said:\n${err}` : ''}${con ? `\nguest console:\n${con}` : ''}`;
}

/**
 * Connects to a VM's QMP and agent sockets and resyncs the agent. A resync that goes unanswered (the guest had not yet
 * noticed the old host left, or is still booting) is retried on a fresh connection until the deadline.
 */
async function resyncAgent(dir: string, pid: number, deadline: number): Promise<{ qemu: QemuVm; held: HeldEvents; resync: ResyncResult | null; tooOld: AgentTooOldError | null }> {
  for (let attempt = 1; ; attempt++) {
    const qemu = await attachQemu(dir, pid, { agent: DURABLE, timeoutMs: Math.max(1_000, deadline - Date.now()) });
    // the agent resends unacknowledged output right after its resync reply: hold it until the host's actors listen
    const held = new HeldEvents(qemu.agent);
    try {
      const resync = await qemu.agent.resync(Math.max(500, Math.min(3_000, deadline - Date.now())));
      return { qemu, held, resync, tooOld: null };
    } catch (err) {
      if (err instanceof AgentTooOldError) return { qemu, held, resync: null, tooOld: err };
      qemu.detach();
      if (Date.now() >= deadline) throw new DriverError('attach', `the agent of the VM in ${dir} did not answer a resync (${attempt} attempts): ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

class QemuPodVm implements Vm {
  private qemu: QemuVm | null = null;
  private held: HeldEvents | null = null;
  private exitListener: ((reason: string) => void) | null = null;
  private letGo = false;
  private devices: Device[] = [];
  private resync: ResyncResult | null = null;
  private tooOld: AgentTooOldError | null = null;

  constructor(
    private readonly config: VmConfig,
    private readonly o: QemuDriverOptions,
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
    const byId = new Map<string, string>();
    this.devices = [];
    for (const ref of this.config.images) {
      const image = this.o.images.get(ref);
      let guestPath = byId.get(image.id);
      if (!guestPath) {
        guestPath = `/dev/vd${String.fromCharCode(97 + byId.size)}`;
        byId.set(image.id, guestPath);
      }
      this.devices.push({ kind: 'disk', path: image.diskPath, readonly: true, image: ref, imageId: image.id, guestPath });
    }
    const disks = [...new Map(this.devices.filter((d) => d.kind === 'disk').map((d) => [d.guestPath, d.path])).values()];
    if (this.config.nic) this.devices.push(this.config.nic);
    // each host directory a container mounts is one 9p share, whatever number of containers mount it
    (this.config.volumes ?? []).forEach((path, i) => {
      let st;
      try {
        st = statSync(path);
      } catch {
        throw new DriverError('no-volume', `volume ${path} does not exist on this host: create it, or bind another directory`);
      }
      if (!st.isDirectory()) throw new DriverError('no-volume', `volume ${path} is not a directory: only directories can be bound (9p shares)`);
      this.devices.push({ kind: 'share', tag: `vol${i}`, path });
    });
    const shares = this.devices.filter((d) => d.kind === 'share').map((d) => ({ tag: d.tag, path: d.path }));
    // named volumes: disks after the images' (made with the default size on first use, as docker run -v NAME: does)
    const volumes = this.o.volumes;
    for (const v of this.config.namedVolumes ?? []) {
      if (!volumes) throw new DriverError('no-volume', `volume ${v.name}: this driver has no volume store`);
      const vol = await volumes.ensure(this.config.tenant ?? 'default', v.name);
      this.devices.push({ kind: 'volume', name: v.name, path: vol.path, readonly: v.readonly, guestPath: `/dev/vd${String.fromCharCode(97 + disks.length + this.devices.filter((d) => d.kind === 'volume').length)}` });
    }
    const vols = this.devices.filter((d) => d.kind === 'volume').map((d) => ({ path: d.path, readonly: d.readonly }));
    const binary = 'qemu-system-x86_64';
    const launching = launchQemu({
      kernel: this.o.kernel, initrd: this.o.initrd, workDir: this.workDir, accel: this.o.accel, binary,
      cpus: this.config.cpus, memoryMb: this.config.memoryMb, disks, shares, volumes: vols, nic: this.config.nic, bootTimeoutMs: this.o.bootTimeoutMs, agent: DURABLE,
      onSpawned: (pid) => this.record(pid, onPath(binary) ?? binary),
    });
    const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    try {
      this.qemu = await Promise.race([launching, aborted]);
    } catch (err) {
      void launching.then((vm) => vm.kill(), () => {});
      this.cleanup();
      throw err;
    }
    this.held = new HeldEvents(this.qemu.agent);
    this.watch(this.qemu);
    return { vmmMs: Math.round(this.qemu.vmmMs), guestMs: Math.round(this.qemu.readyMs - this.qemu.vmmMs) };
  }

  /** Takes over a VM a previous daemon started (QemuDriver.attach). */
  adopt(qemu: QemuVm, held: HeldEvents, devices: Device[], resync: ResyncResult | null, tooOld: AgentTooOldError | null): void {
    this.qemu = qemu;
    this.held = held;
    this.devices = devices;
    this.resync = resync;
    this.tooOld = tooOld;
    this.watch(qemu);
  }

  private record(pid: number, binary: string): void {
    const s: VmState = {
      format: STATE_FORMAT, driver: 'qemu', vm: this.config.id, pod: this.config.podId, run: this.config.run, createdAt: Date.now(), pid, binary,
      cpus: this.config.cpus, memoryMb: this.config.memoryMb, agentProtocol: PROTOCOL_VERSION, devices: this.devices,
    };
    writeVmState(this.workDir, s);
  }

  private watch(qemu: QemuVm): void {
    void qemu.exited.then(() => {
      if (this.letGo) return;
      this.exitListener?.(`qemu ${qemu.howExited()}; guest console:\n${qemu.consoleTail(10) || '(empty)'}`);
      this.cleanup();
    });
  }

  async connectAgent(): Promise<GuestChannel> {
    if (!this.qemu || !this.held) throw new DriverError('state', `vm ${this.id} is not booted`);
    const images = new Map<string, { device: string; image: StoredImage | null }>();
    for (const d of this.devices) {
      if (d.kind !== 'disk') continue;
      let image: StoredImage | null = null;
      try {
        image = this.o.images.get(d.imageId);
      } catch {}
      images.set(d.image, { device: d.guestPath, image });
    }
    const shares = new Map(this.devices.filter((d) => d.kind === 'share').map((d) => [d.path, d.tag]));
    for (const d of this.devices) if (d.kind === 'volume') shares.set(d.name, d.guestPath);
    return new AgentChannel(this.qemu.agent, this.held, images, this.resync, this.tooOld, shares);
  }

  async stop(graceMs: number): Promise<void> {
    this.letGo = true;
    await this.qemu?.stop(Math.max(graceMs, 500));
    this.cleanup();
  }

  detach(): void {
    this.letGo = true;
    this.qemu?.detach();
  }

  onExit(listener: (reason: string) => void): void {
    this.exitListener = listener;
  }

  private cleanup(): void {
    rmSync(this.workDir, { recursive: true, force: true });
  }
}
