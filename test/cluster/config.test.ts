// `hyper cluster config` for separate machines: the files it writes form, as they are, a 3-node JetStream cluster with
// TLS on client ports and mutually verified routes; a hyperd and the CLI given only those files run a pod on it. The
// three "machines" are three nats-servers on loopback addresses of their own.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/nats.js';
import { hyper, startHyperd, type DaemonProc } from '../harness/processes.js';

const out = tempDir('hyper-machines-');
const nodes = ['m1=127.0.0.11', 'm2=127.0.0.12', 'm3=127.0.0.13'];
const seeds = 'tls://127.0.0.11:4222,tls://127.0.0.12:4222,tls://127.0.0.13:4222';
const servers: ChildProcess[] = [];
let d: DaemonProc | null = null;
let env: Record<string, string>;

beforeAll(async () => {
  const r = await hyper(['cluster', 'config', '--data-dir', join(out, 'ca-home'), ...nodes.flatMap((n) => ['--node', n]), '-o', out, '--install-dir', join(out, '{name}')]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stdout).toContain(`hyperd --nats ${seeds}`);
  for (const m of ['m1', 'm2', 'm3']) {
    const p = spawn('nats-server', ['-c', join(out, m, 'nats-server.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    servers.push(p);
  }
  env = { HYPER_NATS: seeds, HYPER_TLS_CA: join(out, 'm1', 'ca.pem'), HYPER_CREDS: join(out, 'm1', 'client.json') };
}, 60_000);

afterAll(async () => {
  await d?.stop();
  for (const s of servers) s.kill('SIGKILL');
});

describe('hyper cluster config', () => {
  it('writes per machine a conf with TLS for clients and verified TLS routes to the others, and the CA and credentials', () => {
    const conf = readFileSync(join(out, 'm2', 'nats-server.conf'), 'utf8');
    expect(conf).toContain('listen: "127.0.0.12:4222"');
    expect(conf).toMatch(/^tls \{/m);
    expect(conf).toMatch(/cluster \{ name: hyper, listen: "127\.0\.0\.12:6222", tls \{ .*verify: true/);
    expect(conf).toMatch(/routes: \["nats-route:\/\/[^"]+@127\.0\.0\.11:6222","nats-route:\/\/[^"]+@127\.0\.0\.13:6222"\]/);
    expect(conf).toContain(join(out, 'm2', 'node.pem'));
    expect(readFileSync(join(out, 'm1', 'ca.pem'), 'utf8')).toBe(readFileSync(join(out, 'm3', 'ca.pem'), 'utf8'));
  });

  it('a hyperd and the CLI with only those files run a pod on the 3-node cluster (R3 streams)', async () => {
    d = startHyperd(['--nats', seeds, '--tls-ca', join(out, 'm1', 'ca.pem'), '--creds', join(out, 'm1', 'host.json'), '--replicas', '3', '--host-id', 'm1', '--data-dir', join(out, 'm1', 'data'), '--driver', 'hollow']);
    await d.ready;
    const r = await hyper(['run', '-l', 'hollow.exit-after-ms=10', 'busybox', 'true'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    const hosts = await hyper(['hosts'], env);
    expect(hosts.stdout).toMatch(/^m1 .*up/m);
    // without the CA the client cannot verify the nodes, and says what to do
    const bad = await hyper(['ps'], { ...env, HYPER_TLS_CA: '' });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/cannot verify .*--tls-ca/);
  }, 90_000);
});
