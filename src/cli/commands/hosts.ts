// `hyper hosts`: every host that joined, whether its heartbeat is fresh, its capacity and what is committed on it.
import type { Command } from 'commander';
import { Kvm } from '@nats-io/kv';
import { loadView } from '../../events/store/load-view.js';
import { HEARTBEAT_BUCKET } from '../../events/schemas/subjects.js';
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
        const kv = await new Kvm(s.nc).open(HEARTBEAT_BUCKET);
        const beats = new Map<string, Heartbeat>();
        const daemons = new Set([...view.hosts.values()].map((h) => h.daemon));
        await Promise.all(
          [...daemons].map(async (d) => {
            const e = await kv.get(d).catch(() => null);
            const hb = e?.operation === 'PUT' ? parseHeartbeat(e.string()) : null;
            if (hb) for (const [host] of hb.hosts) if (view.hosts.get(host)?.daemon === hb.daemon) beats.set(host, hb);
          }),
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
            rows.map((h) => [h.id + (h.hollow ? ' (hollow)' : ''), h.status, String(h.epoch), h.drivers.join(','), String(h.used.pods), `${h.used.cpus}/${h.capacity.cpus}`, `${h.used.memoryMb}/${h.capacity.memoryMb}`, h.lastHeartbeat ? ago(h.lastHeartbeat, now) : '-']),
          ) + '\n',
        );
      } finally {
        await s.close();
      }
    });
}
