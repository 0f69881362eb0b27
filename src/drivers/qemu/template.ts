// VM templates: a guest booted once to its agent (kernel + agent, no pod's filesystems), paused, and saved as device state
// with its RAM in a file; pods then start by restoring a clone of it, a private copy-on-write mapping of that RAM. One
// template per layout (vCPUs, memory, disk slots, NIC or not) and per input (kernel, agent, QEMU, accelerator, format),
// and per tenant unless shared: the key names them all, so a changed input means another key and a new template.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DriverError } from '../../errors.js';
import { hostTscKhz, launchQemu, migrationDone } from './launch.js';
import { onPath } from './process.js';

/** Bumped when what a template holds or how it is made changes: every template is then made again. */
export const TEMPLATE_FORMAT = 5;
/** Read-only disk slots a template offers: pods with more distinct images boot cold. */
export const DISK_SLOTS = 2;
/**
 * Host directories a template with slots offers (9p devices, tags vol0…, on an empty directory in the template): never
 * mounted in the template's guest, so its state saves, and a clone's command line points them at the pod's directories.
 * Only pods that bind directories or mount named volumes use a template with slots: its extra devices cost every start
 * from it ~60-80 ms of guest time under emulation (measured), so the others restore one without.
 */
export const SHARE_SLOTS = 2;
/**
 * Writable disk slots a template offers for named volumes (/dev/vdc, after the image slots): a clone's command line gives
 * them the pod's volumes, and an empty sparse file of its own in each slot it leaves unused. QEMU 7.2's microvm has 8
 * virtio-mmio transports: serial, rng, NIC, 2 image disks, 2 shares and this one take them all.
 */
export const VOLUME_SLOTS = 1;
/**
 * A slot's capacity as the guest sees it (sparse: costs nothing): the guest read it when the template booted, and a
 * read-only drive cannot be resized, so an image larger than this boots cold.
 */
export const SLOT_BYTES = 64 * 1024 ** 3;
/** The template's NIC's address; a clone's guest is given its own before its link comes up (MSG_START_POD's MAC). */
export const TEMPLATE_MAC = '02:00:00:00:00:01';

export interface TemplateLayout {
  cpus: number;
  memoryMb: number;
  /** Whether the VM has a NIC (eth0). */
  nic: boolean;
  /** Whether it has share and volume slots (SHARE_SLOTS, VOLUME_SLOTS), for pods that bind directories or mount volumes. */
  slots?: boolean;
}

export interface TemplateInputs {
  kernel: string;
  initrd: string;
  binary: string;
  accel: 'kvm' | 'tcg';
}

/** What `hyper template ls` shows and a clone starts from. */
export interface Template {
  key: string;
  layout: TemplateLayout;
  /** The tenant whose pods may use it, or null: shared by every tenant (hyperd --share-templates). */
  tenant: string | null;
  dir: string;
  /** The template's guest RAM: a file its clones map privately (their reads come from the page cache, shared by all). */
  ramFile: string;
  /** Its device state (migration stream, x-ignore-shared: no RAM in it). */
  stateFile: string;
  /** The empty disk in every slot a pod leaves unused. */
  placeholder: string;
  /** The empty directory in every share slot a pod leaves unused (a layout with slots). */
  shareDir: string;
  builtAt: number;
  buildMs: number;
  stateBytes: number;
  /** The inputs it was made from, digested (the key is theirs and the layout's). */
  inputs: Record<string, string>;
}

const META = 'template.json';

/** Digest of a file, remembered by path, size and mtime (the kernel is ~10 MB: hashed once per daemon, not per pod). */
const digests = new Map<string, string>();
function fileDigest(path: string): string {
  const real = realpathSync(path);
  const st = statSync(real);
  const k = `${real}:${st.size}:${st.mtimeMs}`;
  let d = digests.get(k);
  if (!d) digests.set(k, (d = createHash('sha256').update(readFileSync(real)).digest('hex').slice(0, 16)));
  return d;
}

/** QEMU's identity by its binary (a package upgrade replaces it: new size or mtime). */
function binaryId(binary: string): string {
  const path = onPath(binary) ?? binary;
  const st = statSync(realpathSync(path));
  return `${realpathSync(path)}:${st.size}:${Math.round(st.mtimeMs)}`;
}

export class TemplateStore {
  private readonly building = new Map<string, Promise<Template>>();
  /** Why the last build of a key failed (not tried again until the daemon restarts or `hyper template build`). */
  readonly failed = new Map<string, string>();

  /** dir: the data dir's templates/, one directory per key (RAM file, device state, placeholder disk, template.json). */
  constructor(
    readonly dir: string,
    private readonly inputs: TemplateInputs,
  ) {}

  /** Everything the template depends on, digested: the same inputs and layout give the same key. */
  inputsOf(layout: TemplateLayout, tenant: string | null): Record<string, string> {
    return {
      format: String(TEMPLATE_FORMAT),
      kernel: fileDigest(this.inputs.kernel),
      initrd: fileDigest(this.inputs.initrd),
      qemu: binaryId(this.inputs.binary),
      accel: this.inputs.accel,
      // a clone keeps the clock its template's guest was given: the host's TSC rate (launch.ts) is one of its inputs
      tscKhz: String(this.inputs.accel === 'kvm' ? 0 : (hostTscKhz() ?? 0)),
      layout: `${layout.cpus}cpu-${layout.memoryMb}mb-${DISK_SLOTS}disk-${layout.slots ? `${SHARE_SLOTS}share-${VOLUME_SLOTS}vol-` : ''}${layout.nic ? 'nic' : 'nonic'}-${SLOT_BYTES}`,
      tenant: tenant ?? '*',
    };
  }

  keyOf(layout: TemplateLayout, tenant: string | null): string {
    return createHash('sha256').update(JSON.stringify(this.inputsOf(layout, tenant))).digest('hex').slice(0, 16);
  }

  /** The ready template for this layout, or null (none yet, or its files are gone: /dev/shm is emptied at reboot). */
  find(layout: TemplateLayout, tenant: string | null): Template | null {
    return this.read(this.keyOf(layout, tenant));
  }

  private read(key: string): Template | null {
    const dir = join(this.dir, key);
    let t: Template;
    try {
      t = JSON.parse(readFileSync(join(dir, META), 'utf8')) as Template;
    } catch {
      return null;
    }
    if (t.key !== key || !existsSync(t.stateFile) || !existsSync(t.ramFile) || !existsSync(t.placeholder) || (t.layout.slots && !existsSync(t.shareDir))) return null;
    return t;
  }

  list(): Template[] {
    let keys: string[] = [];
    try {
      keys = readdirSync(this.dir);
    } catch {}
    return keys.map((k) => this.read(k)).filter((t): t is Template => t !== null);
  }

  /** Removes a template: clones running from it keep their mappings (an unlinked file lives while it is mapped). */
  remove(key: string): boolean {
    const had = existsSync(join(this.dir, key));
    rmSync(join(this.dir, key), { recursive: true, force: true });
    return had;
  }

  /** The template, made now if it is missing (once, however many ask at the same time). */
  ensure(layout: TemplateLayout, tenant: string | null, o: { timeoutMs?: number } = {}): Promise<Template> {
    const key = this.keyOf(layout, tenant);
    const ready = this.read(key);
    if (ready) return Promise.resolve(ready);
    let p = this.building.get(key);
    if (!p) {
      p = this.build(key, layout, tenant, o.timeoutMs ?? 30_000).finally(() => this.building.delete(key));
      p.then(() => this.failed.delete(key), (err) => this.failed.set(key, (err as Error).message));
      this.building.set(key, p);
    }
    return p;
  }

  isBuilding(layout: TemplateLayout, tenant: string | null): boolean {
    return this.building.has(this.keyOf(layout, tenant));
  }

  private async build(key: string, layout: TemplateLayout, tenant: string | null, timeoutMs: number): Promise<Template> {
    // QEMU is a detached child (VMs outlive their daemon): this keeps a process whose only work is the build alive
    const alive = setInterval(() => {}, 60_000);
    try {
      return await this.make(key, layout, tenant, timeoutMs);
    } finally {
      clearInterval(alive);
    }
  }

  private async make(key: string, layout: TemplateLayout, tenant: string | null, timeoutMs: number): Promise<Template> {
    const t0 = performance.now();
    const dir = join(this.dir, key);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'vm'), { recursive: true });
    const ramFile = join(dir, 'ram');
    const placeholder = join(dir, 'slot.img');
    const stateFile = join(dir, 'state.bin');
    const shareDir = join(dir, 'share');
    const volumePlaceholder = join(dir, 'vm', 'volume.img');
    writeFileSync(placeholder, '');
    truncateSync(placeholder, SLOT_BYTES);
    if (layout.slots) {
      mkdirSync(shareDir);
      emptySlot(volumePlaceholder);
    }
    writeFileSync(ramFile, '');
    truncateSync(ramFile, layout.memoryMb * 1024 * 1024);
    const vm = await launchQemu({
      ...this.inputs, workDir: join(dir, 'vm'), cpus: layout.cpus, memoryMb: layout.memoryMb, bootTimeoutMs: timeoutMs,
      disks: Array.from({ length: DISK_SLOTS }, () => placeholder),
      ...(layout.slots ? { shares: shareSlots([], shareDir), volumes: Array.from({ length: VOLUME_SLOTS }, () => ({ path: volumePlaceholder, readonly: false })) } : {}),
      nic: layout.nic ? { kind: 'nic', mode: 'unplugged', mac: TEMPLATE_MAC } : undefined,
      memoryFile: { path: ramFile, share: true },
      // its clones never boot: the LAPIC timer's calibration is paid here, once, and their idle guests sleep longer
      lapicTimer: true,
    }).catch((err) => {
      rmSync(dir, { recursive: true, force: true });
      throw new DriverError('template', `building template ${key} (${layout.cpus} vCPU, ${layout.memoryMb} MB) failed: ${(err as Error).message}`, { cause: err });
    });
    try {
      await vm.qmp.execute('stop');
      await vm.qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
      await vm.qmp.execute('migrate', { uri: `exec:cat > '${stateFile}.tmp'` });
      await migrationDone(vm.qmp, Date.now() + timeoutMs, `saving template ${key}'s device state`);
      renameSync(`${stateFile}.tmp`, stateFile);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err instanceof DriverError ? err : new DriverError('template', `saving template ${key} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      // the RAM file keeps what the guest wrote (share=on): QEMU may go
      vm.kill();
      await vm.exited;
      rmSync(join(dir, 'vm'), { recursive: true, force: true });
    }
    const t: Template = {
      key, layout, tenant, dir, ramFile, stateFile, placeholder, shareDir, builtAt: Date.now(), buildMs: Math.round(performance.now() - t0),
      stateBytes: statSync(stateFile).size, inputs: this.inputsOf(layout, tenant),
    };
    writeFileSync(join(dir, `${META}.tmp`), JSON.stringify(t, null, 1) + '\n');
    renameSync(join(dir, `${META}.tmp`), join(dir, META));
    return t;
  }
}

/**
 * A template's share slots as a clone's command line gives them: the pod's directories first (tags vol0…), then the
 * template's empty one, read-only (a guest that mounts an unused slot can write nothing there for another clone to see).
 */
export function shareSlots(paths: string[], shareDir: string): { tag: string; path: string; readonly?: boolean }[] {
  return Array.from({ length: SHARE_SLOTS }, (_, i) => (i < paths.length ? { tag: `vol${i}`, path: paths[i]! } : { tag: `vol${i}`, path: shareDir, readonly: true }));
}

/** An empty writable slot: a sparse file of SLOT_BYTES (a clone has its own for each volume slot it leaves unused). */
export function emptySlot(path: string): string {
  writeFileSync(path, '');
  truncateSync(path, SLOT_BYTES);
  return path;
}

/** A template's volume slots as a clone's command line gives them: the pod's volumes first, an empty slot in `dir` for each other. */
export function volumeSlots(volumes: { path: string; readonly: boolean }[], dir: string): { path: string; readonly: boolean }[] {
  mkdirSync(dir, { recursive: true });
  return [...volumes, ...Array.from({ length: VOLUME_SLOTS - volumes.length }, (_, i) => ({ path: emptySlot(join(dir, `empty-volume-${i}.img`)), readonly: false }))];
}

/**
 * Every slot of a template left empty, for a QEMU that is to take a pod's images later (a pooled VM, a spare): the
 * placeholder disk and, with slots, the empty share directory (read-only) and a sparse file of its own in `dir` for each
 * volume slot.
 */
export function emptySlots(t: Template, dir: string): { disks: string[]; shares?: { tag: string; path: string; readonly?: boolean }[]; volumes?: { path: string; readonly: boolean }[] } {
  const disks = Array.from({ length: DISK_SLOTS }, () => t.placeholder);
  return t.layout.slots ? { disks, shares: shareSlots([], t.shareDir), volumes: volumeSlots([], dir) } : { disks };
}
