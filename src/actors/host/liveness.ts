// Which hosts are alive: joined and not left, with a heartbeat seen within the TTL. Polled, because NATS 2.9 sends no watch event on KV expiry.
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ClusterView, HostRecord } from '../../model/cluster-view.js';
import { HEARTBEAT_BUCKET } from '../../events/schemas/subjects.js';

export class Liveness {
  private readonly seen = new Map<string, number>();
  private stopWatch: (() => void) | null = null;

  private constructor(
    private readonly kv: KV,
    private readonly view: ClusterView,
    private readonly ttlMs: number,
    private readonly local: Set<string>,
  ) {}

  static async open(nc: NatsConnection, view: ClusterView, ttlMs: number, local: Set<string>): Promise<Liveness> {
    const l = new Liveness(await new Kvm(nc).open(HEARTBEAT_BUCKET), view, ttlMs, local);
    const w = await l.kv.watch();
    l.stopWatch = () => w.stop();
    void (async () => {
      for await (const e of w) if (e.operation === 'PUT') l.seen.set(e.key, Date.now());
    })();
    return l;
  }

  beat(hostId: string): Promise<unknown> {
    return this.kv.put(hostId, String(Date.now()));
  }

  /** Hosts of this daemon count as alive; others need a recent heartbeat (or a recent join). */
  alive(): HostRecord[] {
    const now = Date.now();
    const out: HostRecord[] = [];
    for (const h of this.view.hosts.values()) {
      if (h.state !== 'up') continue;
      if (this.local.has(h.id) || now - Math.max(this.seen.get(h.id) ?? 0, h.joinedAt) < this.ttlMs) out.push(h);
    }
    return out;
  }

  stop(): void {
    this.stopWatch?.();
  }
}
