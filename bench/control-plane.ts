// bench/control-plane: placements/s with hollow hosts, replay events/s over a large log, daemon restart time; prints one JSON document.
import { benchPlacement } from './control-plane/placement.js';
import { benchNatsAlone } from './control-plane/nats-alone.js';
import { benchReplay } from './control-plane/replay.js';
import { benchRestart } from './control-plane/restart.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const only = process.argv.find((a) => ['placement', 'replay', 'restart', 'cluster'].includes(a));
const result: Record<string, unknown> = { bench: 'control-plane', at: new Date().toISOString(), node: process.version };
// one daemon running all 100 hollow hosts, then the same hosts split over two daemons racing to place (leaderless)
if (!only || only === 'placement') {
  const daemons = process.argv.includes('--daemons') ? [arg('daemons', 1)] : [1, 2];
  result.placement = [];
  // with the accept step (as clients submit) beside the same run without it (pod.requested appended straight to the log)
  // latency without a queue: the same two paths at a steady rate the system sustains (first, on a quiet machine)
  const rate = arg('rate', 200);
  result.placementLatency = [];
  for (const via of ['facts', 'intents'] as const) (result.placementLatency as unknown[]).push(await benchPlacement({ pods: arg('rate-pods', 2_000), hosts: arg('hosts', 100), daemons: 1, via, ratePerSec: rate }));
  // the machine is noisy (runs differ by 20-30%): each path several times, alternating, compared by their medians
  const repeat = arg('repeat', 3);
  result.placementSummary = [];
  for (const d of daemons) {
    const runs: Record<'facts' | 'intents', Awaited<ReturnType<typeof benchPlacement>>[]> = { facts: [], intents: [] };
    for (let i = 0; i < repeat; i++) {
      for (const via of ['facts', 'intents'] as const) {
        const r = await benchPlacement({ pods: arg('pods', 10_000), hosts: arg('hosts', 100), daemons: d, via });
        runs[via].push(r);
        (result.placement as unknown[]).push(r);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const of = (via: 'facts' | 'intents') => ({ placementsPerSec: median(runs[via].map((r) => r.placementsPerSec)), allRunningSeconds: median(runs[via].map((r) => r.allRunningSeconds ?? NaN)) });
    const facts = of('facts');
    const intents = of('intents');
    (result.placementSummary as unknown[]).push({
      daemons: d, runs: repeat, facts, intents,
      acceptStepRatio: { placements: +(intents.placementsPerSec / facts.placementsPerSec).toFixed(2), allRunning: +(facts.allRunningSeconds / intents.allRunningSeconds).toFixed(2) },
      target: { acceptStepRatio: 0.8 },
    });
  }
}
// the same placements on one nats-server and on a 3-node JetStream cluster (R3 streams, TLS), alternating, by medians
if (only === 'cluster') {
  const repeat = arg('repeat', 3);
  const d = arg('daemons', 1);
  const pods = arg('pods', 10_000);
  const runs: Record<'one' | 'three', Awaited<ReturnType<typeof benchPlacement>>[]> = { one: [], three: [] };
  // the ceiling NATS itself sets here: the two appends of every placement with nothing else running, measured alongside
  const alone: Record<'one' | 'three', Awaited<ReturnType<typeof benchNatsAlone>>[]> = { one: [], three: [] };
  for (let i = 0; i < repeat; i++) {
    for (const nodes of [1, 3] as const) {
      const k = nodes === 1 ? 'one' : 'three';
      alone[k].push(await benchNatsAlone({ pods, natsNodes: nodes }));
      runs[k].push(await benchPlacement({ pods, hosts: arg('hosts', 100), daemons: d, via: 'facts', natsNodes: nodes }));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const of = (k: 'one' | 'three') => {
    const placementsPerSec = median(runs[k].map((r) => r.placementsPerSec));
    const ceiling = median(alone[k].map((r) => r.placementsPerSecCeiling));
    return { placementsPerSec, natsAlone: { eventsPerSec: median(alone[k].map((r) => r.eventsPerSec)), placementsPerSecCeiling: ceiling }, ofCeiling: +(placementsPerSec / ceiling).toFixed(2) };
  };
  const one = of('one');
  const three = of('three');
  result.cluster = { daemons: d, hollowHosts: arg('hosts', 100), runs: repeat, singleNode: one, threeNodes: three, ratio: +(three.placementsPerSec / one.placementsPerSec).toFixed(2), target: { placementsPerSec: 5_000 }, all: runs, natsAlone: alone };
}
if (!only || only === 'replay') result.replay = await benchReplay({ events: arg('events', 200_000) });
if (!only || only === 'restart') result.restart = await benchRestart({ pods: arg('restart-pods', 10_000) });
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
process.exit(0);
