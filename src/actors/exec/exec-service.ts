// Answers `hyper exec`, `attach`, `cp`, `stats` and `top` requests for the pods that run on this daemon's hosts
// (hyper.exec.<host>.<tenant>.<pod>): checks the pod is the subject's tenant's (nats-server vouches for the subject), runs
// here and is running, then hands the session to an ExecSession (a new process: a command, or the agent's tar tools for a
// copy) or an AttachSession (a container's main process) on the pod's guest channel, or answers a probe (stats, top) at
// once. A malformed request gets an error reply, never a crash.
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../../log.js';
import type { EventStore } from '../../events/store/event-store.js';
import type { ClusterView } from '../../model/cluster-view.js';
import { EXEC_PREFIX, tenantOf } from '../../events/schemas/subjects.js';
import { AttachRequest, CopyRequest, EXIT, ExecRequest, ProbeRequest, copyCommand, type AttachReply, type ExecReply, type StatsReply, type TopReply } from '../../exec/protocol.js';
import type { HostActor } from '../host/live.js';
import { emitterFor, linksOf } from '../emit.js';
import { ExecSession } from './exec-session.js';
import { AttachSession } from './attach-session.js';
import { answerProbe } from './probe.js';
import { copyFacts, execFacts } from './session-facts.js';

export interface ExecServiceDeps {
  nc: NatsConnection;
  store: EventStore;
  view: ClusterView;
  hosts: () => HostActor[];
  log: Logger;
  stopping: AbortSignal;
}

export class ExecService {
  private readonly subs: Subscription[] = [];
  private readonly sessions = new Map<string, ExecSession | AttachSession>();

  constructor(private readonly d: ExecServiceDeps) {}

  start(): void {
    for (const h of this.d.hosts()) {
      this.subs.push(this.d.nc.subscribe(`${EXEC_PREFIX}${h.id}.*.*`, { callback: (err, m) => { if (!err) void this.onRequest(h, m); } }));
    }
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    for (const s of [...this.sessions.values()]) s.abort('hyperd is stopping');
  }

  get active(): number {
    return this.sessions.size;
  }

  private async onRequest(host: HostActor, m: Msg): Promise<void> {
    const reply = (r: ExecReply | AttachReply | StatsReply | TopReply): void => void (m.reply && m.respond(JSON.stringify(r)));
    const fail = (error: string, code: number = EXIT.HYPER) => reply({ ok: false, code, error });
    const [, , , tenant, podId] = m.subject.split('.');
    let raw: unknown;
    try {
      raw = JSON.parse(m.string());
    } catch {
      return fail('invalid exec request: not JSON');
    }
    const kind = (raw as { kind?: unknown } | null)?.kind;
    const attach = kind === 'attach';
    const probe = kind === 'stats' || kind === 'top';
    const copy = kind === 'copy';
    const r = attach ? AttachRequest.safeParse(raw) : probe ? ProbeRequest.safeParse(raw) : copy ? CopyRequest.safeParse(raw) : ExecRequest.safeParse(raw);
    if (!r.success) return fail(`invalid ${typeof kind === 'string' ? kind : 'exec'} request: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    const req = r.data;
    // a client that saw the pod start (run -i attaches on container.started) may ask before this daemon folded that fact
    let pod = this.d.view.pods.get(podId);
    for (let i = 0; i < 40 && pod && (pod.state === 'starting' || pod.state === 'booted' || pod.state === 'booting'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      pod = this.d.view.pods.get(podId);
    }
    // another tenant's pod is answered as if it did not exist
    if (!pod || tenantOf(pod.context) !== tenant) return fail(`no pod ${podId} in tenant ${tenant}`);
    const name = pod.context.name ?? podId;
    if (pod.context.host !== host.id) return fail(`pod ${name} does not run on host ${host.id}${pod.context.host ? ` (it is on ${pod.context.host})` : ''}`);
    const what = attach ? 'attach' : probe || copy ? kind : 'exec';
    if (pod.state !== 'running') return fail(`pod ${name} is not running (it is ${pod.state}): ${what} needs a running container — start it with hyper start ${name}`);
    const agent = host.runnerOf(podId)?.execAgent;
    const channel = agent?.guest;
    if (!agent || !channel) return fail(`pod ${name} has no guest agent connected on host ${host.id} right now (hyperd may be re-attaching): try again in a moment`);
    const spec = pod.context.spec!;
    if (probe) {
      const p = req as ProbeRequest;
      if (p.container && !spec.containers.some((x) => x.name === p.container)) return fail(`pod ${name} has no container ${p.container} (it has ${spec.containers.map((x) => x.name).join(', ')})`);
      return reply(await answerProbe(p, channel, name));
    }
    const c = req.container ? spec.containers.find((x) => x.name === req.container) : spec.containers[0];
    if (!c) return fail(`pod ${name} has no container ${req.container} (it has ${spec.containers.map((x) => x.name).join(', ')})`);
    const cstate = pod.context.containers[c.name]?.state;
    // a restarting container takes an attach (its next run gets the session), not an exec
    if (cstate !== 'running' && !(attach && cstate === 'restarting')) return fail(`container ${c.name} of pod ${name} is not running (${cstate ?? 'unknown'})`);
    const sessionId = (req as ExecRequest | AttachRequest | CopyRequest).session;
    const key = `${podId}/${sessionId}`;
    if (this.sessions.has(key)) return fail(`session ${sessionId} is already open on pod ${name}`);
    const at = { pod: podId, tenant: pod.context.tenant };
    if (attach) {
      const a = req as AttachRequest;
      const emit = emitterFor(this.d.store, at, `attach.${a.session}`, a.by, this.d.log, () => linksOf(this.d.view.pods.get(podId)?.context), this.d.stopping);
      const session = new AttachSession(a, { nc: this.d.nc, channel, emit, tenant, container: c.name, stdin: Boolean(c.stdin), log: this.d.log, onEnd: () => this.sessions.delete(key) });
      this.sessions.set(key, session);
      session.start();
      this.d.log.info({ pod: podId, session: a.session, by: a.by }, `attach to ${name}/${c.name} by ${a.by}`);
      return reply({ ok: true, container: c.name, stdin: Boolean(c.stdin), tty: c.tty });
    }
    // a copy is an exec of the agent's tar tools, recorded as a copy
    const cp = copy ? (req as CopyRequest) : null;
    const x: ExecRequest = cp
      ? { session: cp.session, command: copyCommand(cp), env: {}, tty: false, interactive: cp.direction === 'to', by: cp.by }
      : (req as ExecRequest);
    const emit = emitterFor(this.d.store, at, `${cp ? 'copy' : 'exec'}.${x.session}`, x.by, this.d.log, () => linksOf(this.d.view.pods.get(podId)?.context), this.d.stopping);
    const session: ExecSession = new ExecSession(x, {
      nc: this.d.nc, channel, tenant, log: this.d.log,
      facts: cp ? copyFacts(emit, cp, c.name) : execFacts(emit, x, c.name),
      builtin: Boolean(cp),
      container: { name: c.name, image: c.image, command: c.command, args: c.args, env: c.env, workdir: c.workdir, user: c.user, tty: c.tty },
      onEnd: () => {
        agent.removeExec(session);
        this.sessions.delete(key);
      },
    });
    this.sessions.set(key, session);
    agent.addExec(session);
    this.d.log.info({ pod: podId, session: x.session, by: x.by, command: x.command }, cp ? `copy ${cp.direction} ${name}/${c.name}:${cp.path} by ${x.by}` : `exec into ${name}/${c.name} by ${x.by}`);
    reply(await session.start());
  }
}
