// Host loss, live: declares hosts the lease worker found silent lost (one survivor wins the OCC append on the host's subject)
// and ends the runs a loss left behind (pod.lost, which each pod's restart policy turns into a new run or a failure).
import { ConflictError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { hostEvent, podEvent } from '../../events/schemas/mod.js';
import type { EventStore } from '../../events/store/event-store.js';
import type { ClusterView, HostRecord, PodRecord } from '../../model/cluster-view.js';
import { lossReason, runsOnLostHosts } from '../../model/lease.js';
import type { Liveness } from './liveness.js';
import { linksOf } from '../emit.js';

export class LossWatcher {
  private readonly timer: NodeJS.Timeout;
  private readonly interval: number;
  /** Appends in flight, so a sweep does not ask twice while the first is on its way. */
  private readonly pending = new Set<string>();
  declared = 0;
  ended = 0;

  constructor(
    private readonly d: { view: ClusterView; store: EventStore; liveness: Liveness; daemonId: string; local: ReadonlySet<string>; log: Logger },
  ) {
    this.interval = Math.max(25, Math.round(d.liveness.lease.marginMs / 2));
    this.timer = setInterval(() => this.sweep(), this.interval);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The lease worker found a host silent past lease + margin: declared lost if the view still has that epoch up. */
  onSilent(hostId: string, epoch: number, silentMs: number): void {
    const h = this.d.view.hosts.get(hostId);
    if (!h || h.state !== 'up' || h.epoch !== epoch || this.d.local.has(hostId)) return;
    void this.declare(h, silentMs).then((ok) => {
      if (!ok) this.d.liveness.retrySilent(hostId, epoch);
    });
  }

  private sweep(): void {
    if (!this.d.liveness.isFenced) this.endLostRuns();
  }

  /** Also called by a host that fenced itself, for its own pods, once NATS is back. */
  endLostRuns(): void {
    for (const p of runsOnLostHosts(this.d.view)) void this.end(p, this.d.view.hosts.get(p.context.host!)!);
  }

  /**
   * Ends every run still held on one lost host of this daemon and waits until the view has folded that (before the host
   * rejoins: once it is up again, nothing would say its old runs ended).
   */
  async endRunsOn(hostId: string, deadlineMs = 15_000): Promise<void> {
    const until = performance.now() + deadlineMs;
    while (performance.now() < until) {
      const host = this.d.view.hosts.get(hostId);
      if (!host || host.state !== 'lost') return;
      const left = runsOnLostHosts(this.d.view).filter((p) => p.context.host === hostId);
      if (left.length === 0) return;
      await Promise.all(left.map((p) => this.end(p, host)));
      await new Promise((r) => setTimeout(r, 50));
    }
    this.d.log.error({ host: hostId }, `runs on lost host ${hostId} were not all recorded as lost within ${deadlineMs} ms; rejoining anyway`);
  }

  /** OCC on the host's subject: of all survivors racing, exactly one append lands; the others see a conflict. */
  async declare(h: HostRecord, silentMs: number, reason = `no lease renewal for ${silentMs} ms (lease ${this.d.liveness.lease.leaseMs} ms)`): Promise<boolean> {
    const key = `host/${h.id}/${h.epoch}`;
    if (this.pending.has(key)) return true;
    this.pending.add(key);
    try {
      await this.d.store.append(hostEvent('host.lost', h.id, { epoch: h.epoch, reason, silentMs }, { id: `${h.id}.e${h.epoch}.lost`, at: Date.now(), by: `host:${[...this.d.local][0] ?? this.d.daemonId}` }), { expectLastSeq: h.seq });
      this.declared++;
      this.d.log.warn({ host: h.id, epoch: h.epoch, silentMs }, `declared host ${h.id} lost: ${reason}`);
      return true;
    } catch (err) {
      // a conflict: the host's log moved on (another survivor declared it, or it rejoined): the view will say which
      if (err instanceof ConflictError) return true;
      this.d.log.error({ err, host: h.id }, `could not record the loss of host ${h.id}; will try again`);
      return false;
    } finally {
      this.pending.delete(key);
    }
  }

  private async end(p: PodRecord, host: HostRecord): Promise<void> {
    const { id, run, tenant } = p.context;
    const key = `pod/${id}/${run}`;
    if (this.pending.has(key)) return;
    this.pending.add(key);
    try {
      const e = podEvent('pod.lost', id, { host: host.id, run, reason: lossReason(host) }, { id: `${id}.r${run}.lost.${host.id}.e${host.epoch}`, at: Date.now(), by: `scheduler:${this.d.daemonId}`, tenant, ...linksOf(p.context), causation: `${host.id}.e${host.epoch}.lost` });
      await this.d.store.append(e, { expectLastSeq: p.seq });
      this.ended++;
    } catch (err) {
      // someone else ended it (or the pod moved on): the next sweep looks at the fresh view
      if (!(err instanceof ConflictError)) this.d.log.error({ err, pod: id }, `could not record that pod ${id} was lost with host ${host.id}; will try again`);
    } finally {
      this.pending.delete(key);
    }
  }
}
