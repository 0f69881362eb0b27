// The Docker API on a host with its pod network (bridge, NAT, pod DNS), driven by two real clients: the docker CLI
// publishing a port that curl reaches, and Debian's docker-compose 1.29 bringing up a web server and a client that
// fetches from it by service name (its network and aliases), then ps, logs and down.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';

const run = promisify(execFile);
let q: QemuDaemon;
const tool = async (bin: string, args: string[], cwd?: string) => {
  try {
    const r = await run(bin, args, { cwd, env: { ...process.env, DOCKER_HOST: `unix://${join(q.dataDir, 'docker.sock')}`, DOCKER_CONFIG: join(q.dataDir, 'docker-config') }, encoding: 'utf8', timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: String(e.stdout), stderr: String(e.stderr) };
  }
};
const docker = (...args: string[]) => tool('docker', args);

beforeAll(async () => {
  q = await startQemuDaemon('hyper-compose-', 'comp');
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('Docker API with the pod network', () => {
  it('docker run -d -p HOST:80 … httpd: curl on the host gets the page; docker port says where', async () => {
    const port = 20_000 + (process.pid % 20_000);
    const r = await docker('run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c', 'mkdir -p /www && echo "<h1>from a VM</h1>" > /www/index.html && exec httpd -f -p 80 -h /www');
    expect(r.code).toBe(0);
    let page = '';
    for (let i = 0; i < 60 && !page.includes('from a VM'); i++) {
      page = (await tool('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${port}/`])).stdout;
      if (!page.includes('from a VM')) await new Promise((res) => setTimeout(res, 500));
    }
    expect(page).toBe('<h1>from a VM</h1>\n');
    expect((await docker('port', 'web')).stdout.trim()).toBe(`80/tcp -> 127.0.0.1:${port}`);
    expect((await docker('rm', '-f', 'web')).code).toBe(0);
  }, 120_000);

  it('docker network create, ls, inspect, rm; a container on it is found by its alias', async () => {
    expect((await docker('network', 'create', 'backend')).code).toBe(0);
    expect((await docker('network', 'ls', '--format', '{{.Name}} {{.Driver}}')).stdout.split('\n')).toContain('backend bridge');
    expect((await docker('run', '-d', '--name', 'db', '--network', 'backend', '--network-alias', 'database', 'busybox', 'sleep', '600')).code).toBe(0);
    const found = await docker('run', '--rm', '--network', 'backend', 'busybox', 'nslookup', 'database');
    expect(found.stdout).toMatch(/Name:\s+database\nAddress: 10\./);
    expect((await docker('network', 'inspect', '-f', '{{range .Containers}}{{.Name}}{{end}}', 'backend')).stdout.trim()).toBe('db');
    const busy = await docker('network', 'rm', 'backend');
    expect(busy.stderr).toContain('has active endpoints (db)');
    expect((await docker('run', '--rm', '--network', 'nowhere', 'busybox', 'true')).stderr).toContain('network nowhere not found');
    expect((await docker('run', '--rm', '--network', 'host', 'busybox', 'true')).stderr).toContain('--network host (HostConfig.NetworkMode) is not supported by hyper');
    expect((await docker('rm', '-f', 'db')).code).toBe(0);
    expect((await docker('network', 'rm', 'backend')).code).toBe(0);
  }, 120_000);

  it('docker-compose up -d of a web server and a client that fetches from it by service name; ps, logs, down', async () => {
    const dir = join(q.dataDir, 'shop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'docker-compose.yml'), [
      'version: "3"',
      'services:',
      '  web:',
      '    image: busybox',
      "    command: sh -c 'mkdir -p /www && echo served-by-web > /www/index.html && exec httpd -f -p 80 -h /www'",
      '  client:',
      '    image: busybox',
      "    command: sh -c 'until wget -qO- http://web/; do sleep 0.5; done; exec sleep 600'",
      '    depends_on: [web]',
      '',
    ].join('\n'));
    const up = await tool('docker-compose', ['up', '-d'], dir);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain('Creating network "shop_default"');
    const ps = await tool('docker-compose', ['ps'], dir);
    expect(ps.stdout).toMatch(/^shop_client_1\s.*\sUp\s*$/m);
    expect(ps.stdout).toMatch(/^shop_web_1\s.*\sUp\s*$/m);
    await expect.poll(async () => (await tool('docker-compose', ['logs', '--no-color', 'client'], dir)).stdout, { timeout: 30_000, interval: 1_000 }).toContain('client_1  | served-by-web');
    const down = await tool('docker-compose', ['down'], dir);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toContain('Removing network shop_default');
    expect((await docker('ps', '-a', '-q')).stdout).toBe('');
    expect((await docker('network', 'ls', '--format', '{{.Name}}')).stdout.split('\n').filter(Boolean).sort()).toEqual(['bridge', 'none']);
  }, 240_000);
});
