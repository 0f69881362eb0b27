// `hyper start`, `hyper stop`, `hyper rm`: check the pod's state, publish the intent, and wait for the outcome.
import type { Command } from 'commander';
import { HyperError, ValidationError } from '../../errors.js';
import { podSubject } from '../../events/schemas/subjects.js';
import { TERMINAL, type PodState } from '../../model/pod-machine.js';
import { addressOf } from '../../events/schemas/subjects.js';
import type { PodRecord } from '../../model/cluster-view.js';
import { openSession, type GlobalOptions, type Session } from '../connection.js';
import { publishIntent } from '../intent.js';
import { followToEnd } from '../follow.js';
import { releaseName, renamePod } from '../names.js';
import { podName } from '../../events/schemas/pod-spec.js';
import { signalNumber } from '../signals.js';

type Act = (s: Session, pod: PodRecord) => Promise<number>;

async function eachPod(g: GlobalOptions, refs: string[], act: Act): Promise<number> {
  const s = await openSession(g);
  let code = 0;
  try {
    const view = await s.view();
    for (const ref of refs) {
      try {
        const rc = await act(s, s.resolve(view, ref));
        code ||= rc;
      } catch (err) {
        process.stderr.write(`hyper: ${ref}: ${(err as Error).message}\n`);
        code = 1;
      }
    }
  } finally {
    await s.close();
  }
  return code;
}

export function registerLifecycle(program: Command, globals: () => GlobalOptions): void {
  program
    .command('start <pod...>')
    .description('start created or ended pods; wait until they run (or end)')
    .option('-d, --detach', 'do not wait')
    .action(async (refs: string[], o: { detach?: boolean }) => {
      process.exitCode = await eachPod(globals(), refs, async (s, pod) => {
        if (pod.state !== 'created' && !TERMINAL.has(pod.state)) throw new HyperError('state', `pod ${pod.context.id} is ${pod.state}; only created or ended pods can be started`);
        await publishIntent(s.store, "pod.start.requested", addressOf(pod.context), {});
        if (o.detach) return (process.stdout.write(pod.context.id + '\n'), 0);
        return followToEnd(s.store, pod, pod.seq + 1, { waitForExit: false });
      });
    });

  program
    .command('stop <pod...>')
    .description('stop pods: SIGTERM to their containers, then the VM is shut down after the grace period')
    .option('-t, --time <seconds>', 'grace period before the VM is forced off', '10')
    .action(async (refs: string[], o: { time: string }) => {
      const graceMs = Math.round(Number(o.time) * 1000);
      if (!Number.isFinite(graceMs) || graceMs < 0) throw new HyperError('invalid', `--time: "${o.time}" is not a number of seconds`);
      process.exitCode = await eachPod(globals(), refs, async (s, pod) => {
        if (TERMINAL.has(pod.state) || pod.state === 'created') return (process.stdout.write(pod.context.id + '\n'), 0);
        await publishIntent(s.store, "pod.stop.requested", addressOf(pod.context), { graceMs });
        await followToEnd(s.store, pod, pod.seq + 1, { waitForExit: true, until: ['stopped', 'succeeded', 'failed', 'deleted'] });
        process.stdout.write(pod.context.id + '\n');
        return 0;
      });
    });

  program
    .command('kill <pod...>')
    .description('send a signal to running pods\' containers (default KILL), as docker kill; -c for one container')
    .option('-s, --signal <signal>', 'signal name (KILL, TERM, INT, HUP, USR1, …) or number', 'KILL')
    .option('-c, --container <name>', 'only this container')
    .action(async (refs: string[], o: { signal: string; container?: string }) => {
      const signal = signalNumber(o.signal);
      if (signal === null) throw new ValidationError('kill flags', [{ path: '--signal', message: `"${o.signal}" is not a signal: give a name (KILL, TERM, INT, HUP, USR1, USR2, QUIT, STOP, CONT…) or a number 1-64` }]);
      process.exitCode = await eachPod(globals(), refs, async (s, pod) => {
        const name = pod.context.name ?? pod.context.id;
        if (pod.state !== 'running' && pod.state !== 'starting') throw new HyperError('state', `cannot kill pod ${name}: it is not running (it is ${pod.state})`);
        if (o.container && !pod.context.containers[o.container]) throw new HyperError('state', `pod ${name} has no container ${o.container} (it has ${Object.keys(pod.context.containers).join(', ')})`);
        const accepted = await publishIntent(s.store, 'pod.kill.requested', addressOf(pod.context), { signal, ...(o.container ? { container: o.container } : {}) });
        await waitKilled(s, pod, accepted.id, accepted.seq);
        process.stdout.write(pod.context.id + '\n');
        return 0;
      });
    });

  program
    .command('rename <pod> <name>')
    .description('give a pod a new name (unique among your pods), as docker rename')
    .action(async (ref: string, name: string) => {
      const r = podName.safeParse(name);
      if (!r.success) throw new ValidationError('rename', [{ path: 'name', message: `"${name}": ${r.error.issues[0].message}` }]);
      process.exitCode = await eachPod(globals(), [ref], async (s, pod) => {
        if (pod.state === 'deleted') throw new HyperError('state', `pod ${pod.context.id} is removed: it cannot be renamed`);
        await renamePod(s.store, s.nc, await s.view(), s.tenant, pod, name);
        return 0;
      });
    });

  program
    .command('rm <pod...>')
    .description('remove pods (their history stays in the event log)')
    .option('-f, --force', 'stop running pods first')
    .action(async (refs: string[], o: { force?: boolean }) => {
      process.exitCode = await eachPod(globals(), refs, async (s, pod) => {
        const active = !TERMINAL.has(pod.state) && pod.state !== 'created' && pod.state !== 'pending';
        if (active && !o.force) throw new HyperError('state', `pod ${pod.context.id} is ${pod.state}; stop it first (hyper stop ${pod.context.id}) or use rm -f`);
        await publishIntent(s.store, "pod.delete.requested", addressOf(pod.context), { force: Boolean(o.force) });
        const until: PodState[] = ['deleted'];
        await followToEnd(s.store, pod, pod.seq + 1, { waitForExit: true, until });
        if (pod.context.name) await releaseName(s.nc, s.tenant, pod.context.name, pod.context.id);
        process.stdout.write(pod.context.id + '\n');
        return 0;
      });
    });
}

/** Until the pod's host says it delivered the signal (pod.killed), or the pod ended (nothing left to signal). */
async function waitKilled(s: Session, pod: PodRecord, intent: string, fromSeq: number): Promise<void> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 30_000);
  try {
    for await (const r of s.store.read({ filter: podSubject(addressOf(pod.context)), fromSeq, signal: abort.signal })) {
      if (!r.ok) continue;
      if (r.event.type === 'pod.killed' && r.event.data.intent === intent) return;
      if (r.event.type === 'pod.stopped' || r.event.type === 'vm.exited' || r.event.type === 'pod.lost') return;
    }
    throw new HyperError('timeout', `the kill of pod ${pod.context.name ?? pod.context.id} was accepted, but its host ${pod.context.host} has not delivered it in 30 s: is its hyperd running? (hyper hosts)`);
  } finally {
    clearTimeout(timer);
  }
}
