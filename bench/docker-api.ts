// bench/docker-api: the Engine API layer's cost. `docker run --rm busybox true` through hyperd beside `hyper run --rm
// busybox true` on the same QEMU daemon, interleaved (p50 of each); then `GET /containers/json` requests/s on 1,000
// hollow pods, and `docker ps` as a whole process beside `hyper ps`. One JSON document.
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchNats, benchQemuDaemon, progress, spawnHyperd } from './lib/env.js';
import { windowed } from './lib/dataset.js';
import { PodSpec } from '../src/events/schemas/mod.js';
import { publishIntent } from '../src/cli/intent.js';
import { newPodId } from '../src/cli/pod-id.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'bin', 'hyper.cjs');
const arg = (name: string, fallback: number) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback);
const runs = arg('runs', 10);
const pods = arg('pods', 1000);
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const timed = (cmd: string, args: string[], env: NodeJS.ProcessEnv) => {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return performance.now() - t0;
};
const out: Record<string, unknown> = { bench: 'docker-api', at: new Date().toISOString(), runs, pods };

// 1. docker run --rm beside hyper run --rm, on one QEMU daemon
{
  const n = await benchNats();
  const { dataDir, d } = benchQemuDaemon(n, 'dockbench', ['--network', 'none']);
  try {
    await d.ready;
    const env = { ...process.env, HYPER_NATS: n.server.url, DOCKER_HOST: `unix://${join(dataDir, 'docker.sock')}`, DOCKER_CONFIG: join(n.dir, 'docker-config') };
    timed('docker', ['run', '--rm', 'busybox', 'true'], env); // warm: image converted, caches filled
    const dockerMs: number[] = [];
    const hyperMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      dockerMs.push(timed('docker', ['run', '--rm', 'busybox', 'true'], env));
      hyperMs.push(timed('node', [CLI, 'run', '--rm', 'busybox', 'true'], env));
      progress(`docker-api: run ${i + 1}/${runs}: docker ${Math.round(dockerMs.at(-1)!)} ms, hyper ${Math.round(hyperMs.at(-1)!)} ms`);
    }
    out.runRm = { dockerP50Ms: Math.round(p50(dockerMs)), hyperP50Ms: Math.round(p50(hyperMs)), ratio: +(p50(dockerMs) / p50(hyperMs)).toFixed(2) };
  } finally {
    await d.stop();
    await n.close();
  }
}

// 2. docker ps on 1,000 pods (hollow): requests/s of the endpoint, and whole processes
{
  const n = await benchNats();
  const dataDir = join(n.dir, 'h');
  const d = spawnHyperd(['--nats', n.server.url, '--host-id', 'psbench', '--data-dir', dataDir, '--driver', 'hollow', '--hollow-hosts', '10', '--cpus', '100000', '--memory', '100000000']);
  try {
    await d.ready;
    const env = { ...process.env, HYPER_NATS: n.server.url, DOCKER_HOST: `unix://${join(dataDir, 'docker.sock')}`, DOCKER_CONFIG: join(n.dir, 'docker-config') };
    progress(`docker-api: starting ${pods} hollow pods`);
    const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox', args: ['sleep', '1000'] }] });
    await windowed(Array.from({ length: pods }, () => newPodId()), 100, (pod) => publishIntent(n.store, 'pod.requested', { pod, tenant: 'default' }, { spec, start: true }, { by: 'bench', quiet: true }));
    for (let i = 0; i < 120; i++) {
      const r = spawnSync('docker', ['ps', '-q'], { env, encoding: 'utf8' });
      if (r.stdout.split('\n').filter(Boolean).length >= pods) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const get = () => new Promise<number>((resolve, reject) => {
      const req = request({ socketPath: join(dataDir, 'docker.sock'), path: '/v1.50/containers/json', method: 'GET' }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve((JSON.parse(body) as unknown[]).length));
      });
      req.on('error', reject);
      req.end();
    });
    const listed = await get();
    const t0 = performance.now();
    const k = 50;
    for (let i = 0; i < k; i++) await get();
    const sec = (performance.now() - t0) / 1000;
    const dockerPs = p50(Array.from({ length: 5 }, () => timed('docker', ['ps'], env)));
    const hyperPs = p50(Array.from({ length: 5 }, () => timed('node', [CLI, 'ps'], env)));
    out.ps = { listed, requestsPerSec: Math.round(k / sec), dockerPsP50Ms: Math.round(dockerPs), hyperPsP50Ms: Math.round(hyperPs) };
  } finally {
    await d.stop();
    await n.close();
  }
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
