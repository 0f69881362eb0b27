// `hyper hosts`: every host that joined, whether its heartbeat is fresh, its capacity and what is committed on it.
import type { Command } from 'commander';
import { Kvm } from '@nats-io/kv';
import { loadView } from '../../events/store/load-view.js';
import { HEARTBEAT_BUCKETS } from '../../events/schemas/subjects.js';
import { parseHeartbeat, type Heartbeat } from '../../actors/host/liveness.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { ago, printJson, table } from '../format.js';

export function registerHosts(program: Command, globals: () => GlobalOptions): void {
  program
    .command('hosts')
    .description('list hosts with liveness, capacity and usage')
    .action(async () => {
      const g = globals();
      const s = await openSession(g);
      try {
        s.requireAdmin('hyper hosts');
        const { view } = await loadView(s.store);
        // each daemon renews the lease of all its hosts in one heartbeat, keyed by the daemon
        // renewed into two buckets (one may be electing a leader): the newest of the two counts
        const kvs = await Promise.all(HEARTBEAT_BUCKETS.map((b) => new Kvm(s.nc).open(b).catch(() => null)));
        const beats = new Map<string, Heartbeat>();
        const daemons = new Set([...view.hosts.values()].map((h) => h.daemon));
        await Promise.all(
          [...daemons].flatMap((d) => kvs.map(async (kv) => {
            const e = kv ? await kv.get(d).catch(() => null) : null;
            const hb = e?.operation === 'PUT' ? parseHeartbeat(e.string()) : null;
            if (hb) for (const [host] of hb.hosts) if (view.hosts.get(host)?.daemon === hb.daemon && hb.at > (beats.get(host)?.at ?? 0)) beats.set(host, hb);
          })),
        );
        const now = Date.now();
        const rows = [...view.hosts.values()].map((h) => {
          const hb = beats.get(h.id);
          // wall clocks of two machines: good enough to show a person, never used to decide anything
          const status = h.state !== 'up' ? h.state : hb && now - hb.at < hb.leaseMs ? 'up' : 'unresponsive';
          return { ...h, status, lastHeartbeat: hb?.at ?? null, used: view.usageOf(h.id) };
        });
        rows.sort((a, b) => a.id.localeCompare(b.id));
        if (g.output === 'json') return printJson(rows);
        process.stdout.write(
          table(
            ['HOST', 'STATUS', 'EPOCH', 'DRIVERS', 'PODS', 'CPUS', 'MEMORY MB', 'HEARTBEAT'],
            rows.map((h) => [h.id + (h.hollow ? ' (hollow)' : ''), h.status, String(h.epoch), h.drivers.join(','), String(h.used.pods), `${h.used.cpus}/${h.capacity.cpus}`, memoryCell(h.used, h.capacity.memoryMb), h.lastHeartbeat ? ago(h.lastHeartbeat, now) : '-']),
          ) + '\n',
        );
      } finally {
        await s.close();
      }
    });
}

/** Memory in use (as measured, where the host measures its VMs) of what the host offers, and what its VMs were given if more. */
function memoryCell(used: { memoryMb: number; measuredMb: number }, offered: number): string {
  return `${used.measuredMb}/${offered}${used.measuredMb < used.memoryMb ? ` (${used.memoryMb} given)` : ''}`;
}
