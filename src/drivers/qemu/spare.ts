// Spare QEMUs: per template, one QEMU process started ahead with the template's device state loaded, its guest never
// run, so a pod restored from a template waits neither for QEMU's own start (~90 ms here: its libraries and machine) nor
// for the load (~25 ms). Its guest has not run — the template's RAM is mapped, nothing of it copied (no vCPU ran to
// write it) — so, unlike the pool's warmed-up VMs, a spare is not counted against the host's memory. One is made after
// a template's first use, and again after each, at low priority; they end with the daemon.
import { randomBytes } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startQemu, type QemuOptions, type QemuVm } from './launch.js';
import { backgroundClone, handOver, mayRenice, POOL_NICE, sweep, type Pooled, type TakeRequest } from './pool.js';
import { setNice } from './process.js';
import { DISK_SLOTS, type Template } from './template.js';

export interface SpareOptions {
  /** Where spares wait (swept at start: a previous daemon's spares are nobody's). */
  dir: string;
  launch: Pick<QemuOptions, 'kernel' | 'initrd' | 'accel' | 'binary' | 'agent' | 'bootTimeoutMs'>;
  log?: (msg: string, err?: unknown) => void;
}

/**
 * How long after a spare is asked for the next is made: that pod's restore, START_POD and first container start go first
 * (~250 ms). Pods started back to back faster than that restore their own QEMU (a pool is for bursts).
 */
const PRIME_AFTER_MS = 300;

/** A spare is for one template as it was built: one made again under the same key has another RAM file. */
const builtKey = (t: Template) => `${t.key}@${t.builtAt}`;

/** The template's device state as the spare loaded it: a state file changed since (rewritten, corrupted) is not the spare's. */
function stateStamp(t: Template): string {
  try {
    const st = statSync(t.stateFile);
    return `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    return 'gone';
  }
}

interface Spare extends Pooled {
  /** The state file's stamp when the spare loaded it. */
  stamp: string;
}

export class SpareQemus {
  private readonly spares = new Map<string, Spare>();
  private readonly making = new Set<string>();
  private closed = false;

  constructor(private readonly o: SpareOptions) {}

  start(): void {
    sweep(this.o.dir);
  }

  /**
   * The template's spare, given the pod's disks and NIC and running, or null (none made yet); a spare is made for the next
   * pod either way. A spare that fails now is thrown, as a failed restore is.
   */
  async take(t: Template, r: TakeRequest): Promise<QemuVm | null> {
    const k = builtKey(t);
    const p = this.spares.get(k);
    this.spares.delete(k);
    for (const [key, old] of this.spares) {
      // spares of an older build of this key: their RAM file is gone
      if (key.startsWith(`${t.key}@`)) this.discard(key, old);
    }
    // a state file changed since the spare loaded it is found out by the pod's own restore (and the template made again)
    if (!p || r.disks.length > DISK_SLOTS || p.started.proc.exitCode !== null || p.stamp !== stateStamp(t)) {
      if (p) this.discard(k, p);
      // after this pod's own restore, not beside it
      this.primeLater(t);
      return null;
    }
    // the next spare once this pod's guest has done its first work: spawning QEMU blocks this process's loop (~17 ms
    // for a fork of a 200 MB Node process, measured) and loading its state takes CPU the pod's start wants
    return handOver(p, r).finally(() => this.primeLater(t));
  }

  private primeLater(t: Template): void {
    setTimeout(() => this.prime(t), PRIME_AFTER_MS).unref();
  }

  /** Makes the template's spare in the background unless it has one (or one is on its way). */
  prime(t: Template): void {
    const k = builtKey(t);
    if (this.closed || this.spares.has(k) || this.making.has(k)) return;
    this.making.add(k);
    const dir = join(this.o.dir, `s-${randomBytes(6).toString('hex')}`);
    const stamp = stateStamp(t);
    // background work at low priority: its start must not slow the pod that used the last spare (back to 0 when taken)
    void startQemu(backgroundClone(this.o.launch, t, dir)).then(
      (started) => {
        this.making.delete(k);
        const p = { dir, started, template: t, stamp };
        if (this.closed) return this.discard(k, p);
        if (mayRenice) setNice(started.proc.pid!, POOL_NICE);
        this.spares.set(k, p);
      },
      (err) => {
        this.making.delete(k);
        rmSync(dir, { recursive: true, force: true });
        // a template that cannot be restored is found out (and made again) by the next pod's own restore
        this.o.log?.(`could not make a spare QEMU for template ${t.key} (its pods start QEMU themselves): ${(err as Error).message.split('\n')[0]}`, err);
      },
    );
  }

  /** Stops every spare (the daemon stops). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.spares.values()];
    this.spares.clear();
    await Promise.all(all.map(async (p) => {
      this.kill(p);
      await p.started.exited;
      rmSync(p.dir, { recursive: true, force: true });
    }));
  }

  private discard(k: string, p: Pooled): void {
    this.spares.delete(k);
    this.kill(p);
    void p.started.exited.then(() => rmSync(p.dir, { recursive: true, force: true }));
  }

  private kill(p: Pooled): void {
    p.started.proc.kill('SIGKILL');
    p.started.qmp?.close();
  }
}
