// `hyper history`, `why`, `state` and `audit verify|export|replay`: the event log read as an audit record, live from
// NATS or offline from an exported trail (--file), with the same answers either way.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { nkeys } from '@nats-io/transport-node';
import { HyperError } from '../../errors.js';
import { addressOf, AUDIT_VIEW, podSubject, STREAM, SNAPSHOT_BUCKET } from '../../events/schemas/subjects.js';
import type { ClusterView, ViewSnapshot } from '../../model/cluster-view.js';
import type { LazyStart } from '../../events/store/snapshot-codec.js';
import type { Record_ } from '../../model/record.js';
import { parseTimeArg } from '../../duration.js';
import { defaultDataDir } from '../../daemon/paths.js';
import { authDir } from '../../auth/credentials.js';
import { podHistory, renderHistory, type PodHistory } from '../../audit/history.js';
import { explain } from '../../audit/why.js';
import { clusterState, diffStates, foldTo, renderState, type Point } from '../../audit/state.js';
import { readTrail, TrailWriter, trailMessage, type ReadTrail, type TrailSignature } from '../../audit/trail.js';
import { refold, type Divergence, type VerifyReport } from '../../audit/verify.js';
import { openSession, type GlobalOptions, type Session } from '../connection.js';
import { jsonPieces, printJson } from '../format.js';
import { resolvePodEver } from '../resolve.js';
import { write } from '../stdio.js';
import { cliActor } from '../intent.js';

/** A point of the log as --at/--since take it: a bare sequence number (fewer than 9 digits), else a time. */
export function parsePoint(text: string, flag: string, now = Date.now()): Point {
  if (/^\d{1,8}$/.test(text.trim())) return { seq: Number(text) };
  const at = parseTimeArg(text, now);
  if (at === null) throw new HyperError('invalid', `${flag} ${text}: give a sequence number (e.g. 1200), an RFC 3339 time (2026-12-03T10:00:00Z), Unix seconds, or a duration back from now (10m)`);
  return { at };
}

/** The records of a trail file, its problems checked first: a trail that does not verify is refused for answers. */
function loadTrail(file: string, o: { allowBroken?: boolean } = {}): ReadTrail {
  if (!existsSync(file)) throw new HyperError('not-found', `no trail at ${file}: make one with hyper audit export > ${file}`);
  const t = readTrail(readFileSync(file, 'utf8'), verifySignature);
  if (t.problems.length && !o.allowBroken) {
    const p = t.problems[0];
    throw new HyperError('tampered', `${file} does not verify (line ${p.line}${p.seq !== undefined ? `, seq ${p.seq}` : ''} ${p.problem}${t.problems.length > 1 ? `; ${t.problems.length - 1} more problem(s)` : ''}): see hyper audit verify --file ${file}`);
  }
  return t;
}

function verifySignature(s: TrailSignature, text: string): boolean {
  try {
    return nkeys.fromPublic(s.key).verify(new TextEncoder().encode(text), Buffer.from(s.sig, 'base64'));
  } catch {
    return false;
  }
}

/** This data dir's audit signing key (an nkey made on first export, 0600 in the 0700 auth dir), or null where it cannot be had. */
function signingKey(dataDir: string): ReturnType<typeof nkeys.fromSeed> | null {
  const file = join(authDir(dataDir), 'audit-key.json');
  try {
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const kp = nkeys.createAccount();
      writeFileSync(file, JSON.stringify({ seed: new TextDecoder().decode(kp.getSeed()), public: kp.getPublicKey() }) + '\n', { mode: 0o600, flag: 'wx' });
    }
    return nkeys.fromSeed(new TextEncoder().encode((JSON.parse(readFileSync(file, 'utf8')) as { seed: string }).seed));
  } catch {
    return null;
  }
}

/** Where answers come from: a live session's log, or a trail's records. */
interface LogSource {
  tenant: string;
  view(): Promise<ClusterView>;
  podRecords(view: ClusterView, ref: string): Promise<{ id: string; records: Record_[] }>;
  /** The log's records in batches, from a sequence (and to one, when the reader knows where it stops). */
  batches(fromSeq?: number, untilSeq?: number): AsyncIterable<Record_[]>;
  /** The newest stored snapshot before a point (live only: a trail has none), its pods' rows read as the fold needs them. */
  nearest(p: Point): Promise<LazyStart | ViewSnapshot | null>;
  close(): Promise<void>;
}

async function sourceOf(g: GlobalOptions, file: string | undefined): Promise<LogSource> {
  if (file) {
    const t = loadTrail(file);
    const tenant = g.tenant ?? 'default';
    const { view } = await foldTo([t.records], { seq: Number.MAX_SAFE_INTEGER });
    return {
      tenant,
      view: async () => view,
      podRecords: async (v, ref) => {
        const rec = resolvePodEver(v, ref, tenant);
        const subject = podSubject(addressOf(rec.context));
        return { id: rec.context.id, records: t.records.filter((r) => r.subject === subject) };
      },
      batches: () => (async function* () { yield t.records; })(),
      nearest: async () => null,
      close: async () => {},
    };
  }
  const s = await openSession(g);
  let folded: ClusterView | null = null;
  return {
    tenant: s.tenant,
    view: async () => (folded ??= await s.view()),
    podRecords: async (v, ref) => {
      const rec = resolvePodEver(v, ref, s.tenant);
      return { id: rec.context.id, records: await s.store.history(addressOf(rec.context)) };
    },
    batches: (fromSeq = 1, untilSeq) => s.store.replayBatches(fromSeq, undefined, { untilSeq }),
    nearest: async (p) => {
      if (s.store.scoped) return null;
      const { SnapshotStore } = await import('../../events/store/snapshots.js');
      // on a connection of its own: the pod rows it fetches after the tail is read would wait behind the tail's overflow
      return (await SnapshotStore.open(await s.another())).nearestLazy(p).catch(() => null);
    },
    close: () => s.close(),
  };
}

async function withSource(g: GlobalOptions, file: string | undefined, fn: (src: LogSource) => Promise<void>): Promise<void> {
  const src = await sourceOf(g, file);
  try {
    await fn(src);
  } finally {
    await src.close();
  }
}

/** A pod's history from a source, the pod found by id, prefix or name (removed ones too). */
async function historyOf(src: LogSource, ref: string): Promise<PodHistory> {
  const { id, records } = await src.podRecords(await src.view(), ref);
  return podHistory(records, id);
}

export function registerAudit(program: Command, globals: () => GlobalOptions): void {
  program
    .command('history <pod>')
    .description('every run of a pod: each state it entered, when, for how long, where, the event that caused it and who asked')
    .option('--file <trail>', 'answer from an exported trail (hyper audit export), offline')
    .action((ref: string, o: { file?: string }) =>
      withSource(globals(), o.file, async (src) => {
        const h = await historyOf(src, ref);
        if (globals().output === 'json') return printJson({ pod: h.pod, name: h.name, tenant: h.tenant, requestedBy: h.requestedBy, state: h.final.state, entries: h.entries });
        await write(process.stdout, renderHistory(h) + '\n');
      }));

  program
    .command('why <pod>')
    .description('the pod\'s current state explained from its events: what caused it, when, where, its restart policy, who asked')
    .option('--file <trail>', 'answer from an exported trail, offline')
    .action((ref: string, o: { file?: string }) =>
      withSource(globals(), o.file, async (src) => {
        const h = await historyOf(src, ref);
        // offline, "how long" is counted to the trail's last event, so the answer is the same whenever it is asked
        const now = o.file ? Math.max(0, ...h.entries.map((e) => e.at)) : Date.now();
        const text = explain(h, now);
        if (globals().output === 'json') return printJson({ pod: h.pod, name: h.name, state: h.final.state, why: text });
        await write(process.stdout, text + '\n');
      }));

  program
    .command('state')
    .description('the whole cluster (hosts, pods, placements, resources) as it stood at a point of the log, rebuilt by replay')
    .option('--at <time|seq>', 'a time (RFC 3339, Unix seconds, or 10m back) or a sequence number; default: now')
    .option('--seq <n>', 'a stream sequence')
    .option('--diff <points...>', 'what changed between two points (times or sequences)')
    .option('--file <trail>', 'answer from an exported trail, offline')
    .action((o: { at?: string; seq?: string; diff?: string[]; file?: string }) =>
      withSource(globals(), o.file, async (src) => {
        // from the nearest snapshot before the point, so a long log is not folded from its start
        const at = async (p: Point) => {
          const from = await src.nearest(p);
          const seq = from ? ('prepare' in from ? from.snapshot.seq : from.seq) : 1;
          const { view, at: t } = await foldTo(src.batches(Math.max(1, seq), 'seq' in p && p.seq < Number.MAX_SAFE_INTEGER ? p.seq : undefined), p, from);
          return clusterState(view, t);
        };
        if (o.diff) {
          if (o.diff.length !== 2) throw new HyperError('invalid', '--diff takes two points, e.g. --diff 1200 1500 or --diff 2026-12-03T10:00:00Z 10m');
          const [a, b] = [await at(parsePoint(o.diff[0], '--diff')), await at(parsePoint(o.diff[1], '--diff'))];
          if (globals().output === 'json') return printJson({ from: a, to: b, changes: diffStates(a, b).slice(1) });
          return write(process.stdout, diffStates(a, b).join('\n') + '\n');
        }
        const point: Point = o.seq ? { seq: Number(o.seq) } : o.at ? parsePoint(o.at, '--at') : { seq: Number.MAX_SAFE_INTEGER };
        const s = await at(point);
        if (globals().output === 'json') {
          for (const piece of jsonPieces(s as unknown as Record<string, unknown>, 'pods')) await write(process.stdout, piece);
          return;
        }
        await write(process.stdout, renderState(s) + '\n');
      }));

  const audit = program.command('audit').description('check the event log, or export it as a tamper-evident trail that verifies and replays offline');
  audit
    .command('verify')
    .description('refold the whole log and check it: no gaps, every message valid, snapshots and projections equal to the refold')
    .option('--file <trail>', 'verify an exported trail offline instead (its chain, its summary and signature, then the refold)')
    .option('--key <public-nkey>', 'with --file: the key the trail must be signed with')
    .action(async (o: { file?: string; key?: string }) => {
      if (o.file) return verifyFile(o.file, o.key);
      const s = await openSession(globals());
      try {
        s.requireAdmin('hyper audit verify');
        await verifyLive(s);
      } finally {
        await s.close();
      }
    });
  audit
    .command('export')
    .description('write every event with its sequence as hash-chained JSON lines, and a signed summary last: hyper audit export > trail.jsonl')
    .option('--since <time|seq>', 'begin at a sequence or time (the first line then chains from there)')
    .action(async (o: { since?: string }) => {
      const g = globals();
      const s = await openSession(g);
      try {
        s.requireAdmin('hyper audit export');
        await exportTrail(s, g, o.since);
      } finally {
        await s.close();
      }
    });
  audit
    .command('replay <trail>')
    .description('replay an exported trail offline: verify it, then print the cluster as it ends (history, why, state take --file too)')
    .action(async (file: string) => {
      const t = loadTrail(file);
      const { view, at } = await foldTo([t.records], { seq: Number.MAX_SAFE_INTEGER });
      const s = clusterState(view, at);
      if (globals().output === 'json') return printJson({ summary: t.summary, state: s });
      await write(process.stdout, `${file}: ${t.records.length} messages, seq ${t.summary?.firstSeq ?? '-'}..${t.summary?.lastSeq ?? '-'}, chain intact${t.signature ? `, signed by ${t.signature.key}` : ''}\n${renderState(s)}\n`);
    });
}

async function exportTrail(s: Session, g: GlobalOptions, since: string | undefined): Promise<void> {
  const bounds = await s.store.bounds();
  let from = bounds?.first ?? 1;
  const point = since ? parsePoint(since, '--since') : null;
  if (point && 'seq' in point) from = Math.max(from, point.seq);
  const w = new TrailWriter();
  let started = !point || 'seq' in point;
  for await (const batch of s.store.replayBatches(from, undefined, { keepRaw: true })) {
    const lines: string[] = [];
    for (const r of batch) {
      if (!started && point && 'at' in point && r.ok && r.event.at >= point.at) started = true;
      if (!started) continue;
      lines.push(w.line(trailMessage(r.seq, r.subject, r.raw ?? new Uint8Array())));
    }
    if (lines.length) await write(process.stdout, lines.join('\n') + '\n');
  }
  const key = signingKey(g.dataDir ?? defaultDataDir());
  const sign = key ? (text: string): TrailSignature => ({ alg: 'ed25519-nkey', key: key.getPublicKey(), sig: Buffer.from(key.sign(new TextEncoder().encode(text))).toString('base64') }) : undefined;
  await write(process.stdout, w.summary({ stream: STREAM, exportedAt: Date.now(), exportedBy: cliActor(), since, sign }) + '\n');
  if (!key) process.stderr.write('hyper: the trail is checksummed but not signed: no audit key could be made under the data dir (run as the daemon\'s user)\n');
}

function printReport(r: VerifyReport, extra: Divergence[], head: string, gapsFail = true): number {
  const all = [...r.divergences, ...extra];
  const lines = [head, `${r.events} messages, seq ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'}, ${r.view.pods.size} pods, ${r.view.hosts.size} hosts`];
  lines.push(r.gaps.length ? `GAPS: ${r.gaps.map((gp) => (gp.from === gp.to ? `seq ${gp.from}` : `seq ${gp.from}..${gp.to}`)).join(', ')} missing` : 'no gaps');
  if (r.invalid.length) {
    lines.push(`${r.invalid.length} message(s) that never validated (published by a foreign client; skipped by every fold):`);
    for (const i of r.invalid.slice(0, 50)) lines.push(`  seq ${i.seq} on ${i.subject}: ${i.problem.length > 240 ? `${i.problem.slice(0, 240)}…` : i.problem}`);
  }
  if (r.newer.length) lines.push(`${r.newer.length} message(s) of a newer hyper (unread by this build): ${r.newer.slice(0, 5).map((n) => `seq ${n.seq}`).join(', ')}`);
  lines.push(r.snapshots.length ? `snapshots and views: ${r.snapshots.map((sn) => `seq ${sn.seq} ${sn.ok ? 'ok' : 'DIVERGES'}`).join(', ')}` : 'no stored snapshot to compare');
  if (r.daemons) lines.push(r.daemons.length ? `live views compared: ${r.daemons.join('; ')}` : 'no daemon answered with its view');
  for (const d of all.slice(0, 100)) lines.push(`DIVERGENCE in ${d.source}: ${d.entity} at seq ${d.seq}, ${d.field}: expected ${JSON.stringify(d.expected)}, found ${JSON.stringify(d.found)}`);
  const bad = all.length > 0 || (gapsFail && r.gaps.length > 0);
  lines.push(bad ? `FAILED: ${all.length} divergence(s), ${r.gaps.length} gap(s)` : 'ok: the log refolds to what the snapshots and projections hold');
  process.stdout.write(lines.join('\n') + '\n');
  return bad ? 1 : 0;
}

async function verifyLive(s: Session): Promise<void> {
  const { SnapshotStore } = await import('../../events/store/snapshots.js');
  const bounds = await s.store.bounds();
  const snaps = await SnapshotStore.open(s.nc);
  const stored = await snaps.forAudit((seq) => `snapshot@${seq} (${SNAPSHOT_BUCKET})`);
  // every daemon's folded view, as it stands now (each writes it to the bucket and says at which sequence)
  const live: { source: string; snapshot: ViewSnapshot; key: string }[] = [];
  try {
    for await (const m of await s.nc.requestMany(AUDIT_VIEW, '', { maxWait: 3_000 })) {
      try {
        const r = JSON.parse(m.string()) as { daemon: string; hosts: string[]; key: string };
        const snapshot = await snaps.readAs(r.key);
        if (snapshot) live.push({ source: `daemon ${r.daemon}'s view (hosts ${r.hosts.join(', ')})`, snapshot, key: r.key });
      } catch {
        // an answer that is not one is no daemon's
      }
    }
  } catch {
    // no daemon runs ("no responders"): there is no live view to compare
  }
  const report = await refold(s.store.replayBatches(bounds?.first ?? 1), { firstRetained: bounds?.first ?? 1, snapshots: [...stored, ...live] });
  for (const l of live) await snaps.removeAs(l.key).catch(() => {});
  report.daemons = live.map((l) => l.source);
  const extra = await nameDivergences(s, report.view);
  process.exitCode = printReport(report, extra, `audit of ${STREAM} (live)`);
}

/** The names bucket is a projection of the log: every live pod's name must point at it. */
async function nameDivergences(s: Session, view: ClusterView): Promise<Divergence[]> {
  const { Kvm } = await import('@nats-io/kv');
  const { NAME_BUCKET, nameKey } = await import('../../events/schemas/subjects.js');
  const kv = await new Kvm(s.nc).open(NAME_BUCKET);
  const out: Divergence[] = [];
  for (const p of view.pods.values()) {
    if (!p.context.name || p.state === 'deleted') continue;
    const key = nameKey(p.context.tenant ?? 'default', p.context.name);
    const e = await kv.get(key);
    const found = e?.operation === 'PUT' ? e.string() : null;
    if (found !== p.context.id) out.push({ source: `names bucket (${NAME_BUCKET})`, entity: `pod ${p.context.id}`, seq: view.seq, field: `name ${key}`, expected: p.context.id, found });
  }
  return out;
}

async function verifyFile(file: string, key: string | undefined): Promise<void> {
  const t = loadTrail(file, { allowBroken: true });
  const problems = [...t.problems];
  if (key && t.signature?.key !== key) problems.push({ line: 0, problem: t.signature ? `is signed by ${t.signature.key}, not by ${key}` : `is not signed (expected ${key})` });
  const seqs = t.records.map((r) => r.seq);
  const report = await refold([t.records], { firstRetained: seqs[0] ?? 1, snapshots: [] });
  const lines = problems.map((p) => `TAMPERED: ${p.line ? `line ${p.line}` : 'the trail'}${p.seq !== undefined ? ` (seq ${p.seq})` : ''} ${p.problem}`);
  if (lines.length) process.stdout.write(lines.join('\n') + '\n');
  // a trail's own gaps are the stream's (deleted messages) as exported: a line removed since is caught by the chain
  const code = printReport(report, [], `trail ${file}: ${t.signature ? `signed by ${t.signature.key}` : 'unsigned (checksummed only)'}${t.summary ? `, exported ${new Date(t.summary.exportedAt).toISOString()} by ${t.summary.exportedBy}` : ''}`, false);
  process.exitCode = problems.length ? 1 : code;
}
