// Follows a pod after an intent, prints progress on stderr, and turns the outcome into the CLI's exit code.
import type { PodFold } from '../model/pod-fold.js';
import type { PodState } from '../model/pod-machine.js';
import type { EventStore } from '../events/store/event-store.js';
import { watchPod } from './watch.js';

const ENDED: PodState[] = ['stopped', 'succeeded', 'failed', 'deleted'];

/** Exit code of a finished pod: its first non-zero container exit, 0 if all succeeded, 125 when the pod failed before its containers ran. */
export function exitCodeOf(pod: PodFold): number {
  if (pod.state === 'succeeded') return 0;
  const codes = Object.values(pod.context.containers).map((c) => c.exitCode).filter((c): c is number => c !== null);
  const bad = codes.find((c) => c !== 0);
  if (bad !== undefined) return bad;
  return pod.state === 'failed' ? 125 : 0;
}

/** `signalsToContainer`: Ctrl-C is the container's (an attached -i session forwards it), not this command's to act on. */
export async function followToEnd(store: EventStore, pod: PodFold, fromSeq: number, o: { waitForExit: boolean; until?: PodState[]; quiet?: boolean; signalsToContainer?: boolean }): Promise<number> {
  const until = new Set<PodState>(o.until ?? (o.waitForExit ? ENDED : ['running', ...ENDED]));
  const id = pod.context.id;
  const quiet = o.quiet || process.env.HYPER_QUIET === '1';
  const onInt = () => {
    process.stderr.write(`\npod ${id} keeps going; stop it with: hyper stop ${id}\n`);
    process.exit(130);
  };
  if (!o.signalsToContainer) process.once('SIGINT', onInt);
  try {
    const end = await watchPod({
      store, pod, fromSeq, until,
      onProgress: (line) => { if (!quiet) process.stderr.write(`${id}: ${line}\n`); },
    });
    // a container's own non-zero exit says it all (its code is ours); anything else that failed the pod is explained
    if (end.state === 'failed' && (end.context.reason || exitCodeOf(end) === 125)) process.stderr.write(`hyper: pod ${id} failed: ${end.context.reason ?? 'no reason recorded'}\n`);
    if (end.state === 'running' && !o.waitForExit) process.stdout.write(id + '\n');
    return exitCodeOf(end);
  } finally {
    process.off('SIGINT', onInt);
  }
}
