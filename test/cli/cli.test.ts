// The hyper CLI as a user runs it (a real process) against a real hyperd and nats-server.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { loadView } from '../../src/events/store/load-view.js';
import { INTENT_STREAM, intentSubject, podSubject } from '../../src/events/schemas/subjects.js';
import { startTestNats, tempDir, type TestNats } from '../harness/nats.js';
import { hyper, startHyperd, type DaemonProc } from '../harness/processes.js';
import { ev, spec } from '../harness/events.js';

let t: TestNats;
let d: DaemonProc;
let env: Record<string, string>;

beforeAll(async () => {
  t = await startTestNats();
  d = startHyperd(['--nats', t.server.url, '--host-id', 'cli-h1', '--data-dir', join(t.dir, 'd'), '--cpus', '64', '--memory', '65536']);
  await d.ready;
  env = { HYPER_NATS: t.server.url };
});
afterAll(async () => {
  await d?.stop();
  await t?.close();
});

const run = (args: string[]) => hyper(args, env);

describe('invalid input publishes nothing', () => {
  it.each([
    [['run', '-d', '--cpus', 'many', 'busybox'], /resources\.cpus: .*expected number/],
    [['run', '-d', '--memory', '10', 'busybox'], /resources\.memoryMb: must be at least 64 MB/],
    [['run', '-d', '-e', 'NOEQUALS', 'busybox'], /--env\[0\]: "NOEQUALS" is not KEY=VALUE/],
    [['run', '-d', '--name', 'Not OK', 'busybox'], /name: must be letters, digits, _ . or -/],
    [['run', '-d', '--restart', 'sometimes', 'busybox'], /restartPolicy: /],
    [['run', '-d', '--restart', 'always:3', 'busybox'], /restartPolicy: --restart: "always:3" is not a policy/],
    [['run', '-d', '--restart', 'on-failure:-1', 'busybox'], /restartPolicy: --restart: "on-failure:-1" is not a policy/],
    [['run', '-d'], /IMAGE: name an image to run/],
  ])('hyper %j', async (args, message) => {
    const before = await t.store.lastSeq();
    const r = await run(args as string[]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^hyper: invalid pod spec:/);
    expect(r.stderr).toMatch(message);
    expect(await t.store.lastSeq()).toBe(before);
  });

  it('a pod file with an unknown field or a bad container names the path', async () => {
    const dir = tempDir();
    const file = join(dir, 'pod.yaml');
    writeFileSync(file, 'containers:\n  - name: web\n    image: nginx\n    imagePullPolicy: Always\n  - name: web\n    image: ""\n');
    const before = await t.store.lastSeq();
    const r = await run(['run', '-d', '-f', file]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`invalid pod file ${file}`);
    expect(r.stderr).toMatch(/containers\.0: Unrecognized key: "imagePullPolicy"/);
    expect(r.stderr).toMatch(/containers\.1\.image: must name an image/);
    writeFileSync(file, '{ not: [valid');
    expect((await run(['run', '-d', '-f', file])).stderr).toMatch(/not YAML or JSON/);
    expect(await t.store.lastSeq()).toBe(before);
  });
});

describe('pod lifecycle from the CLI', () => {
  it('run -d prints the id; ps shows the pod running on the host; rm refuses a running pod, rm -f removes it', async () => {
    const r = await run(['run', '-d', 'busybox', 'sleep', '1000']);
    expect(r.exitCode).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{12}$/);

    await expect.poll(async () => (await run(['ps'])).stdout, { timeout: 10_000 }).toMatch(new RegExp(`${id}\\s+busybox\\s+running\\s+cli-h1`));
    const json = JSON.parse((await run(['ps', '-o', 'json'])).stdout) as { id: string; state: string; host: string }[];
    expect(json.find((p) => p.id === id)).toMatchObject({ state: 'running', host: 'cli-h1' });

    const refused = await run(['rm', id]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('is running; stop it first');

    const rm = await run(['rm', '-f', id.slice(0, 6)]);
    expect(rm.exitCode).toBe(0);
    expect(rm.stdout.trim()).toBe(id);
    expect((await run(['ps', '-a'])).stdout).not.toContain(id);
    expect((await run(['inspect', id])).stderr).toMatch(/no pod named or with an id starting/);
  });

  it('run waits for the pod and exits with its exit code; progress goes to stderr', async () => {
    const r = await run(['run', '-l', 'hollow.exit-after-ms=50', '-l', 'hollow.exit-code=3', 'busybox', 'sh', '-c', 'exit 3']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/scheduled on host cli-h1/);
    expect(r.stderr).toMatch(/container main exited with code 3/);
    const ok = await run(['run', '-l', 'hollow.exit-after-ms=10', 'busybox', 'true']);
    expect(ok.exitCode).toBe(0);
  });

  it('run --rm removes the pod when it ends and frees its name; --rm with -d is refused', async () => {
    const r = await run(['run', '--rm', '--name', 'ephemeral', '-l', 'hollow.exit-after-ms=20', '-l', 'hollow.exit-code=4', 'busybox']);
    expect(r.exitCode).toBe(4);
    expect((await run(['ps', '-a'])).stdout).not.toContain('ephemeral');
    expect((await run(['run', '-d', '--name', 'ephemeral', 'busybox'])).exitCode).toBe(0);
    expect((await run(['run', '--rm', '-d', 'busybox'])).stderr).toMatch(/--rm and -d cannot be combined/);
  });

  it('a pod that fits nowhere waits with the reason; with --wait-timeout it gives up, and run exits 125', async () => {
    const r = await run(['run', '--wait-timeout', '600ms', '--cpus', '64', '--memory', '200000', 'busybox']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(/waiting for room: no host can fit 64 vCPU \/ 200000 MB: the roomiest, cli-h1/);
    expect(r.stderr).toMatch(/failed: gave up after waiting \d+ s for room \(wait timeout 600 ms\)/);
    expect((await run(['run', '--wait-timeout', 'soon', 'busybox'])).stderr).toMatch(/waitTimeoutMs.*"soon" is not a duration/);
  });

  it('create, start, stop and start again (a new run); inspect shows the folded state', async () => {
    const c = await run(['create', '--name', 'lifecycle', '-e', 'A=1', 'busybox']);
    expect(c.exitCode).toBe(0);
    const id = c.stdout.trim();
    expect(JSON.parse((await run(['inspect', 'lifecycle'])).stdout)[0]).toMatchObject({ id, state: 'created', run: 0 });

    expect((await run(['start', 'lifecycle'])).exitCode).toBe(0);
    expect(JSON.parse((await run(['inspect', id])).stdout)[0]).toMatchObject({ state: 'running', run: 1, spec: { containers: [{ env: { A: '1' } }] } });

    const stop = await run(['stop', '-t', '1', 'lifecycle']);
    expect(stop.exitCode).toBe(0);
    expect(JSON.parse((await run(['inspect', id])).stdout)[0]).toMatchObject({ state: 'stopped' });

    expect((await run(['start', id])).exitCode).toBe(0);
    expect(JSON.parse((await run(['inspect', id])).stdout)[0]).toMatchObject({ state: 'running', run: 2 });
    expect((await run(['rm', '-f', 'lifecycle'])).exitCode).toBe(0);
  });

  it('names are unique among pods that are not removed; a removed pod frees its name', async () => {
    const a = await run(['run', '-d', '--name', 'web', 'busybox']);
    expect(a.exitCode).toBe(0);
    // the daemon keeps recording pod a's start meanwhile: what must not grow is the stream of submitted intents
    const intents = async () => (await (await jetstreamManager(t.nc)).streams.info(INTENT_STREAM)).state.last_seq;
    const before = await intents();
    const b = await run(['run', '-d', '--name', 'web', 'busybox']);
    expect(b.exitCode).toBe(1);
    expect(b.stderr).toContain(`the name "web" is already used by pod ${a.stdout.trim()}`);
    expect(await intents()).toBe(before);
    await run(['rm', '-f', 'web']);
    expect((await run(['run', '-d', '--name', 'web', 'busybox'])).exitCode).toBe(0);
  });

  it('events lists a pod\'s history, as text and JSON lines; hosts lists the host with its usage', async () => {
    const id = (await run(['run', '-d', 'busybox'])).stdout.trim();
    await expect.poll(async () => (await run(['events', id])).stdout, { timeout: 10_000 }).toMatch(/container\.started/);
    const lines = (await run(['events', id, '-o', 'json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(['pod.requested', 'pod.scheduled', 'vm.booting', 'vm.booted', 'agent.ready', 'container.started']);
    expect(lines.every((l) => l.pod === id && typeof l.seq === 'number' && typeof l.at === 'number')).toBe(true);
    // every fact of the run names the intent that began it (correlation) and the intent it answers (causation)
    expect(lines.slice(1).every((l) => l.correlation === lines[0].id && l.causation === lines[0].id)).toBe(true);
    const hosts = JSON.parse((await run(['hosts', '-o', 'json'])).stdout);
    expect(hosts).toEqual([expect.objectContaining({ id: 'cli-h1', status: 'up', capacity: { cpus: 64, memoryMb: 65536 } })]);
    expect(hosts[0].used.pods).toBeGreaterThan(0);
  });
});

describe('following the log', () => {
  it('events -f prints new events as they happen', async () => {
    const { execa } = await import('execa');
    const { CLI } = await import('../harness/processes.js');
    const since = String((await t.store.lastSeq()) + 1);
    const follower = execa('node', [CLI, 'events', '-f', '--since', since, '-o', 'json'], { env: env, reject: false });
    let seen = '';
    follower.stdout!.on('data', (b: Buffer) => (seen += b.toString()));
    const id = (await run(['run', '-d', 'busybox'])).stdout.trim();
    await expect.poll(() => seen, { timeout: 10_000 }).toContain('"type":"container.started"');
    follower.kill();
    const types = seen.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.pod === id).map((e) => e.type);
    expect(types.slice(0, 2)).toEqual(['pod.requested', 'pod.scheduled']);
  });
});

describe('intents from any NATS client', () => {
  it('an intent published twice with the same id by any NATS client creates one pod', async () => {
    const js = jetstream(t.nc);
    const e = ev('pod.requested', { spec: spec(), start: true }, 'rawdup');
    const payload = JSON.stringify(e);
    const a = await js.publish(intentSubject({ pod: 'rawdup', tenant: null }), payload, { msgID: e.id });
    const b = await js.publish(intentSubject({ pod: 'rawdup', tenant: null }), payload, { msgID: e.id });
    expect(b.duplicate).toBe(true);
    expect(b.seq).toBe(a.seq);
    await expect.poll(async () => (await loadView(t.store, { useSnapshot: false })).view.pods.get('rawdup')?.state, { timeout: 10_000 }).toBe('running');
    const requested = (await t.store.history({ pod: 'rawdup', tenant: 'default' })).filter((r) => r.ok && r.event.type === 'pod.requested');
    expect(requested).toHaveLength(1);
  });

  it('a malformed intent from a foreign client is rejected with the reason, and the daemon keeps working', async () => {
    await jetstream(t.nc).publish(intentSubject({ pod: 'junk2', tenant: null }), '{"type":"pod.requested"}');
    await expect.poll(async () => (await t.store.history({ pod: 'junk2', tenant: 'default' })).map((r) => r.ok && r.event.type === 'intent.rejected' && r.event.data.reason), { timeout: 10_000 }).toEqual([expect.stringMatching(/^invalid pod\.requested: id: /)]);
  });

  it('a malformed message written straight to a pod\'s log (a writer with host rights) is skipped by the daemon, which keeps working', async () => {
    await jetstream(t.nc).publish(podSubject({ pod: 'junk', tenant: null }), '{"type":"pod.requested"}');
    const r = await run(['run', '-d', 'busybox']);
    await expect.poll(async () => (await run(['inspect', r.stdout.trim()])).stdout, { timeout: 10_000 }).toMatch(/"state": "running"/);
    expect(d.log()).toContain('skipped an invalid message in the event stream');
  });
});

describe('events from a newer hyper', () => {
  it('a version of an event type newer than the daemon reads is named and skipped; the pod keeps its state', async () => {
    const id = (await run(['run', '-d', 'busybox'])).stdout.trim();
    await expect.poll(async () => (await run(['inspect', id])).stdout, { timeout: 10_000 }).toMatch(/"state": "running"/);
    const e = { ...ev('container.exited', { container: 'main', exitCode: 1 }, id), v: 2, by: 'host:h1' };
    await jetstream(t.nc).publish(podSubject({ pod: id, tenant: 'default' }), JSON.stringify({ ...e, data: { ...e.data, signal: 'KILL' } }));
    await expect.poll(() => d.log(), { timeout: 10_000 }).toMatch(/skipped container\.exited version 2 is newer than this hyper reads \(up to 1\): written by a newer hyper — upgrade this one/);
    const r = await run(['run', '-d', 'busybox']); // the daemon keeps working
    await expect.poll(async () => (await run(['inspect', r.stdout.trim()])).stdout, { timeout: 10_000 }).toMatch(/"state": "running"/);
    expect((await run(['inspect', id])).stdout).toMatch(/"state": "running"/);
  });

  it('an intent of a version newer than the daemon reads is rejected, naming type and version', async () => {
    const e = { ...ev('pod.stop.requested', { graceMs: 0 }, 'future1'), v: 3 };
    await jetstream(t.nc).publish(intentSubject({ pod: 'future1', tenant: null }), JSON.stringify(e));
    await expect.poll(async () => (await t.store.history({ pod: 'future1', tenant: 'default' })).map((r) => r.ok && r.event.type === 'intent.rejected' && r.event.data.reason), { timeout: 10_000 }).toEqual([expect.stringMatching(/^invalid pod\.stop\.requested: v: pod\.stop\.requested version 3 is newer than this hyper reads \(up to 1\)/)]);
  });
});

describe('without a daemon', () => {
  it('says that no daemon runs and how to start one', async () => {
    const r = await hyper(['ps'], { HYPER_DATA_DIR: tempDir(), HYPER_NATS: '' });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/no hyper daemon is running on this machine .* start one with: hyperd/);
  });

  it('says when the NATS URL does not answer', async () => {
    const r = await hyper(['ps', '--nats', 'nats://127.0.0.1:1']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/could not connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});

describe('a log of the pre-0.3 layout', () => {
  it('a pod created on the old subjects (hyper.pod.<id>, no tenant) runs, is listed and stops there: its history is never split', async () => {
    // what a 0.2 daemon accepted: pod.requested with no tenant, on the old subject
    await t.store.append(ev('pod.requested', { spec: spec({ name: 'oldie', containers: [{ name: 'main', image: 'busybox', args: ['sleep', '600'] }] }), start: true }, 'legacy1'));
    const legacy = { pod: 'legacy1', tenant: null };
    await expect.poll(async () => (await t.store.history(legacy)).some((r) => r.ok && r.event.type === 'container.started'), { timeout: 10_000 }).toBe(true);
    expect((await run(['ps'])).stdout).toMatch(/^legacy1\s+oldie\s+busybox\s+running/m);
    const stop = await run(['stop', '-t', '0', 'oldie']);
    expect(stop.exitCode).toBe(0);
    const h = await t.store.history(legacy);
    expect(h.map((r) => r.ok && r.event.type)).toEqual(expect.arrayContaining(['pod.requested', 'pod.scheduled', 'container.started', 'pod.stop.requested', 'pod.stopped']));
    expect(h.every((r) => r.subject === 'hyper.pod.legacy1' && r.ok && !('tenant' in r.event))).toBe(true);
    expect(await t.store.lastPodSeq({ pod: 'legacy1', tenant: 'default' })).toBe(0);
  });
});
