// `hyper events`: the event log (the audit log) of one pod or the whole cluster, filtered by host, type, author and a
// window of sequences or times, optionally followed live.
import type { Command } from 'commander';
import { isPodEvent } from '../../events/schemas/mod.js';
import { addressOf, POD_PREFIX, podSubject } from '../../events/schemas/subjects.js';
import type { Record_ } from '../../events/store/event-store.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { describe } from '../watch.js';
import { write } from '../stdio.js';
import { parsePoint } from './audit.js';
import { resolvePodEver } from '../resolve.js';
import type { Point } from '../../audit/state.js';

function line(r: Record_): string {
  if (!r.ok) return `${String(r.seq).padStart(6)}  (invalid message on ${r.subject}: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')})`;
  const e = r.event;
  const subject = isPodEvent(e) ? `pod ${e.pod}` : 'host' in e ? `host ${e.host}` : `tenant ${e.tenant}`;
  const what = isPodEvent(e) ? describe(e) ?? JSON.stringify(e.data) : JSON.stringify(e.data);
  return `${String(r.seq).padStart(6)}  ${new Date(e.at).toISOString()}  ${e.type.padEnd(20)} ${subject}  ${what}  (by ${e.by})`;
}

export interface EventFilter {
  host?: string;
  types?: string[];
  by?: string;
  since?: Point;
  until?: Point;
}

/** Whether a record passes the filter; a type ends in `.*` for a family (pod.*, container.*). Pure. */
export function passes(r: Record_, f: EventFilter): boolean {
  if (f.since && ('seq' in f.since ? r.seq < f.since.seq : !r.ok || r.event.at < f.since.at)) return false;
  if (f.until && ('seq' in f.until ? r.seq > f.until.seq : !r.ok || r.event.at > f.until.at)) return false;
  if (!r.ok) return !f.host && !f.types && !f.by;
  const e = r.event;
  if (f.types && !f.types.some((t) => (t.endsWith('.*') ? e.type.startsWith(t.slice(0, -1)) : e.type === t))) return false;
  if (f.by && !e.by.includes(f.by)) return false;
  if (f.host) {
    const d = e.data as Record<string, unknown>;
    const host = 'host' in e ? e.host : typeof d.host === 'string' ? d.host : null;
    if (host !== f.host && e.by !== `host:${f.host}`) return false;
  }
  return true;
}

/** Whether nothing after this record can pass (a sequence or time past --until): the read may stop. */
const pastUntil = (r: Record_, f: EventFilter) => Boolean(f.until && ('seq' in f.until ? r.seq > f.until.seq : r.ok && r.event.at > f.until.at));

export function registerEvents(program: Command, globals: () => GlobalOptions): void {
  program
    .command('events [pod]')
    .description('print the event log (every event, or one pod\'s), filtered; JSON lines with -o json')
    .option('-f, --follow', 'keep printing new events')
    .option('--host <host>', 'events about a host, or written by it, or placing pods on it')
    .option('--type <type...>', 'these event types only (pod.requested, container.*, …)')
    .option('--by <who>', 'events whose author contains this (cli:ana, host:a, scheduler:…)')
    .option('--since <time|seq>', 'from a sequence number, a time (RFC 3339, Unix seconds) or a duration back (10m)')
    .option('--until <time|seq>', 'up to a sequence number or time')
    .action(async (ref: string | undefined, o: { follow?: boolean; host?: string; type?: string[]; by?: string; since?: string; until?: string }) => {
      const g = globals();
      const f: EventFilter = { host: o.host, types: o.type, by: o.by, since: o.since ? parsePoint(o.since, '--since') : undefined, until: o.until ? parsePoint(o.until, '--until') : undefined };
      const s = await openSession(g);
      try {
        // one pod's, a tenant's own (its credentials read nothing else), or (admin) the whole log
        let filter: string | undefined = s.store.scoped ? `${POD_PREFIX}${s.tenant}.*` : undefined;
        if (ref) filter = podSubject(addressOf(resolvePodEver(await s.view(), ref, s.tenant).context));
        const from = f.since && 'seq' in f.since ? Math.max(1, f.since.seq) : 1;
        const batches = o.follow && !f.until ? s.store.readBatches({ fromSeq: from, filter }) : s.store.replayBatches(from, filter);
        outer: for await (const batch of batches) {
          const out: string[] = [];
          let done = false;
          for (const r of batch) {
            if (pastUntil(r, f)) {
              done = true;
              break;
            }
            if (passes(r, f)) out.push(g.output === 'json' ? JSON.stringify(r.ok ? { seq: r.seq, ...r.event } : { seq: r.seq, invalid: r.issues, subject: r.subject }) : line(r));
          }
          if (out.length) await write(process.stdout, out.join('\n') + '\n');
          if (done) break outer;
        }
      } finally {
        await s.close();
      }
    });
}
