// Daemon restart time to ready with N pods in the log: cold (full replay) and warm (snapshot + tail), wall clock from process spawn.
import { join } from 'node:path';
import { appendAll, hostJoined, podLifecycle } from '../lib/dataset.js';
import { benchNats, progress, spawnHyperd } from '../lib/env.js';

export async function benchRestart(o: { pods: number }) {
  const n = await benchNats();
  try {
    const hosts = Array.from({ length: 20 }, (_, i) => `other${i}`);
    const now = Date.now();
    // pods live on other hosts: this daemon must fold them all (it schedules against them) but runs none
    const events = (function* () {
      for (const h of hosts) yield hostJoined(h, now);
      for (let i = 0; i < o.pods; i++) {
        const life = podLifecycle(`sp${i}`, hosts[i % hosts.length], now + i);
        yield* i % 2 ? life : life.slice(0, 6); // half still running, half stopped
      }
    })();
    progress(`restart: writing ${o.pods} pods`);
    await appendAll(n.store, events, 1_000);
    const total = await n.store.lastSeq();
    const args = ['--nats', n.server.url, '--host-id', 'restarter', '--data-dir', join(n.dir, 'd'), '--driver', 'hollow'];

    const runs: { kind: string; wallMs: number; readyMs: number; fromSnapshot: number; folded: number }[] = [];
    for (const kind of ['cold (full replay)', 'warm (snapshot + tail)', 'warm (snapshot + tail)']) {
      const d = spawnHyperd(args);
      const { wallMs, record } = await d.ready;
      runs.push({ kind, wallMs, readyMs: record.ms, fromSnapshot: record.fromSnapshot, folded: record.folded });
      progress(`restart: ${kind}: ready in ${wallMs} ms wall (${record.ms} ms inside hyperd)`);
      await d.stop(); // a clean stop writes the snapshot the next start uses
    }
    const warm = runs.filter((r) => r.fromSnapshot > 0);
    return {
      pods: o.pods,
      events: total,
      runs,
      warmWallMs: warm.length ? Math.min(...warm.map((r) => r.wallMs)) : null,
      coldWallMs: runs[0].wallMs,
      target: { wallMs: 2000 },
    };
  } finally {
    await n.close();
  }
}
