// Scenario files: a cluster to bring up and the steps to run against it, validated strictly; errors name the line and field.
import { z } from 'zod';
import { LineCounter, parseDocument } from 'yaml';
import { parseDuration } from '../duration.js';

const duration = z.string().refine((s) => parseDuration(s) !== null, 'must be a duration such as 500ms, 10s or 2m').transform((s) => parseDuration(s)!);
/** A host: its name (h1…), `busiest` (most running pods now), or a name an earlier step saved with `as`. */
const hostRef = z.string().min(1).max(64);
const count = z.number().int().min(0).max(100_000);

const step = z.union([
  z.object({
    submit: z
      .object({
        pods: count.min(1),
        restart: z.enum(['never', 'on-failure', 'always']).default('never'),
        prefix: z.string().regex(/^[a-z][a-z0-9-]*$/).max(20).optional(),
        /** What each pod's busybox container runs (the hollow driver runs nothing); by default it sleeps for a day. */
        args: z.array(z.string()).min(1).default(['sleep', '86400']),
      })
      .strict(),
  }).strict(),
  z.object({ wait: z.object({ running: count.optional(), pending: count.optional(), lostHosts: count.optional(), hostUp: z.object({ host: hostRef, epoch: z.number().int().positive() }).strict().optional(), within: duration }).strict() }).strict(),
  z.object({ kill: z.object({ host: hostRef, as: z.string().optional() }).strict() }).strict(),
  z.object({ partition: z.object({ host: hostRef, as: z.string().optional() }).strict() }).strict(),
  z.object({ heal: z.object({ host: hostRef }).strict() }).strict(),
  /** Starts a host's hyperd again: after SIGKILL (the default) or SIGTERM; host `every`: one at a time, each up again before the next. */
  z.object({ restart: z.object({ host: hostRef, signal: z.enum(['KILL', 'TERM']).default('KILL') }).strict() }).strict(),
  z.object({ stop: z.object({ pods: count.min(1) }).strict() }).strict(),
  z.object({ 'kill-nats': z.object({ node: z.string().regex(/^n\d+$/) }).strict() }).strict(),
  /** Starts a killed NATS node again (same store and config). */
  z.object({ 'restart-nats': z.object({ node: z.string().regex(/^n\d+$/) }).strict() }).strict(),
  z.object({ sleep: duration }).strict(),
  z.object({
    expect: z
      .object({
        running: count.optional(),
        pending: count.optional(),
        failed: count.optional(),
        lostHosts: count.optional(),
        /** Every pod has exactly one pod.requested and one pod.scheduled per run: nothing lost, nothing duplicated. */
        exactlyOnce: z.literal(true).optional(),
        /** No pod runs on this host. */
        notOn: hostRef.optional(),
        /** Every host up runs at least one pod. */
        spread: z.literal(true).optional(),
        /**
         * What really runs (qemu driver): `exact` — one QEMU process per running pod, on the host the log says, and none
         * for anything else on any host; `same` — that, and the very processes the previous `vms` check found (re-attached).
         */
        vms: z.enum(['exact', 'same']).optional(),
        /** Every VM this host ran was stopped by its fence guard (qemu driver), and before the host was declared lost. */
        fencedBeforeLost: hostRef.optional(),
      })
      .strict(),
  }).strict(),
]);

export const Scenario = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(4000).optional(),
    cluster: z.object({ hosts: z.number().int().min(1).max(20), natsNodes: z.number().int().min(1).max(5).default(3), driver: z.enum(['hollow', 'qemu']).default('hollow'), hostLease: z.string().optional(), cpus: z.number().int().positive().optional(), memoryMb: z.number().int().positive().optional() }).strict(),
    steps: z.array(step).min(1),
  })
  .strict();
export type Scenario = z.infer<typeof Scenario>;
export type Step = Scenario['steps'][number];

export class ScenarioError extends Error {}

/** Parses and validates a scenario file's text; a problem is reported as `FILE:LINE: field: message`. */
export function parseScenario(file: string, text: string): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new ScenarioError(`${file}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`);
  }
  const r = Scenario.safeParse(doc.toJS());
  if (r.success) return r.data;
  const lines = r.error.issues.slice(0, 5).map((i) => {
    const node = doc.getIn(i.path as (string | number)[], true) as { range?: [number, number, number] } | undefined;
    // the deepest node the path reaches names the line (a missing field: its parent's)
    let at = node?.range?.[0];
    for (let k = i.path.length - 1; at === undefined && k >= 0; k--) at = (doc.getIn(i.path.slice(0, k) as (string | number)[], true) as { range?: number[] } | undefined)?.range?.[0];
    return `${file}:${at === undefined ? 1 : lc.linePos(at).line}: ${i.path.join('.') || '(root)'}: ${i.message}`;
  });
  throw new ScenarioError(lines.join('\n'));
}

/** A step's kind (its only key) and its arguments. */
export function stepKind(s: Step): [string, unknown] {
  const [k, v] = Object.entries(s)[0];
  return [k, v];
}
