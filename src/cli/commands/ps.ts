// `hyper ps` and `hyper inspect`: the pod projection, rebuilt from the event log (snapshot + tail).
import type { Command } from 'commander';
import { TERMINAL, type PodState } from '../../model/pod-machine.js';

const HAS_VM: ReadonlySet<PodState> = new Set(['booted', 'starting', 'running', 'stopping']);
import type { PodRecord } from '../../model/cluster-view.js';
import { tenantOf } from '../../events/schemas/subjects.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { ago, printJson, table } from '../format.js';
import { restartPolicyText } from '../../model/pod-context.js';
import { NotFoundError, ValidationError } from '../../errors.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The current run's published ports as docker ps shows them: 0.0.0.0:8080->80/tcp. */
export function portsText(p: PodRecord): string {
  const net = p.context.network;
  if (!net || net.run !== p.context.run || !HAS_VM.has(p.state)) return '';
  return net.ports.map((x) => `${x.hostIp}:${x.hostPort}->${x.containerPort}/${x.protocol}`).join(', ');
}

export function podSummary(p: PodRecord) {
  const c = p.context;
  return {
    id: c.id, tenant: tenantOf(c), name: c.name, state: p.state, host: c.host, vm: c.vm, attached: c.attached, created: c.createdAt, updated: c.updatedAt, run: c.run, reason: c.reason,
    images: c.spec?.containers.map((x) => x.image) ?? [],
    restartPolicy: c.spec ? restartPolicyText(c.spec) : null,
    network: c.network && c.network.run === c.run ? { mode: c.network.mode, ip: c.network.ip, gateway: c.network.gateway, mac: c.network.mac, dns: c.network.dns, ports: c.network.ports } : null,
    containers: Object.fromEntries(
      Object.entries(c.containers).map(([n, s]) => [
        n,
        {
          state: s.state, exitCode: s.exitCode, restarts: s.restarts, startedAt: iso(s.startedAt), finishedAt: iso(s.finishedAt), reason: s.reason,
          // the run before this one, while a restart is under way or once it ended
          lastExit: s.finishedAt !== null && s.exitCode !== null ? { exitCode: s.exitCode, at: iso(s.finishedAt) } : s.lastExit ? { exitCode: s.lastExit.exitCode, at: iso(s.lastExit.at) } : null,
        },
      ]),
    ),
  };
}

export function registerPs(program: Command, globals: () => GlobalOptions): void {
  program
    .command('ps')
    .description('list pods (running and starting; -a for all that are not removed)')
    .option('-a, --all', 'include created and ended pods')
    .option('-q, --quiet', 'only ids')
    .option('--all-tenants', 'every tenant\'s pods, with a TENANT column (admin credentials)')
    .action(async (o: { all?: boolean; quiet?: boolean; allTenants?: boolean }) => {
      const g = globals();
      const s = await openSession(g);
      try {
        if (o.allTenants) s.requireAdmin('hyper ps --all-tenants');
        const view = await s.view();
        const pods = view.livePods(o.allTenants ? undefined : s.tenant).filter((p) => o.all || (!TERMINAL.has(p.state) && p.state !== 'created')).sort((a, b) => b.context.createdAt - a.context.createdAt);
        if (g.output === 'json') return printJson(pods.map(podSummary));
        if (o.quiet) return void process.stdout.write(pods.map((p) => p.context.id + '\n').join(''));
        const rows = pods.map((p) => {
          const exits = Object.values(p.context.containers).map((c) => c.exitCode).filter((x) => x !== null);
          // a VM that runs with no daemon holding it (hyperd stopped and left it running, or has not re-attached yet)
          const detached = HAS_VM.has(p.state) && !p.context.attached ? ' (vm detached)' : '';
          const restarts = Object.values(p.context.containers).reduce((n, c) => n + c.restarts, 0);
          const restarting = Object.values(p.context.containers).some((c) => c.state === 'restarting') ? ', restarting' : '';
          const counted = restarts ? ` (${restarts} restart${restarts === 1 ? '' : 's'}${restarting})` : '';
          const status = p.state === 'succeeded' || p.state === 'failed' ? `${p.state} (${exits.join(',') || p.context.reason})${counted}` : p.state + detached + counted;
          const row = [p.context.id, p.context.name ?? '', p.context.spec?.containers.map((c) => c.image).join(',') ?? '', status, portsText(p), p.context.host ?? '', ago(p.context.createdAt)];
          return o.allTenants ? [tenantOf(p.context), ...row] : row;
        });
        const head = ['POD ID', 'NAME', 'IMAGE', 'STATUS', 'PORTS', 'HOST', 'CREATED'];
        process.stdout.write(table(o.allTenants ? ['TENANT', ...head] : head, rows) + '\n');
      } finally {
        await s.close();
      }
    });

  program
    .command('port <pod> [port]')
    .description('the pod\'s published ports (or where one of its ports is published), as docker port')
    .action(async (ref: string, which: string | undefined) => {
      const g = globals();
      const s = await openSession(g);
      try {
        const p = s.resolve(await s.view(), ref);
        const net = p.context.network && p.context.network.run === p.context.run && HAS_VM.has(p.state) ? p.context.network : null;
        const m = which ? /^(\d+)(?:\/(tcp|udp))?$/.exec(which) : null;
        if (which && !m) throw new ValidationError('port', [{ path: 'port', message: `"${which}" is not PORT or PORT/PROTO, e.g. 80/tcp` }]);
        const ports = (net?.ports ?? []).filter((x) => !m || (x.containerPort === Number(m[1]) && (!m[2] || x.protocol === m[2])));
        if (g.output === 'json') return printJson(ports);
        if (which && !ports.length) throw new NotFoundError('no-port', `pod ${p.context.name ?? p.context.id} publishes no port ${which}${net ? '' : ' (it is not running)'}`);
        process.stdout.write(ports.map((x) => (which ? `${x.hostIp}:${x.hostPort}\n` : `${x.containerPort}/${x.protocol} -> ${x.hostIp}:${x.hostPort}\n`)).join(''));
      } finally {
        await s.close();
      }
    });

  program
    .command('inspect <pod...>')
    .description('the full folded state of pods, as JSON')
    .action(async (refs: string[]) => {
      const s = await openSession(globals());
      try {
        const view = await s.view();
        printJson(refs.map((r) => {
          const p = s.resolve(view, r);
          return { ...podSummary(p), seq: p.seq, spec: p.context.spec, context: p.context };
        }));
      } finally {
        await s.close();
      }
    });
}
