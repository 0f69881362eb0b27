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
import type { Capabilities, Device, Driver, FoundVm, GuestChannel, PreparedImage, Vm, VmConfig, VmOrigin } from '../driver.js';
import { attachQemu, BootError, launchQemu, tailOf, type QemuVm } from './launch.js';
import { isQemuOf, onPath, pssKb, readPid, waitGone } from './process.js';
import { readVmState, STATE_FORMAT, writeVmState, type VmState } from './state-file.js';
import { QmpClient } from './qmp.js';
import { ensureFenceGuard, fencedBecause } from './fencing.js';
import type { ImageStore, StoredImage } from '../../images/store.js';
import { DISK_SLOTS, SHARE_SLOTS, shareSlots, SLOT_BYTES, VOLUME_SLOTS, volumeSlots, type Template, type TemplateLayout, type TemplateStore } from './template.js';
import { VmPool, type PoolSize } from './pool.js';
import { SpareQemus } from './spare.js';
import { randomUUID } from 'node:crypto';

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
  /** VM templates pods start from (null or absent: every VM boots cold). */
  templates?: TemplateStore | null;
  /** One template per layout for every tenant, instead of one per tenant (see the README's side-channel note). */
  shareTemplates?: boolean;
  /**
   * Whether a missing template is made when a pod needs one (hyperd --templates), or only templates made ahead of time
   * (hyper template build) are used.
   */
  buildTemplates?: boolean;
  /** Sizes of VMs to keep ready as paused clones (hyperd --pool; needs templates): tried before a template is restored. */
  poolSizes?: PoolSize[];
  /** Told when the pool could not make a VM. */
  onPoolFailed?: (why: string) => void;
  /** Keep a QEMU started ahead for each template in use, so a restore skips QEMU's start (default true; hyperd --no-spare-qemu). */
  spareQemus?: boolean;
  /** Told when a VM booted cold though templates are on, and why (the daemon logs it; the fact records it too). */
  onColdBoot?: (vm: string, why: string) => void;
  /** Told when a template made ahead of time (prepare) could not be built. */
  onTemplateFailed?: (why: string) => void;
}

/** Whose templates a pod of `tenant` starts from: its tenant's, or everyone's with hyperd --share-templates. */
function templateTenant(o: QemuDriverOptions, tenant: string | undefined): string | null {
  return o.shareTemplates ? null : (tenant ?? 'default');
}

const QEMU_BINARY = 'qemu-system-x86_64';

/** hyperd acknowledges output only once it is stored, and releases an exit only once it is recorded. */
const DURABLE = { autoAck: false, autoRelease: false } as const;

export class QemuDriver implements Driver {
  readonly name = 'qemu';
  static readonly capabilities: Capabilities = { reattach: true, isolation: true, maxCpus: 64, maxMemoryMb: Math.floor(totalmem() / 1024 / 1024) };
  readonly capabilities = QemuDriver.capabilities;

  private readonly pool: VmPool | null;
  private readonly spares: SpareQemus | null;

  constructor(private readonly o: QemuDriverOptions) {
    this.pool = o.templates && o.poolSizes?.length
      ? new VmPool({
        dir: join(o.runDir, '..', 'pool'), templates: o.templates, tenant: templateTenant(o, undefined), sizes: o.poolSizes,
        launch: { kernel: o.kernel, initrd: o.initrd, accel: o.accel, binary: QEMU_BINARY, agent: DURABLE, bootTimeoutMs: o.bootTimeoutMs },
        log: (why) => o.onPoolFailed?.(why),
      })
      : null;
    this.spares = o.templates && o.spareQemus !== false
      ? new SpareQemus({
        dir: join(o.runDir, '..', 'spare'),
        launch: { kernel: o.kernel, initrd: o.initrd, accel: o.accel, binary: QEMU_BINARY, agent: DURABLE, bootTimeoutMs: o.bootTimeoutMs },
        log: (why) => o.onPoolFailed?.(why),
      })
      : null;
  }

  createVm(config: VmConfig): Vm {
    return new QemuPodVm(config, this.o, this.pool, this.spares);
  }

  /** The memory the pool's paused VMs may come to use (the host offers that much less to pods). */
  get reservedMemoryMb(): number {
    return this.pool?.reservedMb() ?? 0;
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

  async measureMemory(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let names: string[];
    try {
      names = readdirSync(this.o.runDir);
    } catch {
      return out;
    }
    await Promise.all(names.map(async (id) => {
      const dir = join(this.o.runDir, id);
      const pid = readPid(join(dir, 'qemu.pid'));
      if (pid === null || !isQemuOf(pid, dir)) return;
      const kb = await pssKb(pid);
      if (kb !== null) out.set(id, Math.ceil(kb / 1024));
    }));
    return out;
  }

  prepare(layout: { cpus: number; memoryMb: number; nic: boolean }): void {
    this.pool?.start();
    this.spares?.start();
    const store = this.o.templates;
    if (!store || !this.o.buildTemplates) return;
    const tenant = templateTenant(this.o, undefined);
    void store.ensure(layout, tenant, { timeoutMs: this.o.bootTimeoutMs }).catch((err) => this.o.onTemplateFailed?.(`the template for the default size (${layout.cpus} vCPU / ${layout.memoryMb} MB) could not be built, so pods of that size boot cold: ${(err as Error).message.split('\n')[0]}`));
  }

  guardFencing(leaseFile: string): void {
    mkdirSync(this.o.runDir, { recursive: true });
    ensureFenceGuard(this.o.runDir, leaseFile);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool?.close(), this.spares?.close()]);
  }

  async attach(found: FoundVm, o: { timeoutMs?: number } = {}): Promise<Vm> {
    const dir = join(this.o.runDir, found.id);
    const st = readVmState(dir);
    if (!st.ok) throw new DriverError('attach', `cannot re-attach to vm ${found.id}: ${st.why}`);
    const deadline = Date.now() + (o.timeoutMs ?? 10_000);
    const { qemu, held, resync, tooOld } = await resyncAgent(dir, st.state.pid, deadline);
    const vm = new QemuPodVm({ id: st.state.vm, podId: st.state.pod, run: st.state.run, cpus: st.state.cpus, memoryMb: st.state.memoryMb, labels: {}, images: [] }, this.o, null);
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
 * Connects to a VM's QMP and agent sockets and resyncs the agent. A resync that goes unanswered is retried on a fresh
 * connection until the deadline: the guest may still be booting, or its reply may be held in QEMU (7.2 unthrottles a
 * virtio-serial port whose chardev write failed when the chardev closes, never when it opens). One attempt alone once
 * timed out in CI (shutdown.test.ts), on a VM the test had left idle.
 */
export async function resyncAgent(dir: string, pid: number, deadline: number): Promise<{ qemu: QemuVm; held: HeldEvents; resync: ResyncResult | null; tooOld: AgentTooOldError | null }> {
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
    private readonly pool: VmPool | null,
    private readonly spares: SpareQemus | null = null,
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

  /**
   * The template this VM can start from, or why it boots cold. A missing template is made in the background for the
   * pods after this one (this one does not wait for it).
   */
  private pickTemplate(store: TemplateStore, disks: string[]): { template: Template; layout: TemplateLayout; tenant: string | null } | { why: string | null } {
    const binds = (this.config.volumes ?? []).length;
    if (binds > SHARE_SLOTS) return { why: `the pod binds ${binds} host directories; templates have ${SHARE_SLOTS} share slots` };
    const named = this.devices.filter((d) => d.kind === 'volume');
    if (named.length > VOLUME_SLOTS) return { why: `the pod mounts ${named.length} named volumes; templates have ${VOLUME_SLOTS} volume slots` };
    // a template's volume slots are writable disks: a read-only one must be read-only in QEMU, so it is given at a cold boot
    const ro = named.find((d) => d.readonly);
    if (ro) return { why: `named volume ${ro.name} is mounted read-only (a template's volume slots are writable)` };
    const bigVolume = named.find((d) => statSync(d.path).size > SLOT_BYTES);
    if (bigVolume) return { why: `named volume ${bigVolume.name} is larger than a template slot (${SLOT_BYTES / 1024 ** 3} GiB)` };
    if (disks.length > DISK_SLOTS) return { why: `the pod uses ${disks.length} images; templates have ${DISK_SLOTS} disk slots` };
    const big = disks.find((d) => statSync(d).size > SLOT_BYTES);
    if (big) return { why: `image disk ${big} is larger than a template slot (${SLOT_BYTES / 1024 ** 3} GiB)` };
    const layout: TemplateLayout = { cpus: this.config.cpus, memoryMb: this.config.memoryMb, nic: Boolean(this.config.nic), ...(binds || named.length ? { slots: true } : {}) };
    const tenant = templateTenant(this.o, this.config.tenant);
    const t = store.find(layout, tenant);
    if (t) return { template: t, layout, tenant };
    const failed = store.failed.get(store.keyOf(layout, tenant));
    const what = `the template for ${layout.cpus} vCPU / ${layout.memoryMb} MB${layout.slots ? ' with share and volume slots' : ''}`;
    if (failed) return { why: `${what} could not be built: ${failed}` };
    if (!this.o.buildTemplates) return { why: null };
    const was = store.isBuilding(layout, tenant);
    void store.ensure(layout, tenant, { timeoutMs: this.o.bootTimeoutMs }).catch(() => {});
    return { why: `${what}${tenant ? ` (tenant ${tenant})` : ''} is ${was ? 'still being' : 'now being'} built` };
  }

  async boot(signal: AbortSignal): Promise<{ vmmMs: number; guestMs: number; origin: VmOrigin; template?: string; why?: string }> {
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
    const binary = QEMU_BINARY;
    const base = {
      kernel: this.o.kernel, initrd: this.o.initrd, workDir: this.workDir, accel: this.o.accel, binary,
      cpus: this.config.cpus, memoryMb: this.config.memoryMb, shares, volumes: vols, nic: this.config.nic, bootTimeoutMs: this.o.bootTimeoutMs, agent: DURABLE,
      onSpawned: (pid: number) => this.record(pid, onPath(binary) ?? binary),
    };
    const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    aborted.catch(() => {});
    const run = async <T extends QemuVm | null>(launching: Promise<T>): Promise<T> => {
      try {
        return await Promise.race([launching, aborted]);
      } catch (err) {
        void launching.then((vm) => vm?.kill(), () => {});
        throw err;
      }
    };
    // QEMU's command line names the tap: a VM started here waits until it is made (a pooled VM or a spare plugs it later)
    const tapMade = this.config.nicReady ?? Promise.resolve();
    // a tap that could not be made fails the boot as it is: never blamed on a pooled VM or a template
    let tapFailed: Error | null = null;
    tapMade.catch((err: Error) => (tapFailed = err));
    const store = this.o.templates;
    const picked = store ? this.pickTemplate(store, disks) : null;
    // a cold boot is explained only where templates were asked for (made on need, or a template made ahead of time)
    let why = picked && 'why' in picked ? (picked.why ?? undefined) : undefined;
    let origin: VmOrigin = 'cold';
    let template: string | undefined;
    // a pooled VM or a spare QEMU was started with empty share and volume slots, which only a command line can fill
    const slotsOnly = shares.length === 0 && vols.length === 0;
    const pool = slotsOnly ? this.pool : null;
    if (pool && picked && 'template' in picked) {
      try {
        const taken = await run(pool.take(picked.layout, picked.tenant, { workDir: this.workDir, disks, nic: this.config.nic, nicReady: this.config.nicReady, bootId: randomUUID(), onTaken: (pid) => this.record(pid, onPath(binary) ?? binary) }).then((r) => r?.vm ?? null));
        if (taken) {
          this.qemu = taken;
          origin = 'pool';
          template = picked.template.key;
        }
      } catch (err) {
        if (signal.aborted || tapFailed) {
          this.cleanup();
          throw tapFailed ?? err;
        }
        // the pooled clone failed: this pod restores its own
        this.o.onColdBoot?.(this.config.id, `a pooled VM failed (${(err as Error).message.split('\n')[0]}); restoring the template instead`);
        rmSync(this.workDir, { recursive: true, force: true });
      }
    }
    if (!this.qemu && store && picked && 'template' in picked) {
      const t = picked.template;
      // the template's slots, in its order: the pod's disks first, the placeholder in the rest
      const slots = [...disks, ...Array.from({ length: DISK_SLOTS - disks.length }, () => t.placeholder)];
      try {
        // a QEMU started ahead for this template, else one started now (a spare that fails when taken fails as a restore)
        const spare = this.spares && slotsOnly ? await run(this.spares.take(t, { workDir: this.workDir, disks, nic: this.config.nic, nicReady: this.config.nicReady, bootId: randomUUID(), onTaken: (pid) => this.record(pid, onPath(binary) ?? binary) })) : null;
        // the pod's directories and volumes in the template's share and volume slots, the template's empty ones in the rest
        const filled = t.layout.slots ? { shares: shareSlots(shares.map((x) => x.path), t.shareDir), volumes: volumeSlots(vols, this.workDir) } : {};
        this.qemu = spare ?? await run<QemuVm>(tapMade.then(() => launchQemu({ ...base, disks: slots, ...filled, memoryFile: { path: t.ramFile, share: false }, restore: { stateFile: t.stateFile, bootId: randomUUID() } })));
        // the guest named the volume slots at the template's boot: after every image slot
        let v = 0;
        for (const d of this.devices) if (d.kind === 'volume') d.guestPath = `/dev/vd${String.fromCharCode(97 + DISK_SLOTS + v++)}`;
        origin = 'template';
        template = t.key;
      } catch (err) {
        if (signal.aborted || tapFailed) {
          this.cleanup();
          throw tapFailed ?? err;
        }
        // a template that cannot be restored is made again for the next pods; this one boots cold
        const said = err instanceof BootError && err.qemuSaid ? `${err.what}; qemu said: ${err.qemuSaid}` : (err as Error).message.split('\n')[0];
        why = `restoring template ${t.key} failed, so it is removed and made again: ${said}`;
        store.remove(t.key);
        void store.ensure(t.layout, t.tenant, { timeoutMs: this.o.bootTimeoutMs }).catch(() => {});
        rmSync(this.workDir, { recursive: true, force: true });
      }
    }
    if (!this.qemu) {
      if (why) this.o.onColdBoot?.(this.config.id, why);
      try {
        this.qemu = await run<QemuVm>(tapMade.then(() => launchQemu({ ...base, disks })));
      } catch (err) {
        this.cleanup();
        throw err;
      }
    }
    this.held = new HeldEvents(this.qemu.agent);
    this.watch(this.qemu);
    return { vmmMs: Math.round(this.qemu.vmmMs), guestMs: Math.round(this.qemu.readyMs - this.qemu.vmmMs), origin, ...(template ? { template } : {}), ...(why ? { why } : {}) };
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
    // a VM restored from a template has the template's MAC: its guest is given its own (the same, for a cold boot)
    const nic = this.devices.find((d) => d.kind === 'nic');
    return new AgentChannel(this.qemu.agent, this.held, images, this.resync, this.tooOld, shares, nic?.kind === 'nic' ? nic.mac : undefined);
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
