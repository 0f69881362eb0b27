// npm run bench: runs the start and density benchmarks (pod-start, density, churn; every bench with --all), keeps each
// one's JSON in bench/results/TIME/, and writes there a report (report.md with SVG charts) that sets each figure beside
// the previous run's and beside the anchors' published figures. --quick runs short versions; --only a,b picks benches.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { barChart, type Bar } from './lib/chart.js';
import { progress } from './lib/env.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = here.slice(0, here.lastIndexOf('/dist/'));
const resultsDir = join(root, 'bench', 'results');
const quick = process.argv.includes('--quick');
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',') : null;

/** What runs, with what arguments (quick: enough to see the shape in a few minutes). */
const SUITE: { name: string; args: string[]; quick: string[]; all?: boolean }[] = [
  { name: 'pod-start', args: ['--runs', '50'], quick: ['--runs', '10'] },
  { name: 'density', args: ['--pods', '100'], quick: ['--pods', '20'] },
  { name: 'churn', args: ['--seconds', '60'], quick: ['--seconds', '20'] },
  { name: 'guest-boot', args: [], quick: [], all: true },
  { name: 'control-plane', args: [], quick: [], all: true },
  { name: 'daemon-restart', args: [], quick: ['--cycles', '10'], all: true },
  { name: 'exec', args: [], quick: [], all: true },
  { name: 'cli-startup', args: [], quick: [], all: true },
  { name: 'net-volumes', args: [], quick: [], all: true },
  { name: 'docker-api', args: [], quick: [], all: true },
  { name: 'audit', args: [], quick: [], all: true },
];

/** Published figures of the systems hyper is measured against (../shared/ARCHITECTURE.md §5; KVM unless said). */
const ANCHORS = {
  startMs: [
    { label: 'CubeSandbox from a template', value: 60 },
    { label: 'Firecracker from a warm snapshot', value: 100 },
    { label: 'Hyper runV template', value: 130 },
    { label: 'Hyper cold boot (KVM, qboot)', value: 336 },
    { label: 'Kata boot-to-workload (QEMU)', value: 710 },
    { label: 'Hyper cold boot (QEMU-TCG)', value: 1367 },
  ],
  pssMb: [
    { label: 'CubeSandbox per instance', value: 5 },
    { label: 'Firecracker from a warm snapshot', value: 11 },
    { label: 'Hyper QEMU RSS', value: 49 },
    { label: 'Kata PSS per pod', value: 120 },
  ],
};

function run(name: string, args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(root, 'dist', 'bench', `${name}.js`), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.once('error', reject);
    p.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench ${name} exited with ${code}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`bench ${name} printed no JSON: ${out.slice(0, 300)}`));
      }
    });
  });
}

/** The newest earlier run's JSON of a bench, or null. */
function previous(name: string, now: string): Record<string, any> | null {
  if (!existsSync(resultsDir)) return null;
  for (const d of readdirSync(resultsDir).filter((d) => d < now).sort().reverse()) {
    const f = join(resultsDir, d, `${name}.json`);
    if (existsSync(f)) return JSON.parse(readFileSync(f, 'utf8'));
  }
  return null;
}

const MODES = ['cold', 'template', 'pool'] as const;

/** The report's section (markdown) and chart (SVG) for one bench, when it has one. */
function section(name: string, r: Record<string, any>, prev: Record<string, any> | null): { md: string; svg?: string } {
  const modes = MODES.filter((m) => r[m]);
  if (name === 'pod-start') {
    const rows = modes.map((m) => `| ${m} | ${r[m].intentToContainerStartedMs.p50} | ${r[m].intentToContainerStartedMs.p95} | ${r[m].intentToContainerStartedMs.p99} | ${prev?.[m]?.intentToContainerStartedMs.p50 ?? '–'} | ${(r[m].intentToContainerStartedMs.p50 / r.cold.intentToContainerStartedMs.p50).toFixed(2)}× |`);
    const bars: Bar[] = [
      ...modes.map((m) => ({ label: `hyper ${m} (TCG, p50)`, value: r[m].intentToContainerStartedMs.p50, kind: 'ours' as const })),
      ...modes.filter((m) => prev?.[m]).map((m) => ({ label: `hyper ${m}, previous run`, value: prev![m].intentToContainerStartedMs.p50, kind: 'previous' as const })),
      ...ANCHORS.startMs.map((a) => ({ ...a, kind: 'anchor' as const })),
    ];
    return {
      md: `## Pod start: intent → container.started (ms)\n\n| mode | p50 | p95 | p99 | previous p50 | vs cold |\n| --- | --- | --- | --- | --- | --- |\n${rows.join('\n')}\n\n![pod start](pod-start.svg)\n`,
      svg: barChart('Pod start: intent → container.started', 'ms', bars),
    };
  }
  if (name === 'density') {
    const rows = modes.map((m) => `| ${m} | ${r[m].pods} | ${r[m].pssPerPodMb} | ${r[m].hostMemoryPerPodMb} | ${r[m].addPodMs.p50} | ${prev?.[m]?.pssPerPodMb ?? '–'} | ${r[m].stoppedBecause} |`);
    const bars: Bar[] = [
      ...modes.map((m) => ({ label: `hyper ${m}: PSS per idle pod`, value: r[m].pssPerPodMb, kind: 'ours' as const })),
      ...modes.filter((m) => prev?.[m]).map((m) => ({ label: `hyper ${m}, previous run`, value: prev![m].pssPerPodMb, kind: 'previous' as const })),
      ...ANCHORS.pssMb.map((a) => ({ ...a, kind: 'anchor' as const })),
    ];
    return {
      md: `## Density: idle pods (MB)\n\n| mode | pods | PSS per pod | host memory per pod | add a pod p50 (ms) | previous PSS | stopped because |\n| --- | --- | --- | --- | --- | --- | --- |\n${rows.join('\n')}\n\n![density](density.svg)\n`,
      svg: barChart('Memory per idle pod', 'MB', bars),
    };
  }
  if (name === 'churn') {
    const rows = modes.map((m) => `| ${m} | ${r[m].pods} | ${r[m].podsPerSecond} | ${r[m].podsPerSecondPerCore} | ${r[m].createToDeletedMs.p50} | ${prev?.[m]?.podsPerSecond ?? '–'} |`);
    const bars: Bar[] = [
      ...modes.map((m) => ({ label: `hyper ${m}`, value: r[m].podsPerSecondPerCore, kind: 'ours' as const })),
      ...modes.filter((m) => prev?.[m]).map((m) => ({ label: `hyper ${m}, previous run`, value: prev![m].podsPerSecondPerCore, kind: 'previous' as const })),
    ];
    return {
      md: `## Churn: pods created, run and deleted (${r.seconds} s, ${r.inFlight} in flight)\n\n| mode | pods | per second | per second per core | create → VM gone p50 (ms) | previous per second |\n| --- | --- | --- | --- | --- | --- |\n${rows.join('\n')}\n\n![churn](churn.svg)\n`,
      svg: barChart('Churn: pods per second per core', 'pods/s/core', bars, { lowerIsBetter: false }),
    };
  }
  return { md: `## ${name}\n\n\`\`\`json\n${JSON.stringify(r, null, 1).slice(0, 4000)}\n\`\`\`\n` };
}

const now = new Date().toISOString().replace(/[:.]/g, '-');
const dir = join(resultsDir, now);
mkdirSync(dir, { recursive: true });
const picked = SUITE.filter((b) => (only ? only.includes(b.name) : !b.all || process.argv.includes('--all')));
const parts: string[] = [`# hyper benchmark report, ${new Date().toISOString()}${quick ? ' (quick)' : ''}\n\nEach figure beside the previous run's (bench/results/) and the anchors' published figures (KVM unless said; hyper runs under TCG here). Machine: ${readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown'}, ${(await import('node:os')).availableParallelism()} cores.\n`];
let failed = 0;
for (const b of picked) {
  progress(`suite: ${b.name} ${(quick ? b.quick : b.args).join(' ')}`);
  try {
    const r = (await run(b.name, quick ? b.quick : b.args)) as Record<string, any>;
    writeFileSync(join(dir, `${b.name}.json`), JSON.stringify(r, null, 2) + '\n');
    const s = section(b.name, r, previous(b.name, now));
    parts.push(s.md);
    if (s.svg) writeFileSync(join(dir, `${b.name}.svg`), s.svg);
  } catch (err) {
    failed++;
    parts.push(`## ${b.name}\n\nfailed: ${(err as Error).message}\n`);
  }
}
writeFileSync(join(dir, 'report.md'), parts.join('\n'));
process.stdout.write(`${join(dir, 'report.md')}\n`);
if (failed) process.exitCode = 1;
