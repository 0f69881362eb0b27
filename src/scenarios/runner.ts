// Runs scenario files: brings up a local cluster (`hyper cluster up`, in a scratch data dir), plays each step against it —
// submitting pods as clients do, killing and cutting off hosts and NATS nodes — and checks the folded state; a readable
// timeline, a verdict per scenario, JUnit XML for CI.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, clusterDown, clusterUp, readClusterFile, restartHost, type ClusterFile, type ClusterMember } from '../cluster/local.js';
import { setLink } from '../cluster/netns.js';
import { openSession, type Session } from '../cli/connection.js';
import { publishIntent } from '../cli/intent.js';
import { newPodId } from '../cli/commands/run.js';
import { loadView } from '../events/store/load-view.js';
import { PodSpec } from '../events/schemas/mod.js';
import type { ClusterView } from '../model/cluster-view.js';
import { stepKind, type Scenario, type Step } from './schema.js';
import { isTransient } from '../nats/errors.js';

export interface StepResult { at: number; step: string; ok: boolean; detail: string }
export interface ScenarioResult { file: string; name: string; ok: boolean; seconds: number; steps: StepResult[]; error?: string }

class StepFailed extends Error {}

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
  try {
    const c = sc.cluster;
    await clusterUp({ dataDir, hosts: c.hosts, natsNodes: c.natsNodes, driver: c.driver, hostLease: c.hostLease, cpus: c.cpus, memoryMb: c.memoryMb, progress: () => {} });
    const f = readClusterFile(dataDir)!;
    note(`cluster up: ${c.natsNodes} NATS nodes, ${c.hosts} ${c.driver} hosts`, true, '');
    session = await openSession({ dataDir }, { reconnect: true });
    const ctx = new Ctx(f, session, dataDir);
    for (const s of sc.steps) {
      const [kind] = stepKind(s);
      try {
        note(describe(s), true, await ctx.run(s));
      } catch (err) {
        note(describe(s), false, (err as Error).message);
        if (!(err instanceof StepFailed)) throw err;
        return { file, name: sc.name, ok: false, seconds: (performance.now() - t0) / 1000, steps, error: `${kind}: ${(err as Error).message}` };
      }
    }
    return { file, name: sc.name, ok: true, seconds: (performance.now() - t0) / 1000, steps };
  } catch (err) {
    return { file, name: sc.name, ok: false, seconds: (performance.now() - t0) / 1000, steps, error: (err as Error).message };
  } finally {
    await session?.close().catch(() => {});
    await clusterDown(dataDir, () => {}).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function describe(s: Step): string {
  const [kind, v] = stepKind(s);
  return `${kind} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`;
}

class Ctx {
  private readonly names = new Map<string, string>();
  private submitted: string[] = [];

  constructor(
    private readonly f: ClusterFile,
    private readonly s: Session,
    private readonly dataDir: string,
  ) {}

  /** The folded view; a NATS node lost answers reads with timeouts for a while, so they are asked again. */
  private async view(): Promise<ClusterView> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await loadView(this.s.store, { useSnapshot: false })).view;
      } catch (err) {
        if (attempt >= 30 || !isTransient((err as { cause?: unknown }).cause ?? err)) throw err;
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
      const { pods, restart, prefix } = s.submit;
      const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox' }], restartPolicy: restart, ...(prefix ? { labels: { scenario: prefix } } : {}) });
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
      const m = await this.host(s.restart.host);
      if (alive(m.pid)) process.kill(m.pid, 'SIGKILL');
      m.pid = await restartHost(this.dataDir, m.name);
      return `hyperd on ${m.name} started again (pid ${m.pid})`;
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
    if ('sleep' in s) {
      await new Promise((r) => setTimeout(r, s.sleep));
      return '';
    }
    return this.expect(s.expect);
  }

  /** As a client would through a NATS node loss: the same intent again (same id, so one intent) until a host accepts it. */
  private async submitOne(pod: string, spec: PodSpec): Promise<void> {
    const id = randomUUID();
    for (let attempt = 1; ; attempt++) {
      try {
        await publishIntent(this.s.store, 'pod.requested', { pod, tenant: this.s.tenant }, { spec, start: true }, { id, fromSeq: 1 });
        return;
      } catch (err) {
        if (attempt >= 20 || !isTransient(err)) throw err;
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
    if (e.spread) { const empty = [...v.hosts.values()].filter((h) => h.state === 'up' && v.usageOf(h.id).pods === 0).map((h) => h.id); check(empty.length === 0, empty.length ? `hosts with no pod: ${empty.join(', ')}` : 'every host up runs pods'); }
    if (e.exactlyOnce) {
      const requested = new Map<string, number>();
      const scheduled = new Map<string, number>();
      for await (const r of this.s.store.replay()) {
        if (!r.ok || !('pod' in r.event)) continue;
        if (r.event.type === 'pod.requested') requested.set(r.event.pod, (requested.get(r.event.pod) ?? 0) + 1);
        if (r.event.type === 'pod.scheduled') { const k = `${r.event.pod}/${r.event.data.run}/${r.event.data.attempt}`; scheduled.set(k, (scheduled.get(k) ?? 0) + 1); }
      }
      const missing = this.submitted.filter((id) => requested.get(id) !== 1);
      const twice = [...scheduled].filter(([, n]) => n > 1);
      check(missing.length === 0 && twice.length === 0, `${this.submitted.length - missing.length}/${this.submitted.length} pods recorded exactly once, ${twice.length} placements twice${missing.length ? ` (e.g. ${missing[0]}: ${requested.get(missing[0]) ?? 0})` : ''}`);
    }
    return said.join('; ');
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
