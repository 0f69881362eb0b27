// `hyper attach POD [-c C]`: this terminal on a running container's main process, as docker attach: its output from now
// on (read from the log stream), your input if it was created with -i, Ctrl-P Ctrl-Q to detach; ends with its exit code.
import type { Command } from 'commander';
import { HyperError } from '../../errors.js';
import { addressOf, podSubject, type PodAddress } from '../../events/schemas/subjects.js';
import type { PodEvent } from '../../events/schemas/mod.js';
import { lastLogSeq, readLogs } from '../../events/store/logs.js';
import { foldPod, type PodFold } from '../../model/pod-fold.js';
import { TERMINAL } from '../../model/pod-machine.js';
import type { ClusterView, PodRecord } from '../../model/cluster-view.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { openSession, type GlobalOptions, type Session } from '../connection.js';
import { openAttach } from '../attach-client.js';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../detach-keys.js';
import { exitCodeOf } from '../follow.js';
import { cliActor } from '../intent.js';
import { ExecError } from '../session-io.js';
import { write } from '../stdio.js';
import { hostProblem } from '../pod-host.js';

interface AttachFlags { container?: string; stdin: boolean; sigProxy: string; detachKeys: string }

export function registerAttach(program: Command, globals: () => GlobalOptions): void {
  program
    .command('attach <pod>')
    .description('connect this terminal to a running container\'s main process: its output, your input (if created with -i); Ctrl-P Ctrl-Q detaches')
    .option('-c, --container <name>', 'the container (default: the pod\'s first)')
    .option('--no-stdin', 'do not send this terminal\'s input')
    .option('--sig-proxy <bool>', 'without a tty, send Ctrl-C and TERM to the container', 'true')
    .option('--detach-keys <keys>', 'the sequence that detaches (docker\'s form)', DEFAULT_DETACH_KEYS)
    .action(async (ref: string, o: AttachFlags) => {
      const detachKeys = parseDetachKeys(o.detachKeys);
      const s = await openSession(globals());
      try {
        const view = await s.view();
        const pod = s.resolve(view, ref);
        process.exitCode = await attach(s, view, pod, { container: o.container, stdin: o.stdin, sigProxy: o.sigProxy !== 'false', detachKeys });
      } catch (err) {
        if (!(err instanceof ExecError)) throw err;
        process.stderr.write(`hyper: ${err.message}\n`);
        process.exitCode = err.exitCode;
      } finally {
        await s.close();
      }
    });
}

async function attach(s: Session, view: ClusterView, pod: PodRecord, o: { container?: string; stdin: boolean; sigProxy: boolean; detachKeys: number[] }): Promise<number> {
  const name = pod.context.name ?? pod.context.id;
  if (pod.state !== 'running' || !pod.context.host) throw new HyperError('attach', `pod ${name} is not running (it is ${pod.state}): you cannot attach to it — start it with hyper start ${name}`);
  const gone = hostProblem(view, pod, 'attach');
  if (gone) throw new HyperError('attach', gone);
  const container = o.container ?? pod.context.spec!.containers[0].name;
  if (!(container in pod.context.containers)) throw new HyperError('attach', `pod ${name} has no container ${container} (it has ${Object.keys(pod.context.containers).join(', ')})`);
  const at = addressOf(pod.context);
  // output from here on: what is stored now was before this attach
  const output = followOutput(s.nc, at, container, await lastLogSeq(s.nc, at, container), s.store.scoped);
  const handle = await openAttach(s.nc, { host: pod.context.host, at, tenant: s.tenant, container, stdin: o.stdin, stdinOnce: false, detachKeys: o.detachKeys, sigProxy: o.sigProxy, by: cliActor() });
  const ends = new AbortController();
  try {
    const end = await Promise.race([containerEnd(s, pod, container, ends.signal), handle.detached.then(() => null)]);
    if (end === null) {
      await write(process.stderr, `${handle.tty ? '\r\n' : ''}hyper: detached from ${name}; it keeps running (hyper attach ${name} to come back)\r\n`);
      return 0;
    }
    // the container's output is stored before its exit is: all of it is there to read now
    await output.drain(await lastLogSeq(s.nc, at, container));
    return end;
  } finally {
    ends.abort();
    output.stop();
    handle.close();
  }
}

/** The exit code of the container's current run once it exits, or of the pod if it ends first. */
async function containerEnd(s: Session, pod: PodRecord, container: string, signal: AbortSignal): Promise<number | null> {
  let p: PodFold = pod;
  for await (const r of s.store.read({ filter: podSubject(addressOf(pod.context)), fromSeq: pod.seq + 1, signal })) {
    if (!r.ok) continue;
    const e = r.event as PodEvent;
    p = foldPod(p, e);
    if (e.type === 'container.exited' && e.data.container === container) return e.data.exitCode;
    if (TERMINAL.has(p.state)) return exitCodeOf(p);
  }
  return null;
}

/** Copies a container's output after `afterSeq` to this terminal until stopped; `drain` waits until a sequence is written. */
function followOutput(nc: NatsConnection, at: PodAddress, container: string, afterSeq: number, scoped: boolean) {
  const abort = new AbortController();
  let written = afterSeq;
  const waiters: { seq: number; resolve: () => void }[] = [];
  const done = (async () => {
    for await (const c of readLogs(nc, at, { follow: true, signal: abort.signal, scoped, container, fromSeq: afterSeq + 1 })) {
      await write(c.stream === 2 ? process.stderr : process.stdout, c.data);
      written = c.seq;
      for (const w of waiters.splice(0)) if (written >= w.seq) w.resolve(); else waiters.push(w);
    }
  })().catch(() => {});
  return {
    drain: (seq: number) => (written >= seq ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ seq, resolve }))),
    stop: () => {
      abort.abort();
      void done;
    },
  };
}
