// Host leases, live: this daemon renews its hosts' lease (a heartbeat in KV), watches everyone's, says which hosts are
// alive, and tells the daemon when its own lease ran out (fence) and when NATS acknowledges it again (recover).
// It has a NATS connection of its own, so a daemon busy with a flood of events still renews and sees renewals on time.
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../log.js';
import type { ClusterView, HostRecord } from '../../model/cluster-view.js';
import { isSilent, mustFence, type Lease } from '../../model/lease.js';
import { HEARTBEAT_BUCKET } from '../../events/schemas/subjects.js';

/** What a daemon's heartbeat says: its hosts with their epochs, and its wall-clock time (for people reading `hyper hosts`). */
export interface Heartbeat { at: number; daemon: string; leaseMs: number; hosts: [string, number][] }

export function parseHeartbeat(s: string): Heartbeat | null {
  try {
    const v = JSON.parse(s) as Heartbeat;
    return typeof v?.at === 'number' && typeof v.daemon === 'string' && Array.isArray(v.hosts) ? v : null;
  } catch {
    return null;
  }
}

export interface LivenessEvents {
  /** The lease ran out by this daemon's clock: stop every pod now. */
  fence(silentMs: number): void;
  /** A renewal was acknowledged after a fence: record the loss and rejoin. */
  recover(): void;
}

export class Liveness {
  /** When (this process's monotonic ms) each host's renewal was last seen. */
  private readonly seen = new Map<string, number>();
  private readonly startedAt = performance.now();
  private lastRenewalSentAt = performance.now();
  private fenced = false;
  private stopWatch: (() => void) | null = null;
  private beatTimer: NodeJS.Timeout | null = null;
  private fenceTimer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly view: ClusterView,
    readonly lease: Lease,
    private readonly daemonId: string,
    private readonly local: ReadonlySet<string>,
    private readonly log: Logger,
  ) {}

  /** `nc` is the liveness connection, owned (and closed) by this object. */
  static async open(nc: NatsConnection, view: ClusterView, lease: Lease, daemonId: string, local: ReadonlySet<string>, log: Logger): Promise<Liveness> {
    const l = new Liveness(nc, await new Kvm(nc).open(HEARTBEAT_BUCKET), view, lease, daemonId, local, log);
    const w = await l.kv.watch();
    l.stopWatch = () => w.stop();
    void (async () => {
      for await (const e of w) {
        if (e.operation !== 'PUT') continue;
        const hb = parseHeartbeat(e.string());
        // a renewal counts for the hosts its daemon runs now (a stale daemon's beats do not keep a rejoined host alive)
        if (hb) for (const [host] of hb.hosts) if (l.view.hosts.get(host)?.daemon === hb.daemon) l.seen.set(host, performance.now());
      }
    })().catch((err) => log.warn({ err }, 'heartbeat watch ended'));
    return l;
  }

  /** Renews now, then every beat; checks the lease every few ms. */
  start(hosts: () => HostRecord[]): Promise<boolean> {
    this.beatTimer = setInterval(() => void this.beat(hosts), this.lease.beatMs);
    this.fenceTimer = setInterval(() => this.checkLease(), Math.max(25, Math.round(this.lease.marginMs / 4)));
    return this.beat(hosts);
  }

  private async beat(hosts: () => HostRecord[]): Promise<boolean> {
    // renewals overlap when NATS is slow to acknowledge: each one that lands moves the lease on from when it was sent
    const sentAt = performance.now();
    try {
      const hb: Heartbeat = { at: Date.now(), daemon: this.daemonId, leaseMs: this.lease.leaseMs, hosts: hosts().map((h) => [h.id, h.epoch]) };
      await this.kv.put(this.daemonId, JSON.stringify(hb), { timeout: this.lease.leaseMs });
      const tookMs = performance.now() - sentAt;
      if (tookMs > this.lease.leaseMs / 3) this.log.warn({ tookMs: Math.round(tookMs), leaseMs: this.lease.leaseMs }, 'a lease renewal took long to be acknowledged (a busy host or NATS)');
      if (sentAt > this.lastRenewalSentAt) this.lastRenewalSentAt = sentAt;
      if (this.fenced) {
        this.fenced = false;
        this.log.warn('NATS acknowledges this host\'s lease again: recording the loss of its pods and rejoining with a new epoch');
        this.events?.recover();
      }
      return true;
    } catch (err) {
      this.log.warn({ err, silentMs: Math.round(performance.now() - this.lastRenewalSentAt) }, 'could not renew this host\'s lease');
      return false;
    }
  }

  events: LivenessEvents | null = null;

  private checkLease(): void {
    const now = performance.now();
    if (this.fenced || !mustFence(this.lease, this.lastRenewalSentAt, now)) return;
    this.fenced = true;
    const silentMs = Math.round(now - this.lastRenewalSentAt);
    this.log.error({ silentMs, leaseMs: this.lease.leaseMs }, `this host's lease was not renewed for ${silentMs} ms: stopping its pods before another host may start them (self-fencing)`);
    this.events?.fence(silentMs);
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  /** A host joined (or rejoined): its lease counts from now, as if it had just renewed. */
  joined(host: string): void {
    this.seen.set(host, performance.now());
  }

  /** When this daemon last saw the host renew (or began watching, if never): the survivor's side of the lease. */
  lastSeen(host: string): number {
    return this.seen.get(host) ?? this.startedAt;
  }

  /** Hosts that may be given pods: this daemon's own while its lease holds, others while their renewals keep coming. */
  alive(): HostRecord[] {
    const now = performance.now();
    const out: HostRecord[] = [];
    for (const h of this.view.hosts.values()) {
      if (h.state !== 'up') continue;
      if (this.local.has(h.id) ? !this.fenced : !isSilent({ ...this.lease, marginMs: 0 }, this.lastSeen(h.id), now)) out.push(h);
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.beatTimer) clearInterval(this.beatTimer);
    if (this.fenceTimer) clearInterval(this.fenceTimer);
    this.stopWatch?.();
    await this.nc.close().catch(() => {});
  }
}
