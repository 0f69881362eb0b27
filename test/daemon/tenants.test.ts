// Tenants kept apart by nats-server itself: each signs in with its own nkey, submits intents and reads events, logs and
// names under its own subjects only; the acceptor refuses what its policy does not allow, naming the policy; removing a
// tenant cuts its connected clients off without restarting anything.
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper, startHyperd, type DaemonProc } from '../harness/processes.js';
import { killStrays, tempDir } from '../harness/nats.js';
import { LogWriter } from '../../src/events/store/logs.js';
import { LOG_STREAM, STREAM } from '../../src/events/schemas/subjects.js';

const dataDir = tempDir('hyper-tenants-');
const env = { HYPER_DATA_DIR: dataDir, HYPER_NATS: '' };
let d: DaemonProc;
const url = () => (JSON.parse(readFileSync(join(dataDir, 'hyperd.json'), 'utf8')) as { nats: string[] }).nats[0];
const credsOf = (t: string) => join(dataDir, 'auth', 'tenants', `${t}.json`);
const as = (t: string, args: string[]) => hyper(['--creds', credsOf(t), ...args], env);
const seedOf = (t: string) => (JSON.parse(readFileSync(credsOf(t), 'utf8')) as { seed: string }).seed;
const connectAs = (t: string) => connect({ servers: url(), authenticator: nkeyAuthenticator(new TextEncoder().encode(seedOf(t))), reconnect: false });
const sleeper = ['-l', 'hollow.exit-after-ms=600000', 'busybox', 'sleep', '600'];
let bobWeb = '';
let anaWeb = '';

beforeAll(async () => {
  d = startHyperd(['--host-id', 'tenants', '--data-dir', dataDir], env);
  await d.ready;
}, 60_000);

afterAll(async () => {
  await d?.stop('SIGTERM');
  killStrays(dataDir);
});

describe('tenants', () => {
  it('tenant add writes the credentials (0600) and records the tenant; ls lists it with its policy', async () => {
    const a = await hyper(['tenant', 'add', 'ana', '--max-cpus', '2', '--max-memory', '512', '--registry', 'docker.io'], env);
    expect(a.stderr).toMatch(/tenant ana added/);
    expect(a.exitCode).toBe(0);
    expect(a.stdout.trim()).toBe(credsOf('ana'));
    expect(statSync(credsOf('ana')).mode & 0o777).toBe(0o600);
    expect((await hyper(['tenant', 'add', 'bob'], env)).exitCode).toBe(0);
    const again = await hyper(['tenant', 'add', 'bob'], env);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/tenant bob exists/);
    const bad = await hyper(['tenant', 'add', 'Not_OK'], env);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/name: must be lowercase letters/);
    const ls = await hyper(['tenant', 'ls'], env);
    expect(ls.stdout).toMatch(/^ana\s+0\s+2 vCPU, 512 MB, registries docker\.io/m);
    expect(ls.stdout).toMatch(/^bob\s+0\s+-/m);
  });

  it('each tenant runs pods with its own credentials; names are unique per tenant, not across tenants', async () => {
    // the daemon lets a new tenant in once it has folded tenant.added and reloaded its server's users
    await expect.poll(async () => (await as('bob', ['ps'])).exitCode, { timeout: 10_000 }).toBe(0);
    const b = await as('bob', ['run', '-d', '--name', 'web', ...sleeper]);
    expect(b.stderr).toBe('');
    bobWeb = b.stdout.trim();
    const a = await as('ana', ['run', '-d', '--name', 'web', ...sleeper]);
    expect(a.exitCode).toBe(0);
    anaWeb = a.stdout.trim();
    expect(anaWeb).not.toBe(bobWeb);
    const twice = await as('ana', ['run', '-d', '--name', 'web', ...sleeper]);
    expect(twice.exitCode).toBe(1);
    expect(twice.stderr).toMatch(/the name "web" is already used by pod/);
    const ps = await hyper(['ps', '--all-tenants'], env);
    expect(ps.stdout).toMatch(new RegExp(`^ana\\s+${anaWeb}\\s+web`, 'm'));
    expect(ps.stdout).toMatch(new RegExp(`^bob\\s+${bobWeb}\\s+web`, 'm'));
  });

  it("tenant A cannot list, inspect, read the events or logs of, stop or remove tenant B's pods", async () => {
    const ps = await as('ana', ['ps', '-a', '-q']);
    expect(ps.stdout.trim().split('\n')).toEqual([anaWeb]);
    for (const cmd of [['inspect', bobWeb], ['events', bobWeb], ['logs', bobWeb], ['stop', bobWeb], ['rm', '-f', bobWeb]]) {
      const r = await as('ana', cmd);
      expect(r.exitCode, cmd.join(' ')).toBe(1);
      expect(r.stderr, cmd.join(' ')).toMatch(new RegExp(`no pod named or with an id starting "${bobWeb}"`));
    }
    // the whole log as ana: her own pod's events only
    const events = await as('ana', ['events', '-o', 'json']);
    const pods = new Set(events.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { pod?: string }).pod));
    expect([...pods]).toEqual([anaWeb]);
    for (const cmd of [['hosts'], ['tenant', 'ls'], ['ps', '--all-tenants']]) {
      const r = await as('ana', cmd);
      expect(r.exitCode, cmd.join(' ')).toBe(1);
      expect(r.stderr, cmd.join(' ')).toMatch(/takes the admin's credentials: tenant ana's see its own pods only/);
    }
    const bob = await as('bob', ['ps', '-q']);
    expect(bob.stdout.trim()).toBe(bobWeb);
  });

  it('cannot act as another tenant: --tenant is refused, and nats-server refuses its intents and reads under B', async () => {
    const r = await as('ana', ['--tenant', 'bob', 'ps']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/these credentials are tenant ana's, and act for it alone/);
    const nc = await connectAs('ana');
    try {
      const js = jetstream(nc, { timeout: 3_000 });
      await expect(js.publish(`hyper.intent.bob.${bobWeb}`, '{}')).rejects.toThrow(/Permissions Violation for Publish to "hyper\.intent\.bob\./);
      await expect(js.publish(`hyper.pod.ana.${anaWeb}`, '{}')).rejects.toThrow(/Permissions Violation/);
      const jsm = await jetstreamManager(nc, { timeout: 3_000 });
      // a consumer on B's subjects, the stream's info (it would list every subject), a get by sequence: all refused
      await expect(jsm.consumers.add(STREAM, { name: 'peek', filter_subject: 'hyper.pod.bob.>' })).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.consumers.add(LOG_STREAM, { name: 'peek', filter_subject: 'hyper.logs.bob.>' })).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.info(STREAM, { subjects_filter: '>' })).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.direct.getMessage(STREAM, { seq: 1 })).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.direct.getMessage(STREAM, { last_by_subj: `hyper.pod.bob.${bobWeb}` })).rejects.toThrow(/Permissions Violation/);
      // and what is hers, she reads
      const own = await jsm.direct.getMessage(STREAM, { last_by_subj: `hyper.pod.ana.${anaWeb}` });
      expect(own?.subject).toBe(`hyper.pod.ana.${anaWeb}`);
    } finally {
      await nc.close();
    }
  });

  it("container output is stored under the tenant: B reads it with hyper logs, A cannot subscribe to it", async () => {
    const host = JSON.parse(readFileSync(join(dataDir, 'auth', 'host.json'), 'utf8')) as { user: string; password: string };
    const hc: NatsConnection = await connect({ servers: url(), user: host.user, pass: host.password });
    try {
      const w = new LogWriter(hc, { pod: bobWeb, tenant: 'bob' }, 'main', 1, `${bobWeb}-r1/0`, 0, () => {});
      w.push(new TextEncoder().encode('hello from bob\n'));
      await w.flushTo();
    } finally {
      await hc.close();
    }
    const logs = await as('bob', ['logs', 'web']);
    expect(logs.stdout.trim()).toBe('hello from bob');
    // nor catch it live on core NATS as hosts publish it
    const nc = await connectAs('ana');
    try {
      const sub = nc.subscribe('hyper.logs.bob.>');
      await expect((async () => { for await (const _ of sub) return 'delivered'; })()).rejects.toThrow(/Permissions Violation for Subscription to "hyper\.logs\.bob\.>"/);
    } finally {
      await nc.close();
    }
  });

  it("exec sessions stay within the tenant: A's request into B's pod and a listen on B's sessions are refused by nats-server", async () => {
    const nc = await connectAs('ana');
    try {
      const req = JSON.stringify({ session: 'abcdefgh12', command: ['true'], by: 'cli:ana@test' });
      await expect(nc.request(`hyper.exec.tenants.bob.${bobWeb}`, req, { timeout: 3_000 })).rejects.toThrow(/Permissions Violation for Publish to "hyper\.exec\.tenants\.bob\./);
      const sub = nc.subscribe('hyper.session.bob.*.out');
      await expect((async () => { for await (const _ of sub) return 'delivered'; })()).rejects.toThrow(/Permissions Violation for Subscription to "hyper\.session\.bob\./);
    } finally {
      await nc.close();
    }
    // into her own pod the request reaches its host, which answers (a hollow VM has nothing to exec into); a forged
    // tenant in the subject is not hers to use, and an unknown pod of hers is an error, not a crash
    const own = await as('ana', ['exec', 'web', 'true']);
    expect(own.exitCode).toBe(125);
    expect(own.stderr).toMatch(/hollow driver cannot exec/);
    const nc2 = await connectAs('ana');
    try {
      const r = await nc2.request(`hyper.exec.tenants.ana.${bobWeb}`, JSON.stringify({ session: 'abcdefgh13', command: ['true'], by: 'cli:ana@test' }), { timeout: 3_000 });
      expect(JSON.parse(r.string())).toMatchObject({ ok: false, error: `no pod ${bobWeb} in tenant ana` });
      const bad = await nc2.request(`hyper.exec.tenants.ana.${anaWeb}`, '{not json', { timeout: 3_000 });
      expect(JSON.parse(bad.string())).toMatchObject({ ok: false, code: 125 });
    } finally {
      await nc2.close();
    }
  });

  it("an intent beyond the tenant's policy gets intent.rejected naming the policy and the field", async () => {
    const big = await as('ana', ['run', '-d', '--cpus', '4', 'busybox']);
    expect(big.exitCode).toBe(2);
    expect(big.stderr).toMatch(/spec\.resources\.cpus: 4 vCPUs is more than tenant ana's policy allows one pod \(maxCpus 2\)/);
    const reg = await as('ana', ['run', '-d', 'localhost:5000/app']);
    expect(reg.exitCode).toBe(2);
    expect(reg.stderr).toMatch(/spec\.containers\.0\.image: tenant ana's policy \(registries\) allows images only from docker\.io, not from localhost:5000/);
    const ps = await as('ana', ['ps', '-a', '-q']);
    expect(ps.stdout.trim().split('\n')).toEqual([anaWeb]);
  });

  it('tenant rm refuses while pods are left, then revokes: a connected client is cut off and the credentials are refused', async () => {
    const early = await hyper(['tenant', 'rm', 'ana'], env);
    expect(early.exitCode).toBe(1);
    expect(early.stderr).toMatch(/tenant ana still has 1 pod\(s\) \(web\)/);
    expect((await as('ana', ['rm', '-f', 'web'])).exitCode).toBe(0);
    const kept = join(tempDir(), 'ana-kept.json');
    copyFileSync(credsOf('ana'), kept);
    const nc = await connectAs('ana');
    const rm = await hyper(['tenant', 'rm', 'ana'], env);
    expect(rm.exitCode).toBe(0);
    // nats-server re-checks connected clients on reload and closes those no longer allowed
    const closed = await Promise.race([nc.closed().then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 10_000))]);
    expect(closed).toBe('closed');
    expect(existsSync(credsOf('ana'))).toBe(false);
    const refused = await hyper(['--creds', kept, 'ps'], env);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/refused the credentials in .*ana-kept\.json \(they may have been revoked or replaced\)/);
    expect((await as('bob', ['ps', '-q'])).stdout.trim()).toBe(bobWeb);
  });
});
