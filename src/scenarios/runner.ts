// Runs scenario files: brings up a local cluster (`hyper cluster up`, in a scratch data dir), plays each step against it —
// submitting pods as clients do, killing and cutting off hosts and NATS nodes — and checks the folded state; a readable
// timeline, a verdict per scenario, JUnit XML for CI.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { inRepo } from '../repo-root.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, clusterDown, clusterUp, readClusterFile, restartHost, restartNode, type ClusterFile, type ClusterMember } from '../cluster/local.js';
import { setLink } from '../cluster/netns.js';
import { openSession, type Session } from '../cli/connection.js';
import { publishIntent } from '../cli/intent.js';
import { newPodId } from '../cli/pod-id.js';
import { loadView } from '../events/store/load-view.js';
import { PodSpec } from '../events/schemas/mod.js';
import type { ClusterView } from '../model/cluster-view.js';
import { stepKind, type Scenario, type Step } from './schema.js';
import { isTransient } from '../nats/errors.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { STREAM } from '../events/schemas/subjects.js';
import { HyperError } from '../errors.js';
import { liveVms, readFenceMark } from '../drivers/qemu/fencing.js';
import { vmIdOf } from '../actors/pod/live.js';

export interface StepResult { at: number; step: string; ok: boolean; detail: string }
export interface ScenarioResult { file: string; name: string; ok: boolean; seconds: number; steps: StepResult[]; error?: string; /** nats-server's own word that it lost state: "Resetting stream cluster state" lines in the NATS nodes' logs, by stream */ natsResets?: Record<string, number>; /** pod events NATS stored twice under one id (seen by expect exactlyOnce), each folded once */ storedTwice?: number }

class StepFailed extends Error {}

/** How long cluster up may take (a QEMU cluster loads the image into every host, then waits for each hyperd). */
const CLUSTER_UP_MS = 240_000;
/** What a step may take beyond its own `within` or `sleep`: a stuck read, kill or restart fails the step by name instead of hanging the run. */
const STEP_SLACK_MS = 120_000;
/** One read of the whole log; one stuck behind a lost NATS node is abandoned and asked again. */
const VIEW_MS = 20_000;

/** p, or a StepFailed naming `what` once `ms` pass first (p itself is left to settle or be dropped with its connection). */
function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new StepFailed(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Data dirs of clusters up right now, so a run stopped by a signal can take them down (see takeDownRunning). */
const clustersUp = new Set<string>();

/** Takes down every cluster a scenario has up (on SIGINT/SIGTERM of `hyper scenario run`): no namespaces, daemons or NATS nodes left behind. */
export async function takeDownRunning(): Promise<void> {
  await Promise.all([...clustersUp].map((d) => clusterDown(d, () => {}).catch(() => {})));
}

export async function runScenario(file: string, sc: Scenario, say: (line: string) => void): Promise<ScenarioResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hyper-scenario-'));
  const t0 = performance.now();
  const steps: StepResult[] = [];
  const note = (step: string, ok: boolean, detail: string) => {
    const at = (performance.now() - t0) / 1000;
    steps.push({ at, step, ok, detail });
    say(`  +${at.toFixed(1).padStart(5)}s ${ok ? '✓' : '✗'} ${step}${detail ? ` — ${detail}` : ''}`);
  };
  let session: Session | null = null;
  let ctx: Ctx | null = null;
  // what is returned, kept so the finally below can add to it and knows whether it passed
  const out: { result?: ScenarioResult } = {};
  const done = (r: ScenarioResult) => (out.result = r);
  try {
    const c = sc.cluster;
    // real VMs need the image in every host's store (hosts have no route to a registry): the small busybox image
    const load = c.driver === 'qemu' ? [busyboxArchive(dataDir)] : [];
    clustersUp.add(dataDir);
    await deadline(clusterUp({ dataDir, hosts: c.hosts, natsNodes: c.natsNodes, driver: c.driver, hostLease: c.hostLease, cpus: c.cpus, memoryMb: c.memoryMb, load, progress: () => {} }), CLUSTER_UP_MS, 'cluster up');
    const f = readClusterFile(dataDir)!;
    note(`cluster up: ${c.natsNodes} NATS nodes, ${c.hosts} ${c.driver} hosts`, true, '');
    session = await openSession({ dataDir }, { reconnect: true });
    ctx = new Ctx(f, session, dataDir);
    for (const s of sc.steps) {
      const [kind] = stepKind(s);
      try {
        const own = 'wait' in s ? s.wait.within : 'sleep' in s ? s.sleep : 0;
        note(describe(s), true, await deadline(ctx!.run(s), own + STEP_SLACK_MS, 'the step'));
      } catch (err) {
        note(describe(s), false, (err as Error).message);
        if (!(err instanceof StepFailed)) throw err;
        return done({ file, name: sc.name, ok: false, seconds: (performance.now() - t0) / 1000, steps, error: `${kind}: ${(err as Error).message}` });
      }
    }
    return done({ file, name: sc.name, ok: true, seconds: (performance.now() - t0) / 1000, steps });
  } catch (err) {
    return done({ file, name: sc.name, ok: false, seconds: (performance.now() - t0) / 1000, steps, error: (err as Error).message });
  } finally {
    const f = readClusterFile(dataDir);
    if (f && out.result) out.result.natsResets = natsResets(f);
    if (out.result && ctx?.copies) out.result.storedTwice = ctx.copies;
    await deadline(session?.close() ?? Promise.resolve(), 10_000, 'closing the session').catch(() => {});
    // HYPER_SCENARIO_KEEP=1: a failed scenario's cluster stays up for a look (hyper -D DIR …; hyper cluster down -D DIR)
    if (!out.result?.ok && process.env.HYPER_SCENARIO_KEEP === '1') say(`  cluster kept up in ${dataDir}`);
    else {
      await clusterDown(dataDir, () => {}).catch((err) => say(`  cluster down failed: ${(err as Error).message}`));
      rmSync(dataDir, { recursive: true, force: true });
    }
    clustersUp.delete(dataDir);
  }
}

/** "Resetting stream cluster state for '$G > NAME'" lines in every NATS node's log, counted by stream. */
function natsResets(f: ClusterFile): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of f.nodes) {
    let text = '';
    try {
      text = readFileSync(join(n.dir, 'nats-server.log'), 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/Resetting stream cluster state for '[^>]*> ([^']+)'/g)) out[m[1]] = (out[m[1]] ?? 0) + 1;
  }
  return out;
}

function busyboxArchive(dir: string): string {
  const tar = join(dir, 'busybox.tar');
  execFileSync(inRepo('scripts', 'build-busybox-image.sh'), [tar, 'busybox:latest'], { stdio: 'ignore' });
  return tar;
}

function describe(s: Step): string {
  const [kind, v] = stepKind(s);
  return `${kind} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`;
}

class Ctx {
  private readonly names = new Map<string, string>();
  private submitted: string[] = [];
  /** Pod events the last exactlyOnce check found stored twice under one id. */
  copies = 0;
  /** The stream sequence at which each submitted pod's pod.requested was seen accepted. */
  private readonly acceptedAt = new Map<string, number>();

  constructor(
    private readonly f: ClusterFile,
    private readonly s: Session,
    private readonly dataDir: string,
  ) {}

  /** The folded view; a NATS node lost answers reads with timeouts for a while, so they are asked again. */
  private async view(): Promise<ClusterView> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await deadline(loadView(this.s.store, { useSnapshot: false }), VIEW_MS, 'reading the log')).view;
      } catch (err) {
        const stuck = err instanceof StepFailed;
        if (attempt >= 30 || !(stuck || isTransient((err as { cause?: unknown }).cause ?? err))) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async host(ref: string, as?: string): Promise<ClusterMember> {
    let name = this.names.get(ref) ?? ref;
    if (ref === 'busiest') {
      const v = await this.view();
      const counts = this.f.hosts.map((h) => [h.name, [...v.pods.values()].filter((p) => p.state === 'running' && p.context.host === h.name).length] as const);
      name = [...counts].sort((a, b) => b[1] - a[1])[0][0];
    }
    const m = this.f.hosts.find((h) => h.name === name);
    if (!m) throw new StepFailed(`no host "${ref}" (hosts: ${this.f.hosts.map((h) => h.name).join(', ')}${this.names.size ? `; saved: ${[...this.names.keys()].join(', ')}` : ''})`);
    if (as) this.names.set(as, m.name);
    return m;
  }

  async run(s: Step): Promise<string> {
    if ('submit' in s) {
      const { pods, restart, prefix, args } = s.submit;
      const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox', args }], restartPolicy: restart, ...(prefix ? { labels: { scenario: prefix } } : {}) });
      const ids = Array.from({ length: pods }, () => newPodId());
      for (let i = 0; i < ids.length; i += 100) await Promise.all(ids.slice(i, i + 100).map((id) => this.submitOne(id, spec)));
      this.submitted.push(...ids);
      return `${pods} accepted`;
    }
    if ('wait' in s) {
      const w = s.wait;
      const until = performance.now() + w.within;
      let last = '';
      for (;;) {
        const v = await this.view();
        const checks: [boolean, string][] = [];
        if (w.running !== undefined) { const n = running(v); checks.push([n === w.running, `${n}/${w.running} running`]); }
        if (w.pending !== undefined) { const n = pending(v); checks.push([n === w.pending, `${n}/${w.pending} pending`]); }
        if (w.lostHosts !== undefined) { const n = lost(v); checks.push([n === w.lostHosts, `${n}/${w.lostHosts} hosts lost`]); }
        if (w.hostUp) { const m = await this.host(w.hostUp.host); const h = v.hosts.get(m.name); checks.push([h?.state === 'up' && h.epoch === w.hostUp.epoch, `${m.name} ${h?.state} epoch ${h?.epoch}`]); }
        last = checks.map((c) => c[1]).join(', ');
        if (checks.every((c) => c[0])) return last;
        if (performance.now() > until) throw new StepFailed(`not within ${w.within} ms: ${last}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    if ('kill' in s) {
      const m = await this.host(s.kill.host, s.kill.as);
      process.kill(m.pid, 'SIGKILL');
      return `hyperd on ${m.name} (pid ${m.pid}) killed`;
    }
    if ('partition' in s) {
      const m = await this.host(s.partition.host, s.partition.as);
      setLink(m, false);
      return `${m.name} cut off (${m.veth} down)`;
    }
    if ('heal' in s) {
      const m = await this.host(s.heal.host);
      setLink(m, true);
      return `${m.name} back on the network`;
    }
    if ('restart' in s) {
      const { host, signal } = s.restart;
      const members = host === 'every' ? this.f.hosts : [await this.host(host)];
      const said: string[] = [];
      for (const m of members) {
        const t0 = performance.now();
        if (alive(m.pid)) process.kill(m.pid, `SIG${signal}`);
        const until = performance.now() + 30_000;
        while (alive(m.pid)) {
          if (performance.now() > until) throw new StepFailed(`hyperd on ${m.name} (pid ${m.pid}) still runs 30 s after SIG${signal}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        m.pid = await restartHost(this.dataDir, m.name);
        said.push(`${m.name} (pid ${m.pid}, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
      return `hyperd started again after SIG${signal}: ${said.join(', ')}`;
    }
    if ('stop' in s) {
      const v = await this.view();
      const ids = [...v.pods.values()].filter((p) => p.state === 'running').slice(0, s.stop.pods).map((p) => p.context.id);
      if (ids.length < s.stop.pods) throw new StepFailed(`only ${ids.length} pods running`);
      for (const id of ids) await publishIntent(this.s.store, 'pod.stop.requested', { pod: id, tenant: this.s.tenant }, { graceMs: 0 });
      return `stop asked for ${ids.join(', ')}`;
    }
    if ('kill-nats' in s) {
      const n = this.f.nodes.find((x) => x.name === s['kill-nats'].node);
      if (!n) throw new StepFailed(`no NATS node ${s['kill-nats'].node}`);
      process.kill(n.pid, 'SIGKILL');
      return `nats-server ${n.name} (pid ${n.pid}) killed`;
    }
    if ('restart-nats' in s) {
      const n = this.f.nodes.find((x) => x.name === s['restart-nats'].node);
      if (!n) throw new StepFailed(`no NATS node ${s['restart-nats'].node}`);
      if (alive(n.pid)) throw new StepFailed(`NATS node ${n.name} (pid ${n.pid}) still runs`);
      n.pid = restartNode(this.dataDir, n.name);
      return `nats-server ${n.name} started again (pid ${n.pid})`;
    }
    if ('sleep' in s) {
      await new Promise((r) => setTimeout(r, s.sleep));
      return '';
    }
    return this.expect(s.expect);
  }

  /** The QEMU processes found by the last `vms` check: vm id → pid. */
  private lastVms: Map<string, number> | null = null;

  /** What really runs, from /proc: each host's QEMU processes (their work dirs are under the host's data dir). */
  private checkVms(v: ClusterView, mode: 'exact' | 'same'): [boolean, string] {
    const found = new Map<string, { host: string; pid: number }[]>();
    for (const h of this.f.hosts) {
      for (const vm of liveVms(join(h.dir, 'vms'))) found.set(vm.id, [...(found.get(vm.id) ?? []), { host: h.name, pid: vm.pid }]);
    }
    const wrong: string[] = [];
    const pids = new Map<string, number>();
    for (const p of v.pods.values()) {
      if (p.state !== 'running' || !p.context.host) continue;
      const id = vmIdOf(p.context.id, p.context.run);
      const at = found.get(id) ?? [];
      found.delete(id);
      if (at.length !== 1 || at[0].host !== p.context.host) wrong.push(`${p.context.id} (run ${p.context.run}, on ${p.context.host}): ${at.length ? at.map((x) => `QEMU pid ${x.pid} on ${x.host}`).join(', ') : 'no QEMU'}`);
      else pids.set(id, at[0].pid);
    }
    for (const [id, at] of found) wrong.push(`vm ${id} runs (${at.map((x) => `pid ${x.pid} on ${x.host}`).join(', ')}) for no running pod`);
    if (mode === 'same' && this.lastVms) {
      for (const [id, pid] of this.lastVms) if (pids.has(id) && pids.get(id) !== pid) wrong.push(`vm ${id} is QEMU pid ${pids.get(id)}, was ${pid} (not re-attached: started again)`);
      for (const id of this.lastVms.keys()) if (!pids.has(id)) wrong.push(`vm ${id} (QEMU pid ${this.lastVms.get(id)}) is gone`);
    }
    this.lastVms = pids;
    const perHost = this.f.hosts.map((h) => `${h.name}: ${[...v.pods.values()].filter((p) => p.state === 'running' && p.context.host === h.name).length}`).join(', ');
    if (wrong.length) return [false, `${wrong.length} VMs do not match the log: ${wrong.slice(0, 3).join('; ')}`];
    return [true, `${pids.size} QEMU processes, one per running pod, each on its pod's host (${perHost})${mode === 'same' ? ', the same processes as before' : ''}`];
  }

  /** The fence guard's marks in a host's VM dirs against the host.lost the log holds for it. */
  private async checkFenced(m: ClusterMember): Promise<[boolean, string]> {
    const runDir = join(m.dir, 'vms');
    const vms = readdirSync(runDir, { withFileTypes: true }).filter((d) => d.isDirectory());
    const marks = vms.map((d) => ({ vm: d.name, mark: readFenceMark(join(runDir, d.name)) }));
    const unmarked = marks.filter((x) => !x.mark).map((x) => x.vm);
    let lostAt: number | null = null;
    for await (const r of this.s.store.replay()) if (r.ok && r.event.type === 'host.lost' && r.event.host === m.name) lostAt ??= r.event.at;
    if (!vms.length) return [false, `${m.name} has no VM dirs to look at`];
    if (unmarked.length) return [false, `${unmarked.length} of ${m.name}'s VMs were not stopped by its fence guard (${unmarked.slice(0, 3).join(', ')})`];
    if (lostAt === null) return [false, `no host.lost for ${m.name} in the log`];
    const last = Math.max(...marks.map((x) => x.mark!.at));
    if (last >= lostAt) return [false, `${m.name}'s fence guard stopped its last VM at ${new Date(last).toISOString()}, after the host was declared lost (${new Date(lostAt).toISOString()})`];
    return [true, `${m.name}'s fence guard stopped its ${vms.length} VMs ${lostAt - last} ms before the host was declared lost`];
  }

  /** As a client would through a NATS node loss: the same intent again (same id, so one intent) until a host accepts it. */
  private async submitOne(pod: string, spec: PodSpec): Promise<void> {
    const id = randomUUID();
    for (let attempt = 1; ; attempt++) {
      try {
        const a = await publishIntent(this.s.store, 'pod.requested', { pod, tenant: this.s.tenant }, { spec, start: true }, { id, fromSeq: 1 });
        this.acceptedAt.set(pod, a.seq);
        return;
      } catch (err) {
        // not accepted yet (JetStream electing leaders): the intent stays queued; asking again with its id is the same intent
        const slow = err instanceof HyperError && err.code === 'not-accepted';
        if (attempt >= 20 || !(isTransient(err) || slow)) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async expect(e: Extract<Step, { expect: unknown }>['expect']): Promise<string> {
    const v = await this.view();
    const said: string[] = [];
    const check = (ok: boolean, what: string) => {
      if (!ok) throw new StepFailed(what);
      said.push(what);
    };
    if (e.running !== undefined) check(running(v) === e.running, `${running(v)} running (expected ${e.running})`);
    if (e.pending !== undefined) check(pending(v) === e.pending, `${pending(v)} pending (expected ${e.pending})`);
    if (e.failed !== undefined) { const n = [...v.pods.values()].filter((p) => p.state === 'failed').length; check(n === e.failed, `${n} failed (expected ${e.failed})`); }
    if (e.lostHosts !== undefined) check(lost(v) === e.lostHosts, `${lost(v)} hosts lost (expected ${e.lostHosts})`);
    if (e.notOn) { const m = await this.host(e.notOn); const n = [...v.pods.values()].filter((p) => p.state === 'running' && p.context.host === m.name).length; check(n === 0, `${n} pods running on ${m.name}`); }
    if (e.vms) check(...this.checkVms(v, e.vms));
    if (e.fencedBeforeLost) check(...(await this.checkFenced(await this.host(e.fencedBeforeLost))));
    if (e.spread) { const empty = [...v.hosts.values()].filter((h) => h.state === 'up' && v.usageOf(h.id).pods === 0).map((h) => h.id); check(empty.length === 0, empty.length ? `hosts with no pod: ${empty.join(', ')}` : 'every host up runs pods'); }
    if (e.exactlyOnce) {
      // by event id, as the fold does: one event NATS stored twice is folded once (the first copy), so it is counted, not
      // failed; two placements of one run are two ids for one run and attempt
      const requested = new Map<string, Set<string>>();
      const scheduled = new Map<string, Map<string, Set<string>>>();
      let copies = 0;
      for await (const r of this.s.store.replay()) {
        if (!r.ok || !('pod' in r.event)) continue;
        const ev = r.event;
        if (ev.type === 'pod.requested') {
          const ids = requested.get(ev.pod) ?? new Set<string>();
          if (ids.has(ev.id)) copies++;
          requested.set(ev.pod, ids.add(ev.id));
        }
        if (ev.type === 'pod.scheduled') {
          const k = `${ev.pod}/${ev.data.run}/${ev.data.attempt}`;
          const ids = scheduled.get(k) ?? new Map<string, Set<string>>();
          const hosts = ids.get(ev.id);
          if (hosts) copies++;
          ids.set(ev.id, (hosts ?? new Set<string>()).add(ev.data.host));
          scheduled.set(k, ids);
        }
      }
      const missing = this.submitted.filter((id) => requested.get(id)?.size !== 1);
      const twice = [...scheduled.values()].filter((ids) => ids.size > 1);
      // racing daemons (nats-server #4320 on R3 streams) each stored their choice under the one id: every view keeps the first
      const raced = [...scheduled.values()].filter((ids) => [...ids.values()].some((h) => h.size > 1)).length;
      const why = missing.length ? ` (${await this.whyMissing(missing.filter((id) => !requested.has(id)))}; e.g. ${missing[0]}: ${requested.get(missing[0])?.size ?? 0})` : '';
      const stored = copies ? `; ${copies} events stored twice under one id${raced ? ` (${raced} by racing schedulers choosing different hosts)` : ''}, each folded once` : '';
      this.copies = copies;
      check(missing.length === 0 && twice.length === 0, `${this.submitted.length - missing.length}/${this.submitted.length} pods recorded exactly once, ${twice.length} placements twice${stored}${why}`);
    }
    return said.join('; ');
  }

  /**
   * Pods the whole-stream replay did not find: read each one's own history again (found: that read ended early) and look at
   * the sequence where its submitter saw it accepted (another message there now: NATS lost the one it had acknowledged).
   */
  private async whyMissing(ids: string[]): Promise<string> {
    let reread = 0, replaced = 0, gone = 0;
    const jsm = await jetstreamManager(this.s.store.nc);
    for (const pod of ids) {
      if ((await this.s.store.history({ pod, tenant: this.s.tenant })).some((r) => r.ok && r.event.type === 'pod.requested')) { reread++; continue; }
      const seq = this.acceptedAt.get(pod);
      const there = seq ? await jsm.streams.getMessage(STREAM, { seq }).catch(() => null) : null;
      if (there && !there.subject.endsWith(`.${pod}`)) replaced++;
      else gone++;
    }
    return `of ${ids.length} not found: ${reread} found by reading the pod's own history again (a read ended early), ${replaced} whose sequence, seen accepted, now holds another event (lost by NATS), ${gone} with nothing at that sequence`;
  }
}

// a pod still folded as running on a host already declared lost is awaiting its pod.lost, not running
const running = (v: ClusterView) => [...v.pods.values()].filter((p) => p.state === 'running' && v.hosts.get(p.context.host ?? '')?.state === 'up').length;
const pending = (v: ClusterView) => [...v.pods.values()].filter((p) => p.state === 'pending').length;
const lost = (v: ClusterView) => [...v.hosts.values()].filter((h) => h.state === 'lost').length;

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

export function junit(results: ScenarioResult[]): string {
  const failures = results.filter((r) => !r.ok).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="hyper scenarios" tests="${results.length}" failures="${failures}" time="${results.reduce((a, r) => a + r.seconds, 0).toFixed(1)}">`,
    ...results.map((r) => `  <testcase classname="${esc(r.file)}" name="${esc(r.name)}" time="${r.seconds.toFixed(1)}">${r.ok ? '' : `<failure message="${esc(r.error ?? 'failed')}"/>`}<system-out>${esc(r.steps.map((s) => `+${s.at.toFixed(1)}s ${s.ok ? 'ok' : 'FAIL'} ${s.step} ${s.detail}`).join('\n'))}</system-out></testcase>`),
    '</testsuite>',
  ].join('\n') + '\n';
}
