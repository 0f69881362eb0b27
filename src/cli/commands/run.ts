// `hyper run` and `hyper create`: validate the spec, reserve the name, publish pod.requested, then follow the pod to running or exit.
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { initialPod, foldPod } from '../../model/pod-fold.js';
import { podEvent, type PodSpec } from '../../events/schemas/mod.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { intentFlags } from '../intent-flags.js';
import { buildSpec, type SpecFlags } from '../spec-input.js';
import { reserveName, releaseName } from '../names.js';
import { cliActor, publishIntent } from '../intent.js';
import { HyperError } from '../../errors.js';
import { followToEnd } from '../follow.js';
import { copyOutput } from '../output.js';

export function newPodId(): string {
  return randomBytes(6).toString('hex');
}

interface RunFlags extends SpecFlags { detach?: boolean; rm?: boolean }

export function registerRun(program: Command, globals: () => GlobalOptions): void {
  for (const name of ['run', 'create'] as const) {
    const cmd = program
      .command(`${name} [image] [command...]`)
      .description(name === 'run' ? 'create a pod and start it; wait until it exits (or is running, with -d)' : 'create a pod without starting it; prints its id')
      .passThroughOptions();
    intentFlags(cmd);
    if (name === 'run') {
      cmd.option('-d, --detach', 'print the pod id once the intent is recorded, without waiting');
      cmd.option('--rm', 'remove the pod when it ends (its history stays in the event log)');
    }
    cmd.action(async (image: string | undefined, command: string[], flags: RunFlags) => {
      const spec = buildSpec(flags, image, command);
      if (flags.rm && flags.detach) throw new HyperError('invalid', '--rm and -d cannot be combined: a detached pod is removed with hyper rm');
      process.exitCode = await createPod(globals(), spec, name === 'run', Boolean(flags.detach) || name === 'create', Boolean(flags.rm));
    });
  }
}

async function createPod(g: GlobalOptions, spec: PodSpec, start: boolean, detach: boolean, rm = false): Promise<number> {
  const s = await openSession(g);
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
    const code = await followToEnd(s.store, pod, ack.seq + 1, { waitForExit: true });
    await output?.finish();
    if (rm) {
      const end = await s.store.lastPodSeq(at);
      await publishIntent(s.store, 'pod.delete.requested', at, { force: true });
      // the pod has ended: from its terminal state a delete request goes straight to deleted
      await followToEnd(s.store, { state: 'stopped', context: pod.context }, end + 1, { waitForExit: true, until: ['deleted'], quiet: true });
      if (spec.name) await releaseName(s.nc, s.tenant, spec.name, id);
    }
    return code;
  } finally {
    await s.close();
  }
}
