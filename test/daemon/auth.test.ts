// Only those allowed get in: the embedded nats-server requires the credentials hyperd generated (0600 in a 0700 dir),
// nats-server itself stops clients from writing facts, another local user can neither read the credentials nor connect,
// and intents are facts only once a host accepted them — exactly once, even when two daemons race.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hyper, startHyperd, type DaemonProc } from '../harness/processes.js';
import { killStrays, startTestNats, tempDir, type TestNats } from '../harness/nats.js';
import { ev, spec } from '../harness/events.js';
import { intentSubject, podSubject } from '../../src/events/schemas/subjects.js';
import { execa } from 'execa';

const USER = 'hyper-test-other';
const dataDir = tempDir('hyper-auth-');
const env = { HYPER_DATA_DIR: dataDir, HYPER_NATS: '' };
let d: DaemonProc;
const announce = () => JSON.parse(readFileSync(join(dataDir, 'hyperd.json'), 'utf8')) as { nats: string[]; credentials: string };
const creds = (role: 'client' | 'host') => JSON.parse(readFileSync(join(dataDir, 'auth', `${role}.json`), 'utf8')) as { user: string; password: string };

beforeAll(async () => {
  chmodSync(dataDir, 0o755); // hyperd.json is public; the auth dir inside is not
  d = startHyperd(['--host-id', 'auth', '--data-dir', dataDir], env);
  await d.ready;
  try {
    execFileSync('id', [USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
  }
}, 60_000);

afterAll(async () => {
  await d?.stop('SIGTERM');
  killStrays(dataDir);
  try {
    execFileSync('userdel', [USER], { stdio: 'ignore' });
  } catch {}
});

describe('authenticated embedded NATS', () => {
  it('generates credentials on first start, 0600 in a 0700 dir; the CLI finds them next to hyperd.json', async () => {
    expect(statSync(join(dataDir, 'auth')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'auth', 'host.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'auth', 'client.json')).mode & 0o777).toBe(0o600);
    expect(announce().credentials).toBe(join(dataDir, 'auth', 'client.json'));
    const r = await hyper(['run', '-l', 'hollow.exit-after-ms=10', 'busybox', 'true'], env);
    expect(r.exitCode).toBe(0);
  });

  it('refuses a client with no credentials and one with a wrong password, saying what to do', async () => {
    const none = await hyper(['ps'], { HYPER_NATS: announce().nats[0] });
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toMatch(/requires credentials — give them with --creds FILE \(or HYPER_CREDS\)/);
    const bad = join(tempDir(), 'bad.json');
    execFileSync('sh', ['-c', `echo '{"user":"hyper-client","password":"nope"}' > ${bad}`]);
    const wrong = await hyper(['ps', '--creds', bad], env);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/refused the credentials in .*bad\.json/);
  });

  it('another local user can neither read the credentials nor connect', async () => {
    const asOther = (args: string[], e: Record<string, string>) => execa('runuser', ['-u', USER, '--', process.execPath, CLI, ...args], { reject: false, env: { ...e, HYPER_LOG_FORMAT: 'json' } });
    const r = await asOther(['ps'], env);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/cannot read the credentials .*client\.json: permission denied — only root \(or members of the group hyperd was started with, --group\)/);
    const direct = await asOther(['ps'], { HYPER_NATS: announce().nats[0] });
    expect(direct.exitCode).toBe(1);
    expect(direct.stderr).toMatch(/requires credentials/);
    // nothing under the data dir that holds a password is readable by them: not the credentials, not nats-server.conf
    expect(statSync(join(dataDir, 'nats')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'nats', 'nats-server.conf')).mode & 0o777).toBe(0o600);
    const leak = await execa('runuser', ['-u', USER, '--', 'sh', '-c', `grep -rlsE 'password' '${dataDir}' || true`], { reject: false });
    expect(leak.stdout.trim()).toBe('');
  });

  it('client credentials cannot write a fact (nats-server refuses it) and a forged fact never reaches a pod; host credentials can', async () => {
    const c = creds('client');
    const nc = await connect({ servers: announce().nats, user: c.user, pass: c.password });
    const forged = ev('pod.requested', { spec: spec(), start: true }, 'forged1');
    await expect(jetstream(nc).publish(podSubject({ pod: 'forged1', tenant: null }), JSON.stringify(forged))).rejects.toThrow(/Permissions Violation for Publish to "hyper\.pod\.forged1"/);
    // the same event as an intent is accepted, by a host, onto the pod's subject
    await jetstream(nc).publish(intentSubject({ pod: 'forged1', tenant: null }), JSON.stringify(forged), { msgID: forged.id });
    await nc.close();
    await expect.poll(async () => (await hyper(['inspect', 'forged1'], env)).stdout, { timeout: 10_000 }).toMatch(/"state": "running"/);
    const h = creds('host');
    const hc = await connect({ servers: announce().nats, user: h.user, pass: h.password });
    const ack = await jetstream(hc).publish(podSubject({ pod: 'forged1', tenant: null }), JSON.stringify(ev('pod.stop.requested', { graceMs: 0 }, 'forged1')));
    expect(ack.seq).toBeGreaterThan(0);
    await hc.close();
  });

  it('an intent that fails validation gets intent.rejected with the field and the reason; nothing else changes', async () => {
    const c = creds('client');
    const nc = await connect({ servers: announce().nats, user: c.user, pass: c.password });
    const bad = { ...ev('pod.requested', { spec: spec(), start: true }, 'badreq'), data: { spec: { containers: [] }, start: true } };
    await jetstream(nc).publish(intentSubject({ pod: 'badreq', tenant: null }), JSON.stringify(bad), { msgID: bad.id });
    await nc.close();
    await expect.poll(async () => (await hyper(['events', '-o', 'json'], env)).stdout, { timeout: 10_000 }).toMatch(/"intent\.rejected"/);
    const rejected = (await hyper(['events', '-o', 'json'], env)).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'intent.rejected' && e.pod === 'badreq');
    expect(rejected.data).toMatchObject({ intent: bad.id, intentType: 'pod.requested', reason: expect.stringMatching(/data\.spec\.containers/) });
    expect((await hyper(['inspect', 'badreq'], env)).exitCode).toBe(1);
  });
});

describe('accepting intents', () => {
  let t: TestNats;
  const daemons: DaemonProc[] = [];
  beforeAll(async () => {
    t = await startTestNats();
    for (const id of ['race-a', 'race-b']) {
      const p = startHyperd(['--nats', t.server.url, '--host-id', id, '--data-dir', join(t.dir, id), '--cpus', '64']);
      await p.ready;
      daemons.push(p);
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all(daemons.map((p) => p.stop()));
    await t?.close();
  });

  it('two daemons racing to accept one intent: exactly one pod.requested', async () => {
    const js = jetstream(t.nc);
    const pods = Array.from({ length: 20 }, (_, i) => `race${i}`);
    // each intent published twice as two messages (no msgID): both daemons get copies to accept
    await Promise.all(pods.flatMap((p) => {
      const e = JSON.stringify(ev('pod.requested', { spec: spec(), start: true }, p));
      return [js.publish(intentSubject({ pod: p, tenant: null }), e), js.publish(intentSubject({ pod: p, tenant: null }), e)];
    }));
    for (const p of pods) {
      await expect.poll(async () => (await t.store.history({ pod: p, tenant: 'default' })).filter((r) => r.ok && r.event.type === 'pod.scheduled').length, { timeout: 20_000 }).toBe(1);
      const h = await t.store.history({ pod: p, tenant: 'default' });
      expect(h.filter((r) => r.ok && r.event.type === 'pod.requested')).toHaveLength(1);
      expect(h.filter((r) => r.ok && r.event.type === 'intent.rejected')).toHaveLength(0);
    }
    const accepted = daemons.map((p) => (p.log().match(/rejected an intent/g) ?? []).length);
    expect(accepted).toEqual([0, 0]);
  }, 60_000);
});
