// `hyper hosts`: every host that joined, whether its heartbeat is fresh, its capacity and what is committed on it.
import type { Command } from 'commander';
import { Kvm } from '@nats-io/kv';
import { loadView } from '../../events/store/load-view.js';
import { HEARTBEAT_BUCKET } from '../../events/schemas/subjects.js';
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
        const kv = await new Kvm(s.nc).open(HEARTBEAT_BUCKET);
        const ttl = (await kv.status()).ttl || 10_000;
        const now = Date.now();
        const rows = await Promise.all(
          [...view.hosts.values()].map(async (h) => {
            const hb = await kv.get(h.id);
            const last = hb?.operation === 'PUT' ? Number(hb.string()) : null;
            const status = h.state === 'left' ? 'left' : last !== null && now - last < ttl ? 'up' : 'unresponsive';
            return { ...h, status, lastHeartbeat: last, used: view.usageOf(h.id) };
          }),
        );
        rows.sort((a, b) => a.id.localeCompare(b.id));
        if (g.output === 'json') return printJson(rows);
        process.stdout.write(
          table(
            ['HOST', 'STATUS', 'DRIVERS', 'PODS', 'CPUS', 'MEMORY MB', 'HEARTBEAT'],
            rows.map((h) => [h.id + (h.hollow ? ' (hollow)' : ''), h.status, h.drivers.join(','), String(h.used.pods), `${h.used.cpus}/${h.capacity.cpus}`, `${h.used.memoryMb}/${h.capacity.memoryMb}`, h.lastHeartbeat ? ago(h.lastHeartbeat, now) : '-']),
          ) + '\n',
        );
      } finally {
        await s.close();
      }
    });
}
