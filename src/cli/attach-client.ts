// The client side of an attach session: this terminal's stdin, window size and signals to a container's main process,
// through the host that runs it; docker's detach keys end the session and leave the container running. Output is read
// by the caller from the log stream (where every byte of a container's output is stored anyway).
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { sessionSubject, type PodAddress } from '../events/schemas/subjects.js';
import type { AttachReply } from '../exec/protocol.js';
import { DetachMatcher } from './detach-keys.js';
import { write } from './stdio.js';
import { askHost, controlSender, pinger, pumpStdin, reportStdin, terminal, windowOf, type Control } from './session-io.js';

export interface AttachOptions {
  host: string;
  at: PodAddress;
  tenant: string;
  container?: string;
  /** Carry this terminal's stdin (if the container keeps its stdin open). */
  stdin: boolean;
  /** EOF here closes the container's stdin (run -i). */
  stdinOnce: boolean;
  /** The detach sequence, or null for none. Applies on a terminal, as docker's. */
  detachKeys: number[] | null;
  /** Forward Ctrl-C and TERM to the container when there is no tty (docker's --sig-proxy). */
  sigProxy: boolean;
  by: string;
  input?: NodeJS.ReadableStream;
  stdout?: Writable;
  stderr?: Writable;
  /** The terminal is the Docker API's connection: no raw mode or signal handlers here; the container's tty is the session's. */
  remote?: { rows?: number; cols?: number };
}

export interface AttachHandle {
  container: string;
  /** Raw mode is on: the container has a tty and so does this terminal. */
  tty: boolean;
  /** Resolves when the user typed the detach keys. */
  detached: Promise<void>;
  /** Sends resizes and signals to the session. */
  control: Control;
  /** Ends the session: the host is told, this terminal restored. */
  close(): void;
}

export async function openAttach(nc: NatsConnection, o: AttachOptions): Promise<AttachHandle> {
  const session = randomBytes(12).toString('base64url');
  const input = o.input ?? process.stdin;
  const out = o.stdout ?? process.stdout;
  const err = o.stderr ?? process.stderr;
  const inSubject = sessionSubject(o.tenant, session, 'in');
  const control = controlSender(nc, inSubject);
  const reply = await askHost<Extract<AttachReply, { ok: true }>>(nc, o.host, o.at, {
    kind: 'attach', session, container: o.container, stdin: o.stdin, stdinOnce: o.stdinOnce, by: o.by, ...(o.remote ?? windowOf(out)),
  });
  const tty = reply.tty && (o.remote ? true : (input as NodeJS.ReadStream).isTTY === true);
  const restore = !o.remote && (tty || o.sigProxy) ? terminal(input, out, control, tty) : () => {};
  const stopPinger = pinger(nc, inSubject, (why) => void write(err, `hyper: ${why}\n`), o.host);
  let onDetach = () => {};
  const detached = new Promise<void>((r) => (onDetach = r));
  if (o.stdin && reply.stdin) {
    const matcher = tty && o.detachKeys ? new DetachMatcher(o.detachKeys) : null;
    const filter = matcher ? (b: Buffer) => {
      const r = matcher.push(b);
      if (r.stop) onDetach();
      return r;
    } : undefined;
    pumpStdin(nc, inSubject, input, filter).catch(reportStdin(err, 'attach'));
  }
  let closed = false;
  return {
    container: reply.container,
    tty,
    detached,
    control,
    close() {
      if (closed) return;
      closed = true;
      control('detach');
      stopPinger();
      restore();
      (input as NodeJS.ReadStream).pause?.();
    },
  };
}
