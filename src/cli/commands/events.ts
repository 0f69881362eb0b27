// `hyper events`: the event log (the audit log) of one pod or the whole cluster, optionally followed live.
import type { Command } from 'commander';
import { isPodEvent } from '../../events/schemas/mod.js';
import { addressOf, POD_PREFIX, podSubject } from '../../events/schemas/subjects.js';
import type { Record_ } from '../../events/store/event-store.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { describe } from '../watch.js';

function line(r: Record_): string {
  if (!r.ok) return `${String(r.seq).padStart(6)}  (invalid message on ${r.subject}: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')})`;
  const e = r.event;
  const subject = isPodEvent(e) ? `pod ${e.pod}` : 'host' in e ? `host ${e.host}` : `tenant ${e.tenant}`;
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
        // one pod's, a tenant's own (its credentials read nothing else), or (admin) the whole log
        let filter: string | undefined = s.store.scoped ? `${POD_PREFIX}${s.tenant}.*` : undefined;
        if (ref) filter = podSubject(addressOf(s.resolve(await s.view(), ref).context));
        const from = Math.max(1, Number(o.since) || 1);
        for await (const r of o.follow ? s.store.read({ fromSeq: from, filter }) : s.store.replay(from, filter)) {
          process.stdout.write((g.output === 'json' ? JSON.stringify(r.ok ? { seq: r.seq, ...r.event } : { seq: r.seq, invalid: r.issues, subject: r.subject }) : line(r)) + '\n');
        }
      } finally {
        await s.close();
      }
    });
}
