// `hyper run` and `hyper create`: validate the spec, reserve the name, publish pod.requested, then follow the pod to running or exit.
import type { Command } from 'commander';
import { initialPod, foldPod } from '../../model/pod-fold.js';
import { podEvent, type PodEvent, type PodSpec } from '../../events/schemas/mod.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { intentFlags } from '../intent-flags.js';
import { buildSpec, type SpecFlags } from '../spec-input.js';
import { reserveName, releaseName } from '../names.js';
import { cliActor, publishIntent } from '../intent.js';
import { HyperError } from '../../errors.js';
import { followToEnd } from '../follow.js';
import { copyOutput } from '../output.js';
import { openAttach, type AttachHandle } from '../attach-client.js';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../detach-keys.js';
import { addressOf, podSubject } from '../../events/schemas/subjects.js';
import type { PodFold } from '../../model/pod-fold.js';
import { TERMINAL } from '../../model/pod-machine.js';
import type { Session } from '../connection.js';
import { write } from '../stdio.js';
import { newPodId } from '../pod-id.js';

interface RunFlags extends SpecFlags { detach?: boolean; rm?: boolean; detachKeys: string; sigProxy: string }

export function registerRun(program: Command, globals: () => GlobalOptions): void {
  for (const name of ['run', 'create'] as const) {
    const cmd = program
      .command(`${name} [image] [command...]`)
      .description(name === 'run' ? 'create a pod and start it; wait until it exits (with -d, print its id once the intent is recorded)' : 'create a pod without starting it; prints its id')
      .passThroughOptions();
    intentFlags(cmd);
    if (name === 'run') {
      cmd.option('-d, --detach', 'print the pod id once the intent is recorded, without waiting');
      cmd.option('--rm', 'remove the pod when it ends (its history stays in the event log)');
      cmd.option('--detach-keys <keys>', 'with -it: the sequence that detaches, leaving the pod running (docker\'s form)', DEFAULT_DETACH_KEYS);
      cmd.option('--sig-proxy <bool>', 'with -i and no tty: send Ctrl-C and TERM to the container', 'true');
    }
    cmd.action(async (image: string | undefined, command: string[], flags: RunFlags) => {
      const spec = buildSpec(flags, image, command);
      if (flags.rm && flags.detach) throw new HyperError('invalid', '--rm and -d cannot be combined: a detached pod is removed with hyper rm');
      const keys = name === 'run' ? parseDetachKeys(flags.detachKeys) : null;
      const attach = name === 'run' && !flags.detach && spec.containers[0].stdin ? { detachKeys: keys, sigProxy: flags.sigProxy !== 'false' } : null;
      process.exitCode = await createPod(globals(), spec, name === 'run', Boolean(flags.detach) || name === 'create', Boolean(flags.rm), attach);
    });
  }
}

async function createPod(g: GlobalOptions, spec: PodSpec, start: boolean, detach: boolean, rm: boolean, attach: { detachKeys: number[] | null; sigProxy: boolean } | null): Promise<number> {
  const s = await openSession(g);
  let unraw: (() => void) | null = null;
  try {
    const id = newPodId();
    const at = { pod: id, tenant: s.tenant };
    if (spec.name) await reserveName(s.nc, await s.view(), s.tenant, spec.name, id);
    // follow output from the first byte: subscribe before the pod can start
    const output = detach ? null : copyOutput(s.nc, at, s.store.scoped);
    let ack;
    try {
      // the accepting host appends it only to an empty subject, so an id collision cannot merge two pods
      ack = await publishIntent(s.store, 'pod.requested', at, { spec, start });
    } catch (err) {
      if (spec.name) await releaseName(s.nc, s.tenant, spec.name, id);
      throw err;
    }
    if (detach) {
      process.stdout.write(id + '\n');
      return 0;
    }
    const pod = foldPod(initialPod(id), podEvent('pod.requested', id, { spec, start }, { id: 'local', at: Date.now(), by: cliActor(), tenant: s.tenant }));
    // -i: this terminal's stdin goes to the container once it runs (EOF closes the container's); with -t, quietly, as docker
    const main = spec.containers[0];
    // -it: raw from the start, as docker's: what the terminal says before the session is open (the shell's cursor query
    // answered by it) waits in stdin for the container instead of being echoed here in cooked mode
    const rawEarly = Boolean(attach && main.tty && process.stdin.isTTY);
    if (rawEarly) process.stdin.setRawMode(true);
    unraw = rawEarly ? () => process.stdin.setRawMode(false) : null;
    const stdin = attach ? attachWhenStarted(s, pod, ack.seq + 1, main.name, attach).catch((e: Error) => { void write(process.stderr, `hyper: stdin not attached: ${e.message}\n`); return null; }) : null;
    const quiet = Boolean(attach && main.tty && process.stdin.isTTY);
    const ended = followToEnd(s.store, pod, ack.seq + 1, { waitForExit: true, quiet, signalsToContainer: Boolean(attach?.sigProxy) });
    const detached = stdin ? stdin.then((h) => h?.detached.then(() => h) ?? new Promise<never>(() => {})) : new Promise<never>(() => {});
    const first = await Promise.race([ended.then((code) => ({ code })), detached.then((h) => ({ h }))]);
    if ('h' in first) {
      first.h.close();
      await write(process.stderr, `${first.h.tty ? '\r\n' : ''}hyper: detached from ${spec.name ?? id}; it keeps running (hyper attach ${spec.name ?? id} to come back)\r\n`);
      return 0;
    }
    const code = first.code;
    await output?.finish();
    (await stdin)?.close();
    if (rm) {
      const end = await s.store.lastPodSeq(at);
      await publishIntent(s.store, 'pod.delete.requested', at, { force: true });
      // the pod has ended: from its terminal state a delete request goes straight to deleted
      await followToEnd(s.store, { state: 'stopped', context: pod.context }, end + 1, { waitForExit: true, until: ['deleted'], quiet: true });
      if (spec.name) await releaseName(s.nc, s.tenant, spec.name, id);
    }
    return code;
  } finally {
    unraw?.();
    await s.close();
  }
}

/** Opens the pod's stdin session once its container has started (null if the pod ended first). */
async function attachWhenStarted(s: Session, pod: PodFold, fromSeq: number, container: string, o: { detachKeys: number[] | null; sigProxy: boolean }): Promise<AttachHandle | null> {
  let p = pod;
  for await (const r of s.store.read({ filter: podSubject(addressOf(pod.context)), fromSeq })) {
    if (!r.ok) continue;
    p = foldPod(p, r.event as PodEvent);
    const e = r.event as PodEvent;
    if (e.type === 'container.started' && e.data.container === container && p.context.host) {
      return openAttach(s.nc, { host: p.context.host, at: addressOf(p.context), tenant: s.tenant, container, stdin: true, stdinOnce: true, detachKeys: o.detachKeys, sigProxy: o.sigProxy, by: cliActor() });
    }
    if (TERMINAL.has(p.state)) return null;
  }
  return null;
}
