// A pod's history from its events, pure: the fold replayed step by step, each state it entered (when, for how long, on
// which host and driver, in which run) with the event that caused it and who wrote that event, plus the facts inside a
// state worth a line (container starts, exits and restarts, OOM kills, execs, rejected intents).
import type { PodEvent } from '../events/schemas/mod.js';
import type { Record_ } from '../model/record.js';
import { foldPod, initialPod, type PodFold } from '../model/pod-fold.js';
import type { PodState } from '../model/pod-machine.js';
import { describe } from '../cli/watch.js';

export interface HistoryEntry {
  seq: number;
  at: number;
  type: string;
  by: string;
  run: number;
  host: string | null;
  driver: string | null;
  /** The state the event took the pod to (null: a fact within the state it was in). */
  state: PodState | null;
  /** How long the pod stayed in that state (null: it still is, or the entry is no transition). */
  forMs: number | null;
  text: string;
}

export interface PodHistory {
  pod: string;
  name: string | null;
  tenant: string;
  requestedBy: string | null;
  entries: HistoryEntry[];
  /** The fold at the end. */
  final: PodFold;
}

/** What an event says, in words, for a history line. */
export function eventText(e: PodEvent, before: PodFold): string {
  switch (e.type) {
    case 'pod.requested': return `requested (${e.data.spec.containers.map((c) => `${c.name}: ${c.image}`).join(', ')}; restart ${e.data.spec.restartPolicy}${e.data.spec.maxRestarts !== undefined ? `:${e.data.spec.maxRestarts}` : ''})${e.data.start ? '' : ', not started'}`;
    case 'pod.start.requested': return 'start requested';
    case 'pod.stop.requested': return `stop requested (grace ${e.data.graceMs / 1000} s)`;
    case 'pod.delete.requested': return `removal requested${e.data.force ? ' (force)' : ''}`;
    case 'pod.rename.requested': return `renamed ${e.data.name}`;
    case 'pod.kill.requested': return `kill requested (signal ${e.data.signal}${e.data.container ? `, container ${e.data.container}` : ''})`;
    case 'pod.killed': return `signal ${e.data.signal} delivered to ${e.data.containers.join(', ') || 'no container'}`;
    case 'container.exited': {
      const oom = before.context.containers[e.data.container]?.reason === 'OOM killed';
      return `container ${e.data.container} exited ${e.data.exitCode}${oom ? ' (OOM killed)' : ''}`;
    }
    case 'container.started': {
      const c = before.context.containers[e.data.container];
      return c && c.restarts > 0 && c.state === 'restarting' ? `container ${e.data.container} restarted (restart ${c.restarts})` : `container ${e.data.container} started`;
    }
    case 'container.oom': return `container ${e.data.container} OOM killed (over its memory limit)`;
    case 'net.assigned': return `network: ${e.data.ip} (${e.data.mode})${e.data.ports.length ? `, ports ${e.data.ports.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(' ')}` : ''}`;
    case 'vm.attached': return `vm ${e.data.vm} re-attached by daemon ${e.data.daemon} (${e.data.processes} processes, ${e.data.resync})`;
    case 'vm.detached': return `vm ${e.data.vm} left running: ${e.data.reason}`;
    case 'exec.started': return `exec ${JSON.stringify(e.data.command.join(' '))} in ${e.data.container} (session ${e.data.session})`;
    case 'exec.failed': return `exec ${JSON.stringify(e.data.command.join(' '))} in ${e.data.container} failed: ${e.data.reason}`;
    case 'exec.exited': return `exec session ${e.data.session} exited ${e.data.exitCode}`;
    case 'copy.started': return `copy ${e.data.direction} ${e.data.container}:${e.data.path} (session ${e.data.session})`;
    case 'copy.failed': return `copy ${e.data.direction} ${e.data.container}:${e.data.path} failed: ${e.data.reason}`;
    case 'copy.ended': return `copy session ${e.data.session} ended ${e.data.exitCode}`;
    case 'attach.started': return `attached to ${e.data.container}${e.data.stdin ? ' with stdin' : ''}`;
    case 'attach.ended': return `detached: ${e.data.reason}`;
    case 'intent.rejected': return `${e.data.intentType} refused: ${e.data.reason}`;
    default: return describe(e) ?? e.type;
  }
}

/** Facts that change no state but belong in a history. */
const NOTABLE = new Set(['container.started', 'container.exited', 'container.failed', 'container.oom', 'net.assigned', 'image.ready', 'vm.origin', 'vm.attached', 'vm.detached', 'pod.kill.requested', 'pod.rename.requested', 'pod.killed', 'exec.started', 'exec.failed', 'exec.exited', 'copy.started', 'copy.failed', 'copy.ended', 'attach.started', 'intent.rejected', 'pod.waiting', 'pod.rejected', 'pod.lost']);

/** Folds one pod's records (its subject's, in order) into its history. Invalid records are skipped, as the fold skips them. */
export function podHistory(records: Iterable<Record_>, podId: string): PodHistory {
  let pod = initialPod(podId);
  const drivers = new Map<string, string>(); // run/host → driver, from vm.booting
  const entries: HistoryEntry[] = [];
  let open: HistoryEntry | null = null;
  for (const r of records) {
    if (!r.ok || !('pod' in r.event) || r.event.pod !== podId) continue;
    const e = r.event as PodEvent;
    const next = foldPod(pod, e);
    if (next === pod && e.type !== 'intent.rejected') continue;
    if (e.type === 'vm.booting') drivers.set(`${next.context.run}/${e.data.host}`, e.data.driver);
    const moved = next.state !== pod.state;
    if (moved || NOTABLE.has(e.type)) {
      // the host the event happened on: a run that ends there keeps it; one that waits for a new placement has none
      const host = next.context.host ?? (next.state === 'pending' ? null : pod.context.host);
      const entry: HistoryEntry = { seq: r.seq, at: e.at, type: e.type, by: e.by, run: next.context.run, host, driver: null, state: moved ? next.state : null, forMs: null, text: eventText(e, pod) };
      if (moved) {
        if (open) open.forMs = e.at - open.at;
        open = entry;
      }
      entries.push(entry);
    }
    pod = next;
  }
  for (const e of entries) if (e.host) e.driver = drivers.get(`${e.run}/${e.host}`) ?? null;
  return { pod: podId, name: pod.context.name, tenant: pod.context.tenant ?? 'default', requestedBy: pod.context.requestedBy, entries, final: pod };
}

export const iso = (ms: number) => new Date(ms).toISOString();

export function duration(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} m`;
}

/** The history as text: a header, then a block per run, a line per entry (state changes with how long they lasted). */
export function renderHistory(h: PodHistory): string {
  const out = [`pod ${h.name ?? h.pod} (${h.pod}), tenant ${h.tenant}${h.requestedBy ? `, requested by ${h.requestedBy}` : ''}; now ${h.final.state}`];
  let run = -1;
  let host: string | null | undefined;
  for (const e of h.entries) {
    if (e.run !== run) {
      run = e.run;
      host = undefined;
      out.push(run === 0 ? 'before its first run' : `run ${run}`);
    }
    if (e.host && e.host !== host) {
      host = e.host;
      out.push(`  on host ${e.host}${e.driver ? ` (${e.driver})` : ''}`);
    }
    const state = e.state ? e.state.padEnd(10) : ''.padEnd(10);
    const lasted = e.state ? (e.forMs === null ? 'now'.padStart(10) : duration(e.forMs).padStart(10)) : ''.padStart(10);
    out.push(`  ${iso(e.at)}  ${String(e.seq).padStart(6)}  ${state} ${lasted}  ${e.text}  (by ${e.by})`);
  }
  return out.join('\n');
}
