// Replay: a recorded event log (test/fixtures, named after the version that wrote it) folds to the state the live daemon had;
// a corrupted log fails loudly, naming the sequence and the field. HYPER_RECORD_FIXTURE=1 re-records it from a live run.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterView, upcastSnapshot, type ViewSnapshot } from '../../src/model/cluster-view.js';
import { decodeRecord } from '../../src/events/store/event-store.js';
import { SnapshotStore } from '../../src/events/store/snapshots.js';
import { ReplayError } from '../../src/errors.js';
import { VERSION } from '../../src/version.js';
import { startTestNats, type TestNats } from '../harness/nats.js';
import { hyper, startHyperd } from '../harness/processes.js';

const FIXTURE = new URL('../fixtures/', import.meta.url).pathname;
const NAME = 'hyper-0.1.0-lifecycle';
// one recorded log per released version, each written by that version's own build (scripts/record-fixture.mjs)
const RELEASED = ['0.1.0', '0.2.0', '0.3.0', '0.4.0', '0.5.0', '0.6.0', '0.7.0', '0.8.0'];
interface Line { seq: number; subject: string; payload: string }

function fold(lines: Line[], upTo = Infinity): ClusterView {
  const v = new ClusterView();
  for (const l of lines) if (l.seq <= upTo) v.apply(decodeRecord(l.seq, l.subject, l.payload), true);
  return v;
}

/** A live run through the real CLI and daemon; returns the raw log and the view the daemon saved when it stopped. */
async function recordLive(t: TestNats): Promise<{ lines: Line[]; view: ViewSnapshot }> {
  const d = startHyperd(['--nats', t.server.url, '--host-id', 'rec-h1', '--data-dir', join(t.dir, 'd'), '--cpus', '8', '--memory', '4096']);
  await d.ready;
  const env = { HYPER_NATS: t.server.url };
  const run = (args: string[]) => hyper(args, env);
  await run(['run', '-d', '--name', 'web', '-e', 'MODE=prod', 'nginx']);
  await run(['run', '-l', 'hollow.exit-after-ms=20', '-l', 'hollow.exit-code=3', 'busybox', 'sh', '-c', 'exit 3']);
  await run(['run', '-l', 'hollow.exit-after-ms=20', 'busybox', 'true']);
  const flaky = (await run(['run', '-d', '--restart', 'on-failure', '-l', 'hollow.exit-after-ms=30', '-l', 'hollow.exit-code=1', 'busybox', 'false'])).stdout.trim();
  await run(['create', '--name', 'later', 'busybox']);
  await run(['start', 'later']);
  await run(['stop', 'later']);
  await run(['start', 'later']);
  await run(['run', '--cpus', '64', '--wait-timeout', '1s', 'busybox']); // fits nowhere: it would wait for room
  await new Promise((r) => setTimeout(r, 500)); // let the on-failure pod restart a few times
  await run(['rm', '-f', flaky]);
  await run(['rm', '-f', 'later']);
  expect(await d.stop('SIGTERM')).toBe(0);
  const view = (await (await SnapshotStore.open(t.nc)).load())!;
  const lines: Line[] = [];
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const jsm = await jetstreamManager(t.nc);
  const last = await t.store.lastSeq();
  for (let seq = 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage('HYPER_EVENTS', { seq });
    lines.push({ seq, subject: m!.subject, payload: m!.string() });
  }
  return { lines, view };
}

const readFixture = (name = NAME) => ({
  lines: readFileSync(join(FIXTURE, `${name}.events.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line),
  view: JSON.parse(readFileSync(join(FIXTURE, `${name}.view.json`), 'utf8')) as ViewSnapshot,
});

/** Builds before 0.6 did not keep pods' recent event ids in their snapshots: compared without them. */
const withoutRecent = (s: ViewSnapshot): ViewSnapshot => ({ ...s, pods: s.pods.map(({ recent: _, ...p }) => p) });

/** Builds before 0.7 did not record a container's last exit (folded from container.exited before a restart): compared without it. */
const withoutLastExit = (s: ViewSnapshot): ViewSnapshot => ({
  ...s,
  pods: s.pods.map((p) => ({ ...p, context: { ...p.context, containers: Object.fromEntries(Object.entries(p.context.containers).map(([n, { lastExit: _, ...c }]) => [n, c])) } })),
});

/** The replayed snapshot as the build of `version` would have written it: without the fields that build did not keep. */
function asWrittenBy(version: string, s: ViewSnapshot): ViewSnapshot {
  let out = s;
  if (version < '0.6.0') out = withoutRecent(out);
  if (version < '0.7.0') out = withoutLastExit(out);
  return out;
}

describe('live run ≡ replay', () => {
  let t: TestNats;
  beforeAll(async () => {
    t = await startTestNats();
  });
  afterAll(() => t?.close());

  it('the view a live daemon built equals a strict replay of the log it wrote', async () => {
    const { lines, view } = await recordLive(t);
    expect(view.seq).toBeGreaterThan(30);
    expect(fold(lines, view.seq).toSnapshot()).toEqual(view);
    if (process.env.HYPER_RECORD_FIXTURE === '1') {
      expect(VERSION).toBe('0.1.0'); // fixtures are named after the version that wrote them: add a new file for a new version
      writeFileSync(join(FIXTURE, `${NAME}.events.jsonl`), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      writeFileSync(join(FIXTURE, `${NAME}.view.json`), JSON.stringify(view, null, 1) + '\n');
    }
  }, 90_000);
});

describe.each(RELEASED.slice(1))('recorded log of hyper %s (its own build)', (version) => {
  const name = `hyper-${version}-lifecycle`;
  it('folds under this build to the view that build saved (its snapshot, upcast)', () => {
    const { lines, view: recorded } = readFixture(name);
    const view = upcastSnapshot(recorded)!;
    const replayed = fold(lines, view.seq);
    // from 0.6 the snapshot keeps each pod's recent event ids, and the fold must rebuild them exactly
    const keepsIds = view.pods.some((p) => p.recent);
    expect(keepsIds).toBe(version >= '0.6.0');
    expect(asWrittenBy(version, replayed.toSnapshot())).toEqual(view);
    const states = Object.fromEntries(view.pods.map((p) => [p.context.name ?? p.context.id, p.state]));
    expect(states.web).toBe('stopped');
    expect(Object.values(states)).toEqual(expect.arrayContaining(['failed', 'succeeded', 'deleted']));
    expect(view.pods.some((p) => Object.values(p.context.containers).some((c) => c.restarts > 0))).toBe(true);
    // host.joined was v1 then: read as v2
    expect(lines.some((l) => l.payload.includes('"type":"host.joined"') && l.payload.includes('"v":1'))).toBe(true);
  });

  it('folds the whole log strictly, every event valid under this build', () => {
    const { lines } = readFixture(name);
    expect(fold(lines).seq).toBe(lines.length);
  });
});

describe(`recorded log ${NAME}`, () => {
  it('folds to the view the live daemon recorded (a format 1 snapshot, upcast)', () => {
    const { lines, view: recorded } = readFixture();
    expect(recorded.format).toBe(1);
    const view = upcastSnapshot(recorded)!;
    const replayed = fold(lines, view.seq);
    // 0.1.0 did not keep containers' pids in the view, so the upcast cannot know them: compare everything else
    const noPids = (s: ViewSnapshot) => ({ ...s, pods: s.pods.map((p) => ({ ...p, context: { ...p.context, containers: Object.fromEntries(Object.entries(p.context.containers).map(([n, c]) => [n, { ...c, pid: null }])) } })) });
    expect(noPids(asWrittenBy('0.1.0', replayed.toSnapshot()))).toEqual(view);
    expect(replayed.toSnapshot().pods.some((p) => Object.values(p.context.containers).some((c) => c.pid !== null))).toBe(true);
    const states = Object.fromEntries(view.pods.map((p) => [p.context.name ?? p.context.id, p.state]));
    expect(states.web).toBe('stopped'); // the daemon stopped it when it shut down
    expect(Object.values(states)).toEqual(expect.arrayContaining(['failed', 'succeeded', 'deleted']));
    expect(view.pods.some((p) => Object.values(p.context.containers).some((c) => c.restarts > 0))).toBe(true);
  });

  it('folds the whole log (including events after the snapshot) without error', () => {
    const { lines } = readFixture();
    expect(fold(lines).seq).toBe(lines.length);
  });

  it('a corrupted event fails with its sequence and the field', () => {
    const { lines } = readFixture();
    const i = lines.findIndex((l) => l.payload.includes('"container.exited"'));
    const bad = structuredClone(lines);
    bad[i].payload = bad[i].payload.replace(/"exitCode":\d+/, '"exitCode":"three"');
    expect(() => fold(bad)).toThrow(ReplayError);
    expect(() => fold(bad)).toThrow(new RegExp(`event log is corrupt at sequence ${lines[i].seq}: invalid event on ${lines[i].subject.replace(/\./g, '\\.')}: data\\.exitCode: `));
  });

  it('a missing event or a truncated line fails loudly', () => {
    const { lines } = readFixture();
    const gap = lines.filter((_, i) => i !== 5);
    expect(() => fold(gap)).toThrow(`event log is corrupt at sequence ${lines[6].seq}: events ${lines[5].seq}..${lines[5].seq} are missing`);
    const cut = structuredClone(lines);
    cut[3].payload = cut[3].payload.slice(0, 20);
    expect(() => fold(cut)).toThrow(/corrupt at sequence 4: .*not JSON/);
  });
});
