// `hyper logs`: a pod's container output, read back from NATS (any host, any time within retention), byte for byte; -f keeps
// following; --tail, --since, --until and --timestamps as docker's.
import type { Command } from 'commander';
import { ValidationError } from '../../errors.js';
import { parseTimeArg } from '../../duration.js';
import { addressOf } from '../../events/schemas/subjects.js';
import { readLogs, type LogChunk } from '../../events/store/logs.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { LineRing, LineSplitter, stamp, type LogLine } from '../log-lines.js';
import { write } from '../stdio.js';

interface LogsFlags { follow?: boolean; container?: string; tail?: string; since?: string; until?: string; timestamps?: boolean }

export function registerLogs(program: Command, globals: () => GlobalOptions): void {
  program
    .command('logs <pod>')
    .description('print the output of a pod\'s containers (stdout to stdout, stderr to stderr), every byte as it was written')
    .option('-f, --follow', 'keep printing new output')
    .option('-c, --container <name>', 'only this container')
    .option('-n, --tail <lines>', 'only the last N lines ("all": every line)', 'all')
    .option('--since <time>', 'only output since then: RFC 3339, Unix seconds, or a duration back from now (10m)')
    .option('--until <time>', 'only output before then (same forms)')
    .option('-t, --timestamps', 'prefix each line with the time it was stored')
    .action(async (ref: string, o: LogsFlags) => {
      const now = Date.now();
      const time = (flag: string, v: string | undefined) => {
        if (v === undefined) return undefined;
        const t = parseTimeArg(v, now);
        if (t === null) throw new ValidationError('logs flags', [{ path: `--${flag}`, message: `"${v}" is not a time: give RFC 3339 (2026-12-02T10:00:00Z), Unix seconds, or a duration such as 10m` }]);
        return t;
      };
      const sinceMs = time('since', o.since);
      const untilMs = time('until', o.until);
      const tail = o.tail === undefined || o.tail === 'all' ? null : Number(o.tail);
      if (tail !== null && (!Number.isInteger(tail) || tail < 0)) throw new ValidationError('logs flags', [{ path: '--tail', message: `"${o.tail}" is not a number of lines (or "all")` }]);
      const s = await openSession(globals());
      try {
        const pod = s.resolve(await s.view(), ref);
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        if (o.follow && untilMs !== undefined) setTimeout(() => abort.abort(), Math.max(0, untilMs - Date.now())).unref();
        const at = addressOf(pod.context);
        const read = (follow: boolean, fromSeq?: number) => readLogs(s.nc, at, { follow, signal: abort.signal, scoped: s.store.scoped, container: o.container, sinceMs, fromSeq });
        const out = (stream: 1 | 2) => (stream === 2 ? process.stderr : process.stdout);
        const past = (c: LogChunk) => untilMs !== undefined && c.atMs >= untilMs;
        const lines = new LineSplitter();
        const printLine = (l: LogLine) => write(out(l.stream), o.timestamps ? Buffer.concat([Buffer.from(stamp(l.atMs)), l.data]) : l.data);
        const print = async (c: LogChunk) => {
          if (!o.timestamps) return write(out(c.stream), c.data);
          for (const l of lines.push(c)) await printLine(l);
        };
        let lastSeq = 0;
        if (tail !== null) {
          // the last N lines of what is stored now, then (with -f) everything after it as it comes
          const ring = new LineRing(tail);
          for await (const c of read(false)) {
            if (past(c)) break;
            lastSeq = c.seq;
            for (const l of lines.push(c)) ring.push(l);
          }
          const rest = [...lines.rest()];
          for (const l of rest) ring.push(l);
          for (const l of ring.drain()) await printLine(l);
          if (!o.follow || (untilMs !== undefined && Date.now() >= untilMs)) return;
        }
        for await (const c of read(Boolean(o.follow), lastSeq ? lastSeq + 1 : undefined)) {
          if (past(c)) break;
          await print(c);
        }
        for (const l of lines.rest()) await printLine(l);
      } finally {
        await s.close();
      }
    });
}
