// `hyper events`: the event log (the audit log) of one pod or the whole cluster, optionally followed live.
import type { Command } from 'commander';
import { isPodEvent } from '../../events/schemas/mod.js';
import { loadView } from '../../events/store/load-view.js';
import { podSubject } from '../../events/store/subjects.js';
import type { Record_ } from '../../events/store/event-store.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { resolvePod } from '../resolve.js';
import { describe } from '../watch.js';

function line(r: Record_): string {
  if (!r.ok) return `${String(r.seq).padStart(6)}  (invalid message on ${r.subject}: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')})`;
  const e = r.event;
  const subject = isPodEvent(e) ? `pod ${e.pod}` : `host ${e.host}`;
  const what = isPodEvent(e) ? describe(e) ?? JSON.stringify(e.data) : JSON.stringify(e.data);
  return `${String(r.seq).padStart(6)}  ${new Date(e.at).toISOString()}  ${e.type.padEnd(20)} ${subject}  ${what}  (by ${e.by})`;
}

export function registerEvents(program: Command, globals: () => GlobalOptions): void {
  program
    .command('events [pod]')
    .description('print the event log (every event, or one pod\'s); JSON lines with --output json')
    .option('-f, --follow', 'keep printing new events')
    .option('--since <seq>', 'start at this stream sequence', '1')
    .action(async (ref: string | undefined, o: { follow?: boolean; since: string }) => {
      const g = globals();
      const s = await openSession(g);
      try {
        let filter: string | undefined;
        if (ref) filter = podSubject(resolvePod((await loadView(s.store)).view, ref).context.id);
        const last = o.follow ? Infinity : filter ? await s.store.lastPodSeq(filter.slice('hyper.pod.'.length)) : await s.store.lastSeq();
        const from = Math.max(1, Number(o.since) || 1);
        if (last < from) return;
        for await (const r of s.store.read({ fromSeq: from, filter })) {
          process.stdout.write((g.output === 'json' ? JSON.stringify(r.ok ? { seq: r.seq, ...r.event } : { seq: r.seq, invalid: r.issues, subject: r.subject }) : line(r)) + '\n');
          if (r.seq >= last) break;
        }
      } finally {
        await s.close();
      }
    });
}
