// bench/exec: `hyper exec` on a running pod of hyperd --driver qemu — the round trip of `true` measured inside one process
// (request → process start in the guest → exit back), the CLI's whole-process time beside `node -e 0` and
// `docker --version` in the same run, and throughput out of and into a process (MB/s). Prints one JSON document.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { podEvent, PodSpec } from '../src/events/schemas/mod.js';
import { DEFAULT_TENANT, podSubject } from '../src/events/schemas/subjects.js';
import { execSession } from '../src/cli/exec-client.js';
import { benchNats, benchQemuDaemon, progress } from './lib/env.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const arg = (name: string, fallback: number) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback);
const runs = arg('runs', 30);
const mb = arg('mb', 100);
const pct = (xs: number[], p: number) => Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]);
const stats = (xs: number[]) => ({ p50: pct(xs, 50), p95: pct(xs, 95), runs: xs.length });
const CLI = join(root, 'bin', 'hyper.cjs');

const n = await benchNats();
const { d } = benchQemuDaemon(n, 'bench');
try {
  await d.ready;
  const pod = 'exb';
  const at = { pod, tenant: DEFAULT_TENANT };
  const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox', args: ['sleep', '3600'] }] });
  const ack = await n.store.append(podEvent('pod.requested', pod, { spec, start: true }, { id: `${pod}.req`, at: Date.now(), by: 'bench', tenant: DEFAULT_TENANT }));
  for await (const r of n.store.read({ filter: podSubject(at), fromSeq: ack.seq })) if (r.ok && r.event.type === 'container.started') break;
  // the folded view of the daemon must see it running before an exec is taken
  await new Promise((r) => setTimeout(r, 500));
  const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
  const exec = (command: string[], o: { stdin?: Readable; interactive?: boolean } = {}) =>
    execSession(n.nc, { host: 'bench', at, tenant: DEFAULT_TENANT, stdout: sink(), stderr: sink(), stdin: o.stdin ?? new PassThrough(), request: { command, env: {}, tty: false, interactive: Boolean(o.interactive), by: 'bench' } });

  const inProcess: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const code = await exec(['true']);
    if (code !== 0) throw new Error(`exec true exited ${code}`);
    if (i >= 3) inProcess.push(performance.now() - t0);
  }
  progress(`exec true in one process: p50 ${pct(inProcess, 50)} ms`);

  const wall = (cmd: string, args: string[], env: Record<string, string> = {}) => {
    const xs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
      xs.push(performance.now() - t0);
    }
    return stats(xs);
  };
  const cli = wall('node', [CLI, 'exec', pod, 'true'], { HYPER_NATS: n.server.url });
  const nodeBaseline = wall('node', ['-e', '0']);
  const docker = (() => { try { return wall('docker', ['--version']); } catch { return null; } })();
  progress(`hyper exec POD true, whole process: p50 ${cli.p50} ms (node -e 0: ${nodeBaseline.p50} ms)`);

  const bytes = mb * 1024 * 1024;
  let t0 = performance.now();
  await exec(['head', '-c', String(bytes), '/dev/zero']);
  const outMBs = +(mb / ((performance.now() - t0) / 1000)).toFixed(1);
  const chunk = Buffer.alloc(256 * 1024);
  const source = Readable.from((function* () { for (let i = 0; i < bytes / chunk.length; i++) yield chunk; })());
  t0 = performance.now();
  await exec(['sh', '-c', 'cat > /dev/null'], { stdin: source, interactive: true });
  const inMBs = +(mb / ((performance.now() - t0) / 1000)).toFixed(1);
  progress(`throughput: ${outMBs} MB/s out of the process, ${inMBs} MB/s into it`);

  process.stdout.write(JSON.stringify({
    bench: 'exec', at: new Date().toISOString(), node: process.version,
    roundTripInProcessMs: stats(inProcess),
    cliWholeProcessMs: cli, nodeMinus_e0Ms: nodeBaseline, dockerVersionMs: docker,
    cliToNodeRatio: +(cli.p50 / nodeBaseline.p50).toFixed(2),
    throughputMBs: { out: outMBs, in: inMBs, mb },
    target: { roundTripInProcessP50Ms: 50 },
  }, null, 2) + '\n');
} finally {
  await d.stop();
  await n.close();
}
process.exit(0);
