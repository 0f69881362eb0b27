// A rolling upgrade from the release before (0.7.0, built from its own commit in a git worktree) to this build, on one real
// nats-server: an old and a new hyperd accept, place and run pods side by side, each folding what the other writes; then the
// old one is replaced by this build on its data dir and takes its pods back. No run is placed twice, nobody skips an event:
// vm.booted version 2, which 0.7.0 refuses, is written only once no host of 0.7.0 is left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadView } from '../../src/events/store/load-view.js';
import type { ClusterView } from '../../src/model/cluster-view.js';
import { VERSION } from '../../src/version.js';
import { startTestNats, type TestNats } from '../harness/nats.js';
import { hyper, startHyperd, type DaemonProc } from '../harness/processes.js';

/** 0.7.0 as released: the commit its fixture was recorded from. */
const OLD_COMMIT = 'fd3a51498fd8aeeaffb63039b8837a929c48c1f6';
const root = fileURLToPath(new URL('../../', import.meta.url));
/** The old release is built from this checkout's history (a shallow clone lacks it, and this test says so and fails). */
const hasOld = (() => {
  try {
    execFileSync('git', ['-C', root, 'cat-file', '-e', `${OLD_COMMIT}^{commit}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const oldTree = mkdtempSync(join(tmpdir(), 'hyper-0.7.0-'));
let t: TestNats;
const daemons: DaemonProc[] = [];

async function until(what: string, probe: (v: ClusterView) => boolean, ms = 60_000): Promise<ClusterView> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = (await loadView(t.store, { useSnapshot: false })).view;
    if (probe(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${[...v.pods.values()].map((p) => `${p.context.id}=${p.state}@${p.context.host}`).join(' ')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
const running = (v: ClusterView, n: number) => [...v.pods.values()].filter((p) => p.state === 'running').length === n;

beforeAll(async () => {
  if (!hasOld) throw new Error(`this test builds 0.7.0 from commit ${OLD_COMMIT}, which is not in this clone's history (a shallow clone?): git fetch --unshallow`);
  // the old release's own build: its sources at its commit, compiled with this tree's (identical) dependencies
  rmSync(oldTree, { recursive: true, force: true });
  execFileSync('git', ['-C', root, 'worktree', 'add', '--detach', '--force', oldTree, OLD_COMMIT], { stdio: 'ignore' });
  symlinkSync(join(root, 'node_modules'), join(oldTree, 'node_modules'));
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', oldTree], { stdio: 'inherit' });
  expect(existsSync(join(oldTree, 'dist/src/daemon/main.js'))).toBe(true);
  t = await startTestNats();
}, 120_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await t?.close();
  if (hasOld) execFileSync('git', ['-C', root, 'worktree', 'remove', '--force', oldTree], { stdio: 'ignore' });
  rmSync(oldTree, { recursive: true, force: true });
});

describe(`a rolling upgrade from 0.7.0 (built from commit ${OLD_COMMIT.slice(0, 7)} of this clone's history)`, () => {
  it('old and new daemons run pods side by side, and the old one replaced by this build takes its pods back', async () => {
    const args = (host: string) => ['--nats', t.server.url, '--host-id', host, '--data-dir', join(t.dir, host), '--driver', 'hollow', '--cpus', '100', '--memory', '100000'];
    const old = startHyperd(args('old'), {}, join(oldTree, 'dist/src/daemon/main.js'));
    const neu = startHyperd(args('new'));
    daemons.push(old, neu);
    await Promise.all([old.ready, neu.ready]);

    // submitted as clients do, through whichever daemon's acceptor takes each intent
    for (let i = 0; i < 10; i++) {
      const r = await hyper(['--nats', t.server.url, 'run', '-d', '--restart', 'always', '--name', `mv${i}`, 'busybox'], {});
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const mixed = await until('10 pods running on both versions', (v) => running(v, 10));
    expect(new Set([...mixed.pods.values()].map((p) => p.context.host))).toEqual(new Set(['old', 'new']));
    expect(mixed.hosts.get('old')?.version).toBe('0.7.0');
    expect(mixed.hosts.get('new')?.version).toBe(VERSION);

    // the upgrade: the old daemon stops (its hollow VMs with it), this build starts on its data dir under its host id
    expect(await old.stop('SIGTERM')).toBe(0);
    const upgraded = startHyperd(args('old'));
    daemons.push(upgraded);
    await upgraded.ready;
    const rejoined = await until('the old host rejoined as this build', (v) => v.hosts.get('old')?.version === VERSION && v.hosts.get('old')?.state === 'up');
    expect(rejoined.hosts.get('old')?.epoch).toBe(2);
    // hollow VMs cannot outlive their daemon (real ones are re-attached: scenarios/qemu-rolling-restart.yaml): the old
    // host's pods were stopped by its shutdown, the new host's ran on; started again, they are placed by either version's log
    const stopped = [...rejoined.pods.values()].filter((p) => p.state === 'stopped');
    expect(stopped.length).toBe([...mixed.pods.values()].filter((p) => p.context.host === 'old').length);
    for (const p of stopped) expect((await hyper(['--nats', t.server.url, 'start', p.context.name!], {})).exitCode).toBe(0);
    const after = await until('every pod running again', (v) => running(v, 10));
    expect([...after.pods.values()].filter((p) => p.context.run === 1 && p.context.host === 'new')).toHaveLength(10 - stopped.length);

    // every run placed once, whichever version placed it
    const placements = new Map<string, Set<string>>();
    for await (const r of t.store.replay()) {
      if (!r.ok || r.event.type !== 'pod.scheduled') continue;
      const k = `${r.event.pod}/${r.event.data.run}/${r.event.data.attempt}`;
      placements.set(k, (placements.get(k) ?? new Set()).add(r.event.id));
    }
    expect([...placements].filter(([, ids]) => ids.size > 1)).toEqual([]);
    // vm.booted as written: version 1 while a host of 0.7.0 was in the cluster, version 2 once the last one was upgraded
    const rejoinedAt = [...rejoined.hosts.values()].find((h) => h.id === 'old')!.seq;
    const booted = { before: new Set<number>(), after: new Set<number>() };
    for await (const batch of t.store.replayBatches(1, undefined, { keepRaw: true })) {
      for (const r of batch) {
        if (!r.ok || r.event.type !== 'vm.booted') continue;
        const written = (JSON.parse(new TextDecoder().decode(r.raw)) as { v: number }).v;
        (r.seq < rejoinedAt ? booted.before : booted.after).add(written);
      }
    }
    expect(booted).toEqual({ before: new Set([1]), after: new Set([2]) });
    // neither version met an event it could not read
    for (const d of [old, neu, upgraded]) expect(d.log()).not.toMatch(/newer than this hyper reads|skipped an invalid message/);
  }, 180_000);
});
