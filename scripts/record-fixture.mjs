#!/usr/bin/env node
// Records a replay fixture with the build of any hyper version: `node scripts/record-fixture.mjs TREE [OUT_DIR]`, where
// TREE is a checkout with dist/ built (e.g. `git worktree add /tmp/h v0.3 && cd /tmp/h && npm run build`). It starts a
// scratch nats-server, runs TREE's hyperd (hollow) and CLI through a pod lifecycle, stops the daemon, and writes the
// raw event log and the view snapshot that daemon saved to OUT_DIR/hyper-<version>-lifecycle.{events.jsonl,view.json}.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const tree = resolve(process.argv[2] ?? '');
const out = resolve(process.argv[3] ?? fileURLToPath(new URL('../test/fixtures/', import.meta.url)));
const version = JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8')).version;
const here = fileURLToPath(new URL('../', import.meta.url));
const { startNatsServer } = await import(join(here, 'dist/src/nats/server.js'));
const { connectNats } = await import(join(here, 'dist/src/nats/connect.js'));
const { jetstreamManager } = await import('@nats-io/jetstream');
const { SnapshotStore } = await import(join(tree, 'dist/src/events/store/snapshots.js')); // the snapshot as that version reads it

const dir = mkdtempSync(join(tmpdir(), 'hyper-record-'));
const server = await startNatsServer({ dataDir: join(dir, 'nats'), name: 'record' });
const env = { ...process.env, HYPER_LOG_FORMAT: 'json', HYPER_NATS: server.url };
const daemon = spawn('node', [join(tree, 'dist/src/daemon/main.js'), '--nats', server.url, '--host-id', 'rec-h1', '--data-dir', join(dir, 'd'), '--cpus', '8', '--memory', '4096'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
await new Promise((ok, fail) => {
  const timer = setTimeout(() => fail(new Error(`hyperd ${version} not ready in 30 s:\n${log}`)), 30_000);
  daemon.stderr.on('data', (b) => {
    log += b;
    if (log.includes('"hyperd ready"')) (clearTimeout(timer), ok());
  });
});
const run = (...args) => {
  try {
    return execFileSync('node', [join(tree, 'dist/src/cli/main.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
  } catch (err) {
    return err.stdout?.toString().trim() ?? ''; // a pod that fails makes `run` exit non-zero: that is part of the story
  }
};
run('run', '-d', '--name', 'web', '-e', 'MODE=prod', 'nginx');
run('run', '-l', 'hollow.exit-after-ms=20', '-l', 'hollow.exit-code=3', 'busybox', 'sh', '-c', 'exit 3');
run('run', '-l', 'hollow.exit-after-ms=20', 'busybox', 'true');
const flaky = run('run', '-d', '--restart', 'on-failure', '-l', 'hollow.exit-after-ms=30', '-l', 'hollow.exit-code=1', 'busybox', 'false');
run('create', '--name', 'later', 'busybox');
run('start', 'later');
run('stop', 'later');
run('start', 'later');
// a pod that fits nowhere: 0.4+ lets it wait for room (so give up after 1 s), older versions fail it at once
const [major, minor] = version.split('.').map(Number);
run('run', '--cpus', '64', ...(major > 0 || minor >= 4 ? ['--wait-timeout', '1s'] : []), 'busybox');
await new Promise((r) => setTimeout(r, 500));
run('rm', '-f', flaky);
run('rm', '-f', 'later');
daemon.kill('SIGTERM');
await new Promise((r) => daemon.on('exit', r));

const nc = await connectNats([server.url], 'record');
const view = await (await SnapshotStore.open(nc)).load();
const jsm = await jetstreamManager(nc);
const { state } = await jsm.streams.info('HYPER_EVENTS');
const lines = [];
for (let seq = 1; seq <= state.last_seq; seq++) {
  const m = await jsm.streams.getMessage('HYPER_EVENTS', { seq });
  lines.push(JSON.stringify({ seq, subject: m.subject, payload: m.string() }));
}
await nc.close();
await server.stop();
rmSync(dir, { recursive: true, force: true });
const name = `hyper-${version}-lifecycle`;
writeFileSync(join(out, `${name}.events.jsonl`), lines.join('\n') + '\n');
writeFileSync(join(out, `${name}.view.json`), JSON.stringify(view, null, 1) + '\n');
process.stdout.write(`${name}: ${lines.length} events, snapshot format ${view?.format} at seq ${view?.seq}\n`);
