// A pool of VMs restored from a template and left paused, per size and tenant (hyperd --pool [TENANT:]SIZE=N): a pod takes one, its disk
// slots and NIC are given the pod's backends, and it runs on at once, with no QEMU start or restore on the pod's path.
// The pool refills in the background; its VMs never outlive the daemon (a pod's VM does: it moves into the pod's work dir).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Device } from '../driver.js';
import { finishLaunch, plugDisks, plugNic, startQemu, warmUp, type QemuOptions, type QemuVm, type StartedQemu } from './launch.js';
import { isQemuOf, readPid, setNice, SPAWNED_IN } from './process.js';
import { DISK_SLOTS, emptySlots, TEMPLATE_MAC, type Template, type TemplateLayout, type TemplateStore } from './template.js';
import { ValidationError } from '../../errors.js';
import { tenantName } from '../../events/schemas/envelope.js';

export interface PoolSize extends TemplateLayout {
  /** VMs kept ready. */
  count: number;
  /** Whose pods take them (clones of that tenant's template); absent: the pool's own tenant (the default one, or all with shared templates). */
  tenant?: string;
}

/** Parses `[TENANT:][CPUSx]MB=N` (hyperd --pool 256=4, --pool 2x512=2, --pool acme:256=2): N paused VMs of that size, with a NIC. */
export function parsePoolSize(v: string): PoolSize {
  const m = /^(?:([^:=]+):)?(?:(\d+)x)?(\d+)=(\d+)$/.exec(v.trim());
  const bad = (message: string) => new ValidationError('hyperd --pool', [{ path: '--pool', message }]);
  if (!m) throw bad(`"${v}" is not [TENANT:][CPUSx]MB=N (e.g. 256=4: four 1-vCPU VMs of 256 MB; 2x512=2; acme:256=2 for tenant acme's pods)`);
  const tenant = m[1];
  if (tenant !== undefined && !tenantName.safeParse(tenant).success) throw bad(`"${tenant}" is not a tenant name (lower-case letters, digits and dashes, starting with a letter)`);
  const cpus = Number(m[2] ?? 1);
  const memoryMb = Number(m[3]);
  const count = Number(m[4]);
  if (cpus < 1 || cpus > 64) throw bad(`${cpus} vCPUs: from 1 to 64`);
  if (memoryMb < 64) throw bad(`${memoryMb} MB: at least 64`);
  if (count < 1 || count > 256) throw bad(`${count} VMs: from 1 to 256`);
  return { cpus, memoryMb, nic: true, count, ...(tenant !== undefined ? { tenant } : {}) };
}

/** One paused clone, ready to be taken (or a spare QEMU, its state loaded but its guest never run: spare.ts). */
export interface Pooled {
  dir: string;
  started: StartedQemu;
  template: Template;
}

/** What a pod gives the VM it takes: its work dir (the pooled VM's moves there), images for the slots, its NIC. */
export interface TakeRequest {
  workDir: string;
  disks: string[];
  nic?: Extract<Device, { kind: 'nic' }>;
  /** The NIC's tap is made (VmConfig.nicReady): the guest resumes meanwhile, the NIC is plugged once it is. */
  nicReady?: Promise<void>;
  bootId: string;
  /** Told the pid once the VM is the pod's, so the pod's state file records it before the guest runs. */
  onTaken(pid: number): void;
}

export interface PoolOptions {
  dir: string;
  templates: TemplateStore;
  /** Whose template the VMs of a size that names no tenant are clones of (null: the shared one). */
  tenant: string | null;
  sizes: PoolSize[];
  /** What every VM is launched with (kernel, initrd, accelerator, binary, agent options, boot timeout). */
  launch: Pick<QemuOptions, 'kernel' | 'initrd' | 'accel' | 'binary' | 'agent' | 'bootTimeoutMs'>;
  log?: (msg: string, err?: unknown) => void;
}

/**
 * The nice value a pooled VM is made and kept at (its QEMU's every thread): filling the pool is background work and must not
 * slow the pods starting meanwhile (measured: a refill at the same priority as the pod that took the last VM). A taken VM is
 * its pod's and goes back to 0 — which needs root, so an unprivileged daemon leaves its pool at 0.
 */
export const POOL_NICE = 10;
export const mayRenice = process.getuid?.() === 0;

/** A pool's list: the tenant whose template its VMs are clones of (null: the shared one), and the size. */
const poolKey = (tenant: string | null, l: TemplateLayout) => `${tenant ?? '*'}/${l.cpus}x${l.memoryMb}${l.nic ? '' : '-nonic'}`;

export class VmPool {
  private readonly ready = new Map<string, Pooled[]>();
  private readonly filling = new Map<string, number>();
  private closed = false;

  constructor(private readonly o: PoolOptions) {}

  private tenantOf(size: PoolSize): string | null {
    return size.tenant ?? this.o.tenant;
  }

  private keyOf(size: PoolSize): string {
    return poolKey(this.tenantOf(size), size);
  }

  /** Stops what a previous daemon's pool left (paused clones nobody will take), then fills the pool. */
  start(): void {
    sweep(this.o.dir);
    for (const s of this.o.sizes) this.refill(s);
  }

  /** The memory the pool's VMs may use: the host offers that much less to pods. */
  reservedMb(): number {
    return this.o.sizes.reduce((n, s) => n + s.count * s.memoryMb, 0);
  }

  /**
   * A ready VM of this size for a pod of `tenant`, given the pod's disks and NIC and running, or null (none ready, another
   * tenant's template, or more disks than slots): the caller then restores or boots one itself.
   */
  async take(layout: TemplateLayout, tenant: string | null, r: TakeRequest): Promise<{ vm: QemuVm; template: Template } | null> {
    if (r.disks.length > DISK_SLOTS) return null;
    const k = poolKey(tenant, layout);
    const size = this.o.sizes.find((s) => this.keyOf(s) === k);
    const list = this.ready.get(k);
    if (!size || !list?.length) return null;
    const p = list.shift()!;
    this.refill(size);
    return { vm: await handOver(p, r), template: p.template };
  }

  /** Stops every VM still in the pool (the daemon stops: a paused clone is worth nothing to the next one). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.ready.values()].flat();
    this.ready.clear();
    await Promise.all(all.map(async (p) => {
      p.started.proc.kill('SIGKILL');
      p.started.qmp?.close();
      p.started.warm?.agent.close();
      await p.started.exited;
      rmSync(p.dir, { recursive: true, force: true });
    }));
  }

  /** Starts clones until the size has its count (ready or on their way), one at a time per size. */
  private refill(size: PoolSize): void {
    const k = this.keyOf(size);
    if (this.closed || this.filling.get(k)) return;
    const have = this.ready.get(k)?.length ?? 0;
    if (have >= size.count) return;
    this.filling.set(k, 1);
    void this.fillOne(size).then(
      (p) => {
        this.filling.delete(k);
        if (this.closed) {
          p.started.warm?.agent.close();
          p.started.qmp?.close();
          return void p.started.proc.kill('SIGKILL');
        }
        this.ready.set(k, [...(this.ready.get(k) ?? []), p]);
        this.refill(size);
      },
      (err) => {
        this.filling.delete(k);
        this.o.log?.(`the pool could not make a ${size.cpus} vCPU / ${size.memoryMb} MB VM (pods of that size start without it): ${(err as Error).message.split('\n')[0]}`, err);
        // a template being made again (or a transient failure): try again later, not in a loop
        if (!this.closed) setTimeout(() => this.refill(size), 5_000).unref();
      },
    );
  }

  private async fillOne(size: PoolSize): Promise<Pooled> {
    const template = await this.o.templates.ensure(size, this.tenantOf(size), { timeoutMs: this.o.launch.bootTimeoutMs });
    const dir = join(this.o.dir, `p-${randomBytes(6).toString('hex')}`);
    const started = await startQemu(backgroundClone(this.o.launch, template, dir));
    // run until its agent answers, then paused again: that first answer is off the pod's path
    await warmUp(started).catch((err) => {
      started.proc.kill('SIGKILL');
      started.qmp?.close();
      throw err;
    });
    // any thread QEMU made before its main thread's nice value was set
    if (mayRenice) setNice(started.proc.pid!, POOL_NICE);
    return { dir, started, template };
  }
}

/**
 * A clone of the template restored in the background, for a pod to take later (a pooled VM, a spare QEMU): every slot
 * empty, its NIC on the template's hub, at POOL_NICE (set before QEMU makes its vCPU thread, which inherits it).
 */
export function backgroundClone(launch: PoolOptions['launch'], t: Template, dir: string): QemuOptions {
  return {
    ...launch, workDir: dir, cpus: t.layout.cpus, memoryMb: t.layout.memoryMb,
    ...emptySlots(t, dir),
    nic: t.layout.nic ? { kind: 'nic', mode: 'unplugged', mac: TEMPLATE_MAC } : undefined,
    memoryFile: { path: t.ramFile, share: false },
    restore: { stateFile: t.stateFile, bootId: '' },
    onSpawned: (pid) => void (mayRenice && setNice(pid, POOL_NICE)),
  };
}

/**
 * Makes a pooled VM or a spare QEMU (spare.ts) the pod's: its directory moves to the pod's work dir (QEMU's sockets and
 * files move with it), it runs at the pod's priority, its slots and NIC get the pod's backends, and it runs until its
 * agent has been told who it is. A failure kills it.
 */
export async function handOver(p: Pooled, r: TakeRequest): Promise<QemuVm> {
  const t0 = performance.now();
  const { started } = p;
  const qmp = started.qmp!;
  const moved: StartedQemu = { ...started, o: { ...started.o, workDir: r.workDir, restore: { stateFile: p.template.stateFile, bootId: r.bootId } } };
  try {
    mkdirSync(dirname(r.workDir), { recursive: true });
    renameSync(p.dir, r.workDir);
    // QEMU's command line names the pool's directory: its identity is checked against that one from now on
    writeFileSync(join(r.workDir, SPAWNED_IN), p.dir);
    r.onTaken(started.proc.pid!);
    if (mayRenice) setNice(started.proc.pid!, 0);
    await plugDisks(qmp, r.disks);
    // the NIC joins once its tap is made, while the guest resumes and answers: it first uses it at START_POD, after this
    const nic = r.nic;
    const plugged = nic ? (r.nicReady ?? Promise.resolve()).then(() => plugNic(qmp, nic)) : null;
    plugged?.catch(() => {});
    const vm = await finishLaunch(moved, { t0 });
    await plugged;
    return vm;
  } catch (err) {
    started.proc.kill('SIGKILL');
    qmp.close();
    started.warm?.agent.close();
    throw err;
  }
}

/** Kills the paused clones a previous daemon's pool left in `dir` (never a pod's VM: those live in the run dir). */
export function sweep(dir: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {}
  for (const n of names) {
    const d = join(dir, n);
    const pid = readPid(join(d, 'qemu.pid'));
    if (pid && isQemuOf(pid, d)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(d, { recursive: true, force: true });
  }
}
