// bench/audit: a large log (default 1,000,000 events: hosts joining, pods walking an 8-event lifecycle) on a real
// nats-server; full replay end to end from JetStream beside the fold alone over the same messages in memory; snapshots
// saved every SNAPSHOT_EVERY events as a daemon saves them (a checkpoint kept every CHECKPOINT_EVERY) and
// `hyper state --seq` at points spread over the log, timed as whole CLI processes beside `node -e 0`; `hyper audit
// verify` live (the refold compared with every stored snapshot); `hyper audit export` and offline `hyper audit verify
// --file` throughput. One JSON document.
import { execFileSync, spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterView } from '../src/model/cluster-view.js';
import { decodeRecord } from '../src/events/store/event-store.js';
import { loadView } from '../src/events/store/load-view.js';
import { CHECKPOINT_EVERY, SNAPSHOT_EVERY, SnapshotStore } from '../src/events/store/snapshots.js';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { STREAM } from '../src/events/schemas/subjects.js';
import { appendAll, hostJoined, podLifecycle } from './lib/dataset.js';
import { benchNats, progress } from './lib/env.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'bin', 'hyper.cjs');
const arg = (name: string, fallback: number) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback);
const target = arg('events', 1_000_000);
const points = arg('points', 5);

// the replay here stands for a daemon's: the same heap setting (src/daemon/main.ts)
setFlagsFromString('--max-semi-space-size=64');
const n = await benchNats();
const env = { ...process.env, HYPER_NATS: n.server.url, HYPER_LOG_FORMAT: 'json' };
const out: Record<string, unknown> = { bench: 'audit', at: new Date().toISOString() };
const timed = (args: string[], o: { stdout?: string } = {}) => {
  const t0 = performance.now();
  const r = spawnSync('node', [CLI, ...args], { env, encoding: 'utf8', maxBuffer: 4 << 30, ...(o.stdout ? { stdio: ['ignore', 'pipe', 'pipe'] } : {}) });
  if (r.status !== 0) throw new Error(`hyper ${args.join(' ')} failed: ${r.stderr}`);
  return { ms: performance.now() - t0, stdout: r.stdout };
};
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const pods = Math.ceil((target - 100) / 8);
  const hosts = Array.from({ length: 100 }, (_, i) => `ah${i}`);
  const now = Date.now() - pods * 10;
  const events = (function* () {
    for (const h of hosts) yield hostJoined(h, now);
    for (let i = 0; i < pods; i++) yield* podLifecycle(`ap${i}`, hosts[i % hosts.length], now + i * 10);
  })();
  progress(`audit: writing ${pods * 8 + hosts.length} events`);
  out.appendPerSec = Math.round(await appendAll(n.store, events, 1_000, (k) => k % 100_000 === 0 && progress(`audit: ${k} written`)));
  const total = await n.store.lastSeq();
  out.events = total;

  // full replay from JetStream into the view, and the fold alone over the same messages (decoded from memory)
  progress('audit: full replay from JetStream');
  const t0 = performance.now();
  const { view, folded } = await loadView(n.store, { useSnapshot: false });
  const e2e = (performance.now() - t0) / 1000;
  out.replayEndToEnd = { seconds: +e2e.toFixed(2), eventsPerSec: Math.round(folded / e2e) };
  // JetStream delivery alone (the client's consume, no decoding): the ceiling any decoder works under here
  const td = performance.now();
  const delivered = await deliverOnly(n.nc, total);
  out.deliverOnly = { eventsPerSec: Math.round(delivered / ((performance.now() - td) / 1000)) };
  progress(`audit: delivery alone ${JSON.stringify(out.deliverOnly)}`);
  const raw: { seq: number; subject: string; data: Uint8Array }[] = [];
  for await (const batch of n.store.replayBatches(1, undefined, { keepRaw: true })) for (const r of batch) raw.push({ seq: r.seq, subject: r.subject, data: r.raw! });
  const t1 = performance.now();
  const v2 = new ClusterView();
  for (const m of raw) v2.apply(decodeRecord(m.seq, m.subject, m.data));
  out.foldOnly = { eventsPerSec: Math.round(raw.length / ((performance.now() - t1) / 1000)) };
  progress(`audit: replay ${JSON.stringify(out.replayEndToEnd)}, fold alone ${JSON.stringify(out.foldOnly)}`);

  // snapshots as a daemon saves them (every SNAPSHOT_EVERY events; each writes the blocks that changed), a checkpoint
  // kept every CHECKPOINT_EVERY
  progress('audit: saving snapshots');
  const snaps = await SnapshotStore.open(n.nc);
  const v3 = new ClusterView();
  const saves: number[] = [];
  let written = 0;
  for (const m of raw) {
    v3.apply(decodeRecord(m.seq, m.subject, m.data));
    if (m.seq % SNAPSHOT_EVERY === 0 || m.seq === total) {
      const ts = performance.now();
      written += (await snaps.save(v3.toSnapshot())).written;
      saves.push(performance.now() - ts);
    }
  }
  raw.length = 0;
  const kept = await snaps.checkpoints();
  out.checkpoints = {
    every: CHECKPOINT_EVERY, kept: kept.length, lastBytes: kept.at(-1)?.bytes ?? 0,
    saves: saves.length, saveP50Ms: Math.round(p50(saves)), lastSaveMs: Math.round(saves.at(-1) ?? 0), saveSecondsTotal: +(saves.reduce((a, b) => a + b, 0) / 1000).toFixed(1), writtenMb: +(written / 1e6).toFixed(1),
  };
  progress(`audit: ${kept.length} checkpoints, ${JSON.stringify(out.checkpoints)}`);

  // hyper state --seq at points over the log: whole CLI processes, beside node -e 0
  const node0 = p50(Array.from({ length: 5 }, () => { const ts = performance.now(); execFileSync('node', ['-e', '0']); return performance.now() - ts; }));
  const stateMs: number[] = [];
  for (let i = 1; i <= points; i++) {
    const seq = Math.round((total * i) / (points + 1)) + 1234;
    const r = timed(['state', '--seq', String(seq), '-o', 'json']);
    const s = JSON.parse(r.stdout) as { seq: number };
    if (s.seq !== seq) throw new Error(`state --seq ${seq} answered seq ${s.seq}`);
    stateMs.push(r.ms);
    progress(`audit: state --seq ${seq}: ${Math.round(r.ms)} ms`);
  }
  out.stateAt = { p50Ms: Math.round(p50(stateMs)), maxMs: Math.round(Math.max(...stateMs)), nodeStartMs: Math.round(node0), targetMs: 1000 };

  // the live audit: the whole log refolded, every stored snapshot compared as the refold reaches it (each block once)
  const tl = performance.now();
  const live = spawnSync('node', [CLI, 'audit', 'verify'], { env, encoding: 'utf8', maxBuffer: 1 << 30 });
  const liveSec = (performance.now() - tl) / 1000;
  if (live.status !== 0) throw new Error(`hyper audit verify failed: ${live.stdout.slice(-800)}${live.stderr}`);
  const compared = /snapshots and views: (.*)/.exec(live.stdout)?.[1].split(', ').length ?? 0;
  out.liveVerify = { seconds: +liveSec.toFixed(1), eventsPerSec: Math.round(total / liveSec), snapshotsCompared: compared };
  progress(`audit: live verify ${JSON.stringify(out.liveVerify)}`);

  // export and offline verify
  const trail = join(n.dir, 'trail.jsonl');
  const te = performance.now();
  execFileSync('sh', ['-c', `node ${CLI} audit export --data-dir ${join(n.dir, 'x')} > ${trail}`], { env });
  const exportSec = (performance.now() - te) / 1000;
  out.export = { seconds: +exportSec.toFixed(1), eventsPerSec: Math.round(total / exportSec), mb: +(statSync(trail).size / 1e6).toFixed(1) };
  progress(`audit: export ${JSON.stringify(out.export)}`);
  const tv = performance.now();
  const ver = spawnSync('node', [CLI, 'audit', 'verify', '--file', trail], { env, encoding: 'utf8', maxBuffer: 1 << 30 });
  const verifySec = (performance.now() - tv) / 1000;
  if (ver.status !== 0) throw new Error(`offline verify failed: ${ver.stdout.slice(-500)}${ver.stderr}`);
  out.offlineVerify = { seconds: +verifySec.toFixed(1), eventsPerSec: Math.round(total / verifySec) };
  progress(`audit: offline verify ${JSON.stringify(out.offlineVerify)}`);
  out.sameView = JSON.stringify(v2.toSnapshot()) === JSON.stringify(view.toSnapshot());
  out.target = { replayEventsPerSec: 300_000, stateAtMs: 1000 };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
} finally {
  await n.close();
}

/** Every message of the stream through an ordered consumer, counted and dropped. */
async function deliverOnly(nc: NatsConnection, last: number): Promise<number> {
  const c = await jetstream(nc).consumers.get(STREAM, {});
  let count = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const it = await c.consume({ max_messages: 20_000, callback: (m) => {
    count++;
    if (m.seq >= last) done();
  } });
  await finished;
  await it.close();
  return count;
}
