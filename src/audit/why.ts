// `hyper why`: a pod's current state explained in words from its history, pure: what put it there, when and where,
// what its restart policy did, and who asked for it.
import type { PodHistory, HistoryEntry } from './history.js';
import { duration, iso } from './history.js';
import { restartPolicyText } from '../model/pod-context.js';

const INTENTS = new Set(['pod.requested', 'pod.start.requested', 'pod.stop.requested', 'pod.delete.requested', 'pod.kill.requested', 'pod.rename.requested']);

/** The sentences explaining where the pod is now; `now` only words how long a state has lasted. */
export function explain(h: PodHistory, now: number): string {
  const { state, context: ctx } = h.final;
  const name = h.name ?? h.pod;
  const transitions = h.entries.filter((e) => e.state !== null);
  const last: HistoryEntry | undefined = transitions.at(-1);
  const where = (e: HistoryEntry | undefined) => (e?.host ? ` on host ${e.host}` : '');
  const since = (e: HistoryEntry | undefined) => (e ? ` since ${iso(e.at)} (${duration(Math.max(0, now - e.at))})` : '');
  const parts: string[] = [];
  switch (state) {
    case 'new':
      parts.push(`${name}: no such pod in this log`);
      break;
    case 'created':
      parts.push(`${name}: created, never started (hyper start ${name})`);
      break;
    case 'pending':
      parts.push(`${name}: pending${since(last)}: ${ctx.reason ?? 'waiting to be placed on a host'}`);
      break;
    case 'running': {
      const cs = Object.entries(ctx.containers).map(([n, c]) => `${n} ${c.state}${c.restarts ? ` (restarted ${c.restarts}×${c.lastExit ? `, last exit ${c.lastExit.exitCode} at ${iso(c.lastExit.at)}` : ''})` : ''}`);
      parts.push(`${name}: running${where(last)}${since(last)}, run ${ctx.run}; containers: ${cs.join(', ')}`);
      break;
    }
    case 'failed': {
      const { cause, at } = last ? causeOf(h, last) : { cause: ctx.reason ?? 'unknown', at: null };
      parts.push(`${name}: failed: ${cause}${at !== null ? ` at ${iso(at)}${where(last)}` : ''}`);
      if (ctx.spec && !/restart policy/.test(cause)) parts.push(`restart policy ${restartPolicyText(ctx.spec)}${ctx.spec.restartPolicy === 'never' ? ': no restart' : ''}`);
      break;
    }
    case 'succeeded':
      parts.push(`${name}: succeeded: every container exited 0${last ? ` by ${iso(last.at)}${where(last)}` : ''}`);
      break;
    case 'stopped':
      parts.push(`${name}: stopped${last ? ` at ${iso(last.at)}${where(last)}` : ''}${ctx.reason ? `: ${ctx.reason}` : ''}`);
      break;
    case 'deleted':
      parts.push(`${name}: removed${last ? ` at ${iso(last.at)}` : ''}`);
      break;
    default:
      parts.push(`${name}: ${state}${where(last)}${since(last)}${ctx.reason ? `: ${ctx.reason}` : ''}`);
  }
  const requested = h.entries.find((e) => e.type === 'pod.requested');
  if (requested) parts.push(`the pod was requested by ${requested.by} at ${iso(requested.at)}`);
  // the latest other intent: who started, stopped, killed or removed it
  const intent = [...h.entries].reverse().find((e) => INTENTS.has(e.type) && e.type !== 'pod.requested');
  if (intent) parts.push(`${intent.text} by ${intent.by} at ${iso(intent.at)}`);
  return parts.join('; ');
}

/**
 * Why a failed pod failed: the container that ended it (the first to exit non-zero or fail, OOM kills named), its
 * restart policy's verdict, else the pod's reason (a VM or host failure); and when.
 */
function causeOf(h: PodHistory, failedAt: HistoryEntry): { cause: string; at: number } {
  const ctx = h.final.context;
  if (ctx.reason && /restart policy .* exhausted/.test(ctx.reason)) {
    const m = /^container (\S+) exited (\d+); (.*)$/.exec(ctx.reason);
    if (m) return { cause: `container ${m[1]} exited ${m[2]}${oomBefore(h, m[1], failedAt.seq) ? ' (OOM killed)' : ''}; ${m[3]}`, at: ctx.containers[m[1]]?.finishedAt ?? failedAt.at };
    return { cause: ctx.reason, at: failedAt.at };
  }
  const bad = Object.entries(ctx.containers)
    .filter(([, c]) => c.state === 'failed' || (c.exitCode !== null && c.exitCode !== 0))
    .sort((a, b) => (a[1].finishedAt ?? 0) - (b[1].finishedAt ?? 0))[0];
  if (bad && !ctx.reason?.startsWith('vm') && !/ lost /.test(ctx.reason ?? '')) {
    const [n, c] = bad;
    const how = c.state === 'failed' && c.exitCode === null ? `failed: ${c.reason ?? 'unknown'}` : `exited ${c.exitCode}${oomBefore(h, n, failedAt.seq) ? ' (OOM killed)' : ''}`;
    return { cause: `container ${n} ${how}`, at: c.finishedAt ?? failedAt.at };
  }
  return { cause: ctx.reason ?? failedAt.text, at: failedAt.at };
}

function oomBefore(h: PodHistory, container: string, seq: number): boolean {
  const exits = h.entries.filter((e) => e.seq <= seq && e.text.startsWith(`container ${container} `));
  return exits.at(-1)?.text.includes('(OOM killed)') ?? false;
}
