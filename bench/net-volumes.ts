// bench/net-volumes: TCP throughput host → pod through a published port and pod ↔ pod over the bridge, beside the same
// static tools between two network namespaces on a veth pair in the same run; sequential write (fsync) and read of a 9p
// host directory and of a named volume (virtio-blk, ext4) in a pod, beside the host disk. hyperd --driver qemu. JSON out.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchNats, benchQemuDaemon, progress } from './lib/env.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const arg = (name: string, fallback: number) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback);
const mb = arg('mb', 200);
const fileMb = arg('file-mb', 64);
const CLI = join(root, 'bin', 'hyper.cjs');
const rate = (out: string) => Number(/([\d.]+) MB\/s/.exec(out)?.[1] ?? NaN);
/** GNU dd on the host: "…, 1.2 s, 51.8 MB/s". */
const ddRate = (out: string) => {
  const m = /copied, ([\d.]+) s(?:econds)?, ([\d.]+) ?([GMk]?)B\/s/.exec(out);
  return m ? Math.round(Number(m[2]) * (m[3] === 'G' ? 1000 : m[3] === 'k' ? 0.001 : 1) * 10) / 10 : NaN;
};

const n = await benchNats();
const { dataDir, d } = benchQemuDaemon(n, 'netbench');
const env = { ...process.env, HYPER_NATS: n.server.url, HYPER_LOG_FORMAT: 'json' };
const hyper = (args: string[]) => spawnSync('node', [CLI, ...args], { env, encoding: 'utf8' });
const NS = ['hbenchA', 'hbenchB'];
/** Until the pod runs and its one process listens (the sink prints "listening" first). */
async function running(name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (hyper(['logs', name]).stdout.includes('listening')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pod ${name} did not start listening`);
}
const out: Record<string, unknown> = { bench: 'net-volumes', at: new Date().toISOString(), mb, fileMb };
try {
  await d.ready;
  const tools = join(n.dir, 'tools');
  mkdirSync(tools);
  for (const t of ['tcp-sink', 'tcp-source']) execFileSync('musl-gcc', ['-static', '-O2', '-o', join(tools, t), join(root, 'bench', 'tools', `${t}.c`)]);

  // baseline: the same tools between two namespaces on a veth pair
  for (const ns of NS) spawnSync('ip', ['netns', 'del', ns]);
  execFileSync('ip', ['netns', 'add', NS[0]]);
  execFileSync('ip', ['netns', 'add', NS[1]]);
  execFileSync('ip', ['link', 'add', 'hbenchA0', 'netns', NS[0], 'type', 'veth', 'peer', 'name', 'hbenchB0', 'netns', NS[1]]);
  execFileSync('ip', ['-n', NS[0], 'addr', 'add', '10.248.1.1/30', 'dev', 'hbenchA0']);
  execFileSync('ip', ['-n', NS[1], 'addr', 'add', '10.248.1.2/30', 'dev', 'hbenchB0']);
  for (const [ns, dev] of [[NS[0], 'hbenchA0'], [NS[1], 'hbenchB0']]) execFileSync('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  const sink = spawn('ip', ['netns', 'exec', NS[0], join(tools, 'tcp-sink'), '5001'], { stdio: 'ignore' });
  const veth = execFileSync('ip', ['netns', 'exec', NS[1], join(tools, 'tcp-source'), '10.248.1.1', '5001', String(mb * 5)], { encoding: 'utf8' });
  sink.kill();
  out.vethMBs = rate(veth);
  progress(`veth pair between namespaces: ${out.vethMBs} MB/s`);

  // host → pod through a published port (DNAT on the host, tap, virtio-net into the TCG guest)
  const sinkPod = ['-v', `${tools}:/opt/bench:ro`, 'busybox', '/opt/bench/tcp-sink', '5001'];
  if (hyper(['run', '-d', '--name', 'sink', '-p', '15001:5001', ...sinkPod]).status !== 0) throw new Error('hyper run sink failed');
  await running('sink');
  const hostToPod = execFileSync(join(tools, 'tcp-source'), ['127.0.0.1', '15001', String(mb)], { encoding: 'utf8', timeout: 120_000 });
  out.hostToPodMBs = rate(hostToPod);
  progress(`host → pod through -p: ${out.hostToPodMBs} MB/s`);

  // pod ↔ pod on the bridge
  if (hyper(['run', '-d', '--name', 'sink2', ...sinkPod]).status !== 0) throw new Error('hyper run sink2 failed');
  await running('sink2');
  const ip = JSON.parse(hyper(['inspect', 'sink2']).stdout)[0].network.ip as string;
  const podToPod = hyper(['run', '-v', `${tools}:/opt/bench:ro`, 'busybox', '/opt/bench/tcp-source', ip, '5001', String(mb)]).stdout;
  out.podToPodMBs = rate(podToPod);
  progress(`pod → pod over the bridge: ${out.podToPodMBs} MB/s`);
  out.ratioToVeth = { hostToPod: Math.round(((out.hostToPodMBs as number) / (out.vethMBs as number)) * 1000) / 1000, podToPod: Math.round(((out.podToPodMBs as number) / (out.vethMBs as number)) * 1000) / 1000 };

  // volumes: sequential write with fsync, then read in a fresh VM (cold guest cache), beside the host disk
  const shared = join(n.dir, 'shared');
  mkdirSync(shared);
  if (hyper(['volume', 'create', '--data-dir', dataDir, '--size', `${fileMb * 4}M`, 'benchvol']).status !== 0) throw new Error('volume create failed');
  const vols = ['-v', `${shared}:/nine`, '-v', 'benchvol:/blk', 'busybox'];
  // busybox dd says no time: the guest's uptime around each one does (10 ms resolution)
  const timed = (cmd: string) => `a=$(cut -d' ' -f1 /proc/uptime); ${cmd} 2>/dev/null; b=$(cut -d' ' -f1 /proc/uptime); echo "T $a $b"`;
  const secsOf = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('T ')).map((l) => { const [, a, b] = l.split(' '); return Math.max(0.01, Number(b) - Number(a)); });
  const mbs = (secs: number | undefined) => (secs ? Math.round((fileMb / secs) * 10) / 10 : NaN);
  const write = secsOf(hyper(['run', ...vols, 'sh', '-c', [timed(`dd if=/dev/zero of=/nine/f bs=1M count=${fileMb} conv=fsync`), timed(`dd if=/dev/zero of=/blk/f bs=1M count=${fileMb} conv=fsync`)].join('; ')]).stdout);
  const read = secsOf(hyper(['run', ...vols, 'sh', '-c', [timed('dd if=/nine/f of=/dev/null bs=1M'), timed('dd if=/blk/f of=/dev/null bs=1M')].join('; ')]).stdout);
  const hostFile = join(dataDir, 'host-disk-test');
  const hostWrite = spawnSync('dd', ['if=/dev/zero', `of=${hostFile}`, 'bs=1M', `count=${fileMb}`, 'conv=fsync'], { encoding: 'utf8' }).stderr;
  spawnSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
  const hostRead = spawnSync('dd', [`if=${hostFile}`, 'of=/dev/null', 'bs=1M'], { encoding: 'utf8' }).stderr;
  out.volumesMBs = {
    ninePWrite: mbs(write[0]), ninePRead: mbs(read[0]),
    blockWrite: mbs(write[1]), blockRead: mbs(read[1]),
    hostWrite: ddRate(hostWrite), hostRead: ddRate(hostRead),
  };
  progress(`volumes: ${JSON.stringify(out.volumesMBs)}`);

  // the unprivileged fallback: the same host → pod transfer through QEMU's user-mode forward, on a daemon of its own
  hyper(['rm', '-f', 'sink', 'sink2']);
  await d.stop();
  const user = benchQemuDaemon(n, 'netbench-user', ['--network', 'user'], 'd-user');
  try {
    await user.d.ready;
    if (hyper(['run', '-d', '--name', 'usink', '-p', '15002:5001', ...sinkPod]).status !== 0) throw new Error('hyper run usink failed');
    await running('usink');
    out.hostToPodUserModeMBs = rate(execFileSync(join(tools, 'tcp-source'), ['127.0.0.1', '15002', String(mb)], { encoding: 'utf8', timeout: 300_000 }));
    out.ratioToVeth = { ...(out.ratioToVeth as object), hostToPodUserMode: Math.round(((out.hostToPodUserModeMBs as number) / (out.vethMBs as number)) * 1000) / 1000 };
    progress(`host → pod through a user-mode forward: ${out.hostToPodUserModeMBs} MB/s`);
  } finally {
    hyper(['rm', '-f', 'usink']);
    await user.d.stop();
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
} finally {
  hyper(['rm', '-f', 'sink', 'sink2']);
  for (const ns of NS) spawnSync('ip', ['netns', 'del', ns]);
  await d.stop(); // a second stop of a stopped daemon returns at once
  await n.close();
}
