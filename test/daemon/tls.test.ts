// TLS for remote clients: a daemon whose NATS listens on a real (veth) network address requires TLS with a certificate
// from its own CA; a tenant on another network namespace drives it with nothing but its credentials file; a client that
// cannot verify the certificate, or does not speak TLS, is refused.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hyper, startHyperd, type DaemonProc } from '../harness/processes.js';
import { killStrays, tempDir } from '../harness/nats.js';

const NS = `hyt${process.pid % 10000}`;
const HOST_IF = `${NS}h`;
const HOST_IP = '10.231.7.1';
const NS_IP = '10.231.7.2';
const dataDir = tempDir('hyper-tls-');
const env = { HYPER_DATA_DIR: dataDir, HYPER_NATS: '' };
let d: DaemonProc;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
const announce = () => JSON.parse(readFileSync(join(dataDir, 'hyperd.json'), 'utf8')) as { nats: string[]; advertise: string[]; tlsCa: string };
/** The CLI run inside the other namespace, as a remote machine would: no data dir of the daemon's, only what it is given. */
const remote = (args: string[], extraEnv: Record<string, string> = {}) =>
  execa('ip', ['netns', 'exec', NS, 'node', CLI, ...args], { reject: false, env: { HYPER_DATA_DIR: tempDir('hyper-remote-'), HYPER_NATS: '', HYPER_CREDS: '', ...extraEnv } });

beforeAll(async () => {
  ip('netns', 'add', NS);
  ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', `${NS}n`);
  ip('link', 'set', `${NS}n`, 'netns', NS);
  ip('addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF);
  ip('link', 'set', HOST_IF, 'up');
  ip('netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_IP}/30`, 'dev', `${NS}n`);
  ip('netns', 'exec', NS, 'ip', 'link', 'set', `${NS}n`, 'up');
  ip('netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up');
  d = startHyperd(['--host-id', 'tls', '--data-dir', dataDir, '--listen', HOST_IP], env);
  await d.ready;
}, 60_000);

afterAll(async () => {
  await d?.stop('SIGTERM');
  killStrays(dataDir);
  try {
    ip('link', 'del', HOST_IF);
  } catch {}
  try {
    ip('netns', 'del', NS);
  } catch {}
});

describe('TLS beyond loopback', () => {
  it('makes a CA and a server certificate naming the listen address; keys are 0600', () => {
    const a = announce();
    expect(a.advertise).toEqual([expect.stringMatching(new RegExp(`^tls://${HOST_IP.replace(/\./g, '\\.')}:\\d+$`))]);
    expect(a.nats[0]).toMatch(/^tls:\/\//);
    const tls = join(dataDir, 'auth', 'tls');
    expect(statSync(join(tls, 'server.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(tls, 'ca.key')).mode & 0o777).toBe(0o600);
    const text = execFileSync('openssl', ['x509', '-in', join(tls, 'server.pem'), '-noout', '-text']).toString();
    expect(text).toContain(`IP Address:${HOST_IP}`);
    execFileSync('openssl', ['verify', '-CAfile', a.tlsCa, join(tls, 'server.pem')]);
  });

  it("the local CLI finds the CA next to hyperd.json; a tenant on another network drives the daemon with its credentials file alone", async () => {
    expect((await hyper(['run', '-l', 'hollow.exit-after-ms=10', 'busybox', 'true'], env)).exitCode).toBe(0);
    const add = await hyper(['tenant', 'add', 'far'], env);
    expect(add.exitCode).toBe(0);
    const file = add.stdout.trim();
    const creds = JSON.parse(readFileSync(file, 'utf8')) as { nats: string[]; ca: string };
    expect(creds.nats).toEqual(announce().advertise);
    expect(creds.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    await expect.poll(async () => (await remote(['--creds', file, 'ps'])).exitCode, { timeout: 10_000 }).toBe(0);
    const run = await remote(['--creds', file, 'run', '-l', 'hollow.exit-after-ms=10', 'busybox', 'true']);
    expect(run.stderr).toMatch(/container main exited with code 0/);
    expect(run.exitCode).toBe(0);
  });

  it('refuses a client that cannot verify the certificate, saying where the CA is, and one that does not speak TLS', async () => {
    const url = announce().advertise[0];
    const admin = join(dataDir, 'auth', 'client.json');
    const unverified = await remote(['--nats', url, '--creds', admin, 'ps']);
    expect(unverified.exitCode).toBe(1);
    expect(unverified.stderr).toMatch(/speaks TLS with a certificate this client cannot verify \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)[^)]*\) — give its CA with --tls-ca FILE/);
    const other = tempDir('hyper-other-ca-');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(other, 'k'), '-out', join(other, 'ca.pem'), '-days', '1', '-subj', '/CN=not hyper']);
    const wrongCa = await remote(['--nats', url, '--creds', admin, '--tls-ca', join(other, 'ca.pem'), 'ps']);
    expect(wrongCa.exitCode).toBe(1);
    expect(wrongCa.stderr).toMatch(/cannot verify/);
    expect((await remote(['--nats', url, '--creds', admin, '--tls-ca', announce().tlsCa, 'ps'])).exitCode).toBe(0);
    // a plain-text client: the server's first words require TLS, and it closes the connection on plain CONNECT
    const port = Number(new URL(url.replace(/^tls:/, 'http:')).port);
    const said = await new Promise<string>((resolve, reject) => {
      let text = '';
      const sock = tcpConnect(port, HOST_IP);
      sock.on('data', (b) => {
        text += b.toString();
        if (text.includes('\r\n') && !text.includes('PING')) sock.write('CONNECT {"verbose":false}\r\nPING\r\n');
      });
      sock.on('close', () => resolve(text));
      sock.on('error', reject);
      setTimeout(() => sock.destroy(), 5_000);
    });
    expect(said).toMatch(/"tls_required":true/);
    expect(said).not.toMatch(/PONG/);
  });
});
