// Audit against a real nats-server and a hollow hyperd, through the real CLI: events filtered by host, type, author and
// window (and quiet into head); verify passes on a healthy log, lists a foreign client's invalid message without
// failing, and pinpoints a divergence injected into a stored snapshot and into the names bucket, and compares a running
// daemon's folded view; state --at and --diff;
// checkpoints kept for --at; an export replayed offline gives the live answers, and a changed line is named.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hyper, startHyperd, type DaemonProc } from '../harness/processes.js';
import { startTestNats, type TestNats } from '../harness/nats.js';
import { SnapshotStore, CHECKPOINT_EVERY } from '../../src/events/store/snapshots.js';
import { NAME_BUCKET } from '../../src/events/schemas/subjects.js';
import { ClusterView } from '../../src/model/cluster-view.js';

let n: TestNats;
let d: DaemonProc;
let env: Record<string, string>;
const ids: Record<string, string> = {};

beforeAll(async () => {
  n = await startTestNats();
  env = { HYPER_NATS: n.server.url };
  d = startHyperd(['--nats', n.server.url, '--host-id', 'a', '--data-dir', join(n.dir, 'a'), '--driver', 'hollow'], env);
  await d.ready;
  await hyper(['run', '--name', 'job', '--restart', 'on-failure:1', '-l', 'hollow.exit-after-ms=100', '-l', 'hollow.exit-code=3', 'busybox', 'true'], env);
  ids.web = (await hyper(['run', '-d', '--name', 'web', 'busybox', 'sleep', '100'], env)).stdout.trim();
  for (let i = 0; i < 80 && !/web .*running/.test((await hyper(['ps'], env)).stdout); i++) await new Promise((r) => setTimeout(r, 250));
  await hyper(['stop', 'web'], env);
  // a foreign client writes garbage on a pod subject: it never validates, and must not fail the audit
  n.nc.publish('hyper.pod.default.foreign1', '{"not":"an event"}');
  await n.nc.flush();
  // the daemon snapshots its view when it stops: there is a stored snapshot to check against
  await d.stop('SIGTERM');
}, 90_000);

afterAll(async () => {
  await d?.stop('SIGKILL');
  await n?.close();
});

describe('hyper events filters', () => {
  it('by type family, host, author and a window of sequences; quiet into head', async () => {
    const types = (await hyper(['events', '-o', 'json', '--type', 'container.*'], env)).stdout.split('\n').map((l) => JSON.parse(l).type);
    expect(new Set(types)).toEqual(new Set(['container.started', 'container.exited']));
    const byCli = (await hyper(['events', '-o', 'json', '--by', 'cli:'], env)).stdout.split('\n').map((l) => JSON.parse(l).type);
    expect(byCli).toEqual(['pod.requested', 'pod.requested', 'pod.stop.requested']);
    const onHost = (await hyper(['events', '-o', 'json', '--host', 'a', '--type', 'pod.scheduled', 'host.joined'], env)).stdout.split('\n').map((l) => JSON.parse(l).type);
    expect(onHost).toEqual(['host.joined', 'pod.scheduled', 'pod.scheduled']);
    const window = (await hyper(['events', '-o', 'json', '--since', '3', '--until', '5'], env)).stdout.split('\n').map((l) => JSON.parse(l).seq);
    expect(window).toEqual([3, 4, 5]);
    const piped = execFileSync('sh', ['-c', `node ${CLI} events -o json | head -2; echo "rc=\${PIPESTATUS:-x}"`], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(piped.split('\n').filter((l) => l.startsWith('{'))).toHaveLength(2);
    const stderr = execFileSync('sh', ['-c', `node ${CLI} events -o json 2>&1 >/dev/null | head -0; node ${CLI} events -o json | head -1 >/dev/null`], { env: { ...process.env, ...env }, encoding: 'utf8' });
    expect(stderr).toBe('');
    expect((await hyper(['events', '--since', 'yesterday'], env)).stderr).toContain('--since yesterday: give a sequence number');
  });
});

describe('hyper audit verify', () => {
  it('passes on a healthy log, listing the foreign message that never validated', async () => {
    const r = await hyper(['audit', 'verify'], env);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/1 message\(s\) that never validated .*\n {2}seq \d+ on hyper\.pod\.default\.foreign1: /);
    expect(r.stdout).toMatch(/snapshots and views: seq \d+ ok/);
    expect(r.stdout).toContain('ok: the log refolds to what the snapshots and projections hold');
  });

  it('pinpoints a divergence injected into the stored snapshot and into the names bucket', async () => {
    const snaps = await SnapshotStore.open(n.nc);
    const good = (await snaps.load())!;
    const bad = structuredClone(good);
    bad.pods.find((p) => p.context.name === 'web')!.state = 'running';
    await snaps.save(bad, { replace: true });
    const kv = await new Kvm(n.nc).open(NAME_BUCKET);
    await kv.put('job', 'someoneelse');
    try {
      const r = await hyper(['audit', 'verify'], env);
      expect(r.exitCode).toBe(1);
      expect(r.stdout).toContain(`DIVERGENCE in snapshot@${good.seq} (hyper-snapshots): pod ${ids.web} at seq ${good.seq}, state: expected "stopped", found "running"`);
      expect(r.stdout).toMatch(/DIVERGENCE in names bucket \(hyper-names\): pod \w+ at seq \d+, name job: expected "\w+", found "someoneelse"/);
      // the stored pod's summary (what state --at reads) says it too
      expect(r.stdout).toContain(`DIVERGENCE in snapshot@${good.seq} (hyper-snapshots) summary: pod ${ids.web} at seq ${good.seq}, state: expected "stopped", found "running"`);
      expect(r.stdout).toContain('FAILED: 3 divergence(s), 0 gap(s)');
    } finally {
      await snaps.save(good, { replace: true });
      const job = JSON.parse((await hyper(['inspect', 'job'], env)).stdout)[0].id;
      await kv.put('job', job);
    }
  });
});

describe('hyper state', () => {
  it('--seq, --at and --diff rebuild the cluster as it stood', async () => {
    const events = (await hyper(['events', '-o', 'json', 'web'], env)).stdout.split('\n').map((l) => JSON.parse(l));
    const running = events.find((e) => e.type === 'container.started');
    const atRunning = JSON.parse((await hyper(['state', '--seq', String(running.seq), '-o', 'json'], env)).stdout);
    expect(atRunning.pods.find((p: { name: string }) => p.name === 'web')).toMatchObject({ state: 'running', host: 'a' });
    const byTime = JSON.parse((await hyper(['state', '--at', new Date(running.at).toISOString(), '-o', 'json'], env)).stdout);
    expect(byTime.pods.find((p: { name: string }) => p.name === 'web').state).toBe('running');
    const last = events.at(-1).seq;
    const diff = (await hyper(['state', '--diff', String(running.seq), String(last)], env)).stdout;
    expect(diff).toContain(`~ pod web (${ids.web}): running → stopped`);
  });

  it('keeps a checkpoint every CHECKPOINT_EVERY events and folds --at from the nearest one before it', async () => {
    const snaps = await SnapshotStore.open(n.nc);
    const current = (await snaps.load())!;
    const at = (seq: number) => ({ ...new ClusterView().toSnapshot(), seq });
    try {
      for (const seq of [CHECKPOINT_EVERY + 10, CHECKPOINT_EVERY + 20, CHECKPOINT_EVERY * 2 + 30]) await snaps.save(at(seq));
      expect((await snaps.checkpoints()).map((c) => c.seq)).toEqual([CHECKPOINT_EVERY + 10]);
      expect((await snaps.nearest({ seq: CHECKPOINT_EVERY * 2 }))?.seq).toBe(CHECKPOINT_EVERY + 10);
      expect((await snaps.nearest({ seq: CHECKPOINT_EVERY * 3 }))?.seq).toBe(CHECKPOINT_EVERY * 2 + 30);
      expect((await snaps.nearest({ seq: 5 }))).toBeNull();
    } finally {
      await snaps.save(current, { replace: true });
      await (await new Kvm(n.nc).open('hyper-snapshots')).delete('view.checkpoints');
    }
  });
});

describe('hyper audit verify with daemons running', () => {
  it("compares every running daemon's folded view with the refold at its sequence", async () => {
    const again = startHyperd(['--nats', n.server.url, '--host-id', 'a', '--data-dir', join(n.dir, 'a'), '--driver', 'hollow'], env);
    try {
      await again.ready;
      const r = await hyper(['audit', 'verify'], env);
      expect(r.stdout).toMatch(/live views compared: daemon a-\w+'s view \(hosts a\)/);
      expect(r.exitCode).toBe(0);
    } finally {
      await again.stop('SIGTERM');
    }
  }, 60_000);
});

describe('hyper audit export and offline replay', () => {
  it('the trail verifies offline and answers history, why and state as the live log does; a changed line is named', async () => {
    const file = join(n.dir, 'trail.jsonl');
    const r = await hyper(['audit', 'export', '--data-dir', join(n.dir, 'a')], env);
    expect(r.exitCode).toBe(0);
    writeFileSync(file, r.stdout + '\n');
    const summary = JSON.parse(r.stdout.split('\n').at(-1)!);
    expect(summary.summary).toMatchObject({ stream: 'HYPER_EVENTS', count: r.stdout.split('\n').length - 1 });
    expect(summary.signature.key).toMatch(/^A[A-Z0-9]{55}$/);
    const ok = await hyper(['audit', 'verify', '--file', file, '--key', summary.signature.key], {});
    expect(ok.exitCode).toBe(0);
    for (const args of [['history', 'job'], ['why', 'job'], ['history', 'web'], ['why', 'web'], ['state']]) {
      const live = await hyper(args, env);
      const offline = await hyper([...args, '--file', file], {});
      expect(offline.stdout).toBe(live.stdout);
    }
    expect((await hyper(['audit', 'replay', file], {})).stdout).toMatch(/messages, seq 1\.\.\d+, chain intact, signed by A/);
    const lines = readFileSync(file, 'utf8').split('\n');
    const k = lines.findIndex((l) => l.includes('"container.exited"'));
    lines[k] = lines[k].replace('"exitCode":3', '"exitCode":0');
    writeFileSync(file, lines.join('\n'));
    const bad = await hyper(['audit', 'verify', '--file', file], {});
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`TAMPERED: line ${k + 1} \\(seq \\d+\\) was changed: its content does not match its digest`));
    expect((await hyper(['history', 'job', '--file', file], {})).stderr).toContain(`does not verify (line ${k + 1}`);
    expect((await hyper(['audit', 'verify', '--file', file.replace('trail', 'none')], {})).stderr).toContain('no trail at');
  }, 60_000);
});
