// Copies a pod's container output from NATS to this terminal while a command waits on the pod.
import type { NatsConnection } from '@nats-io/transport-node';
import { readLogs } from '../events/store/logs.js';
import type { PodAddress } from '../events/schemas/subjects.js';
import { write } from './stdio.js';

export interface OutputCopy {
  /** Waits until output has been quiet for `idleMs` (chunks may trail the exit event), then stops. */
  finish(idleMs?: number): Promise<void>;
}

export function copyOutput(nc: NatsConnection, at: PodAddress, scoped: boolean): OutputCopy {
  const abort = new AbortController();
  let lastChunk = Date.now();
  const done = (async () => {
    for await (const chunk of readLogs(nc, at, { follow: true, signal: abort.signal, scoped })) {
      lastChunk = Date.now();
      await write(chunk.stream === 2 ? process.stderr : process.stdout, chunk.data);
    }
  })().catch(() => {});
  return {
    async finish(idleMs = 250) {
      while (Date.now() - lastChunk < idleMs) await new Promise((r) => setTimeout(r, idleMs / 5));
      abort.abort();
      await done;
    },
  };
}
