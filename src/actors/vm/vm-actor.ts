// The hypervisor-driver actor: one per VM (booted here or re-attached); runs the driver's boot/stop and turns every outcome into a fact (vm.booting/booted/failed/exited).
import type { Vm } from '../../drivers/driver.js';
import type { Emit } from '../emit.js';

export class VmActor {
  private stopped = false;

  constructor(
    readonly vm: Vm,
    private readonly host: string,
    private readonly driver: string,
    private readonly emit: Emit,
  ) {
    vm.onExit((reason) => {
      if (!this.stopped) void this.emit('vm.exited', { vm: vm.id, reason }, 'vm.exited');
    });
  }

  /** Boots with a deadline recorded in the event, so a restarted daemon knows when this boot stopped being worth waiting for. */
  async boot(timeoutMs: number, onProgress: (message: string) => void = () => {}): Promise<boolean> {
    if (this.vm.prepare) {
      try {
        let pulls = 0;
        const images = await this.vm.prepare(onProgress, (image) => this.emit('image.pulling', { image }, `image.pulling.${pulls++}`));
        for (const [i, image] of images.entries()) await this.emit('image.ready', image, `image.${i}`);
      } catch (err) {
        this.stopped = true;
        await this.emit('vm.failed', { vm: this.vm.id, reason: (err as Error).message }, 'vm.failed');
        return false;
      }
    }
    const started = performance.now();
    await this.emit('vm.booting', { host: this.host, vm: this.vm.id, driver: this.driver, deadline: Date.now() + timeoutMs }, 'vm.booting');
    try {
      const r = await this.vm.boot(AbortSignal.timeout(timeoutMs));
      const bootMs = Math.round(performance.now() - started);
      if (r?.origin) await this.emit('vm.origin', { vm: this.vm.id, origin: r.origin, ...(r.template ? { template: r.template } : {}), ...(r.why ? { why: r.why.slice(0, 2000) } : {}) }, 'vm.origin');
      // origin and template are version 2's: the emitter leaves them out where it writes version 1 (vm.origin says them too)
      await this.emit('vm.booted', { vm: this.vm.id, bootMs, ...(r ? { vmmMs: r.vmmMs, guestMs: r.guestMs } : {}), ...(r?.origin ? { origin: r.origin } : {}), ...(r?.template ? { template: r.template } : {}) }, 'vm.booted');
      return true;
    } catch (err) {
      const reason = (err as Error).name === 'TimeoutError' ? `vm ${this.vm.id} did not boot within ${timeoutMs} ms` : (err as Error).message;
      this.stopped = true;
      await this.vm.stop(0).catch(() => {});
      await this.emit('vm.failed', { vm: this.vm.id, reason }, 'vm.failed');
      return false;
    }
  }

  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    await this.vm.stop(graceMs);
  }

  /** Lets go of the VM, which keeps running (daemon shutdown with pods left running). */
  detach(): void {
    this.stopped = true;
    this.vm.detach();
  }
}
