// The exec session protocol between the CLI and the host that runs the pod, over core NATS: the request that opens a
// session, and the messages of its two subjects. Output is flow-controlled end to end: the host forwards the guest's
// bytes as they come and acknowledges them to the guest only when the client acknowledges them, so the guest reads a
// process's pipe no further than a window ahead of the slowest reader, and every byte unacknowledged can be sent again.
import { z } from 'zod';
import { execSession } from '../events/schemas/pod-events.js';
import type { GuestProcessList, GuestStats } from '../drivers/driver.js';

export const ExecRequest = z
  .object({
    session: execSession,
    /** Default: the pod's first container. */
    container: z.string().min(1).max(63).optional(),
    command: z.array(z.string().max(4096)).min(1, 'give a command to run').max(256),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a shell variable name'), z.string().max(32_768)).default({}),
    workdir: z.string().min(1).max(4096).optional(),
    user: z.string().min(1).max(256).optional(),
    tty: z.boolean().default(false),
    /** Keep stdin open for the client (-i); otherwise it is closed at once, as docker's. */
    interactive: z.boolean().default(false),
    rows: z.number().int().min(1).max(10_000).optional(),
    cols: z.number().int().min(1).max(10_000).optional(),
    /** Who asks (as an intent's `by`): recorded in the exec.* facts. */
    by: z.string().min(1).max(200),
  })
  .strict();
export type ExecRequest = z.infer<typeof ExecRequest>;

/**
 * Attaching to a container's main process (`hyper attach`, `hyper run -i`), on the same subject as exec with kind "attach":
 * the session carries stdin, resizes and signals to the container; its output is read from the log stream, as `logs -f`.
 */
export const AttachRequest = z
  .object({
    kind: z.literal('attach'),
    session: execSession,
    container: z.string().min(1).max(63).optional(),
    /** Send this terminal's stdin (the container must have been created with -i to take it). */
    stdin: z.boolean().default(true),
    /** EOF on this client's stdin closes the container's (docker run -i); otherwise the container's stdin stays open. */
    stdinOnce: z.boolean().default(false),
    rows: z.number().int().min(1).max(10_000).optional(),
    cols: z.number().int().min(1).max(10_000).optional(),
    by: z.string().min(1).max(200),
  })
  .strict();
export type AttachRequest = z.infer<typeof AttachRequest>;
export type AttachReply = { ok: true; container: string; stdin: boolean; tty: boolean } | { ok: false; code: number; error: string };

/**
 * Copying files out of a container (`hyper cp POD:PATH …`, direction "from": the session's stdout is a tar stream of PATH)
 * or into it (`hyper cp … POD:PATH`, "to": its stdin is one, extracted into PATH or as PATH, docker cp's rule). The host
 * runs the agent's built-in tar tools in the container, so images without tar work too; the session is an exec's otherwise.
 */
export const CopyRequest = z
  .object({
    kind: z.literal('copy'),
    session: execSession,
    container: z.string().min(1).max(63).optional(),
    direction: z.enum(['from', 'to']),
    path: z.string().min(1).max(4096).refine((p) => p.startsWith('/'), 'must be an absolute path in the container'),
    by: z.string().min(1).max(200),
  })
  .strict();
export type CopyRequest = z.infer<typeof CopyRequest>;

/** The built-in tool's command line for a copy: tar-out DIR NAME (NAME "." for a path ending in "/."), or tar-in DEST. */
export function copyCommand(c: Pick<CopyRequest, 'direction' | 'path'>): string[] {
  if (c.direction === 'to') return ['tar-in', c.path];
  const p = c.path.replace(/\/+$/, '') || '/';
  if (p === '/' || p.endsWith('/.')) return ['tar-out', p === '/' ? '/' : p.slice(0, -2) || '/', '.'];
  const cut = p.lastIndexOf('/');
  return ['tar-out', p.slice(0, cut) || '/', p.slice(cut + 1)];
}

/**
 * A read of what a pod uses (`hyper stats`, kind "stats") or runs (`hyper top`, kind "top", optionally of one container), on
 * the same subject as exec: answered at once from the guest, with no session and no fact.
 */
export const ProbeRequest = z
  .object({
    kind: z.enum(['stats', 'top']),
    container: z.string().min(1).max(63).optional(),
    by: z.string().min(1).max(200),
  })
  .strict();
export type ProbeRequest = z.infer<typeof ProbeRequest>;
export type StatsReply = { ok: true; stats: GuestStats } | { ok: false; code: number; error: string };
export type TopReply = { ok: true; list: GuestProcessList } | { ok: false; code: number; error: string };

/** docker's exit codes for an exec that could not run: its own error, a command that cannot be run, a command not found. */
export const EXIT = { HYPER: 125, CANNOT_RUN: 126, NOT_FOUND: 127 } as const;

export type ExecReply = { ok: true; pid: number; container: string } | { ok: false; code: number; error: string };

/** Header naming what a session message is; the others carry a stream, an offset. */
export const H = { KIND: 'Hyper-Kind', STREAM: 'Hyper-Stream', OFFSET: 'Hyper-Offset' } as const;

/** Host → client (on .out): `out` (payload: bytes), `exit` (payload: ExitMessage). */
export const ExitMessage = z.object({ exitCode: z.number().int().min(0).max(255), out: z.number().int().nonnegative(), err: z.number().int().nonnegative(), reason: z.string().optional() }).strict();
export type ExitMessage = z.infer<typeof ExitMessage>;

/** Client → host (on .in): `stdin` and `eof` and `ping` are requests (answered once done); the others are plain messages; `detach` ends an attach session. */
export const Control = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ack'), out: z.number().int().nonnegative(), err: z.number().int().nonnegative() }).strict(),
  z.object({ kind: z.literal('resend'), stream: z.union([z.literal(1), z.literal(2)]), from: z.number().int().nonnegative() }).strict(),
  z.object({ kind: z.literal('resize'), rows: z.number().int().min(1).max(10_000), cols: z.number().int().min(1).max(10_000) }).strict(),
  z.object({ kind: z.literal('signal'), signal: z.number().int().min(1).max(64) }).strict(),
]);
export type Control = z.infer<typeof Control>;

/** The guest's name for an exec'd process: never a container's (container names are DNS labels, without dots). */
export const execProcess = (session: string) => `exec.${session}`;
export const isExecProcess = (name: string) => name.startsWith('exec.');
/** The client acknowledges at least this often (bytes): well inside the guest's 256 KiB window per stream. */
export const ACK_EVERY = 64 * 1024;
/** A session whose client has sent nothing (pings included) for this long is over: its process is killed. */
export const CLIENT_SILENCE_MS = 30_000;
export const PING_EVERY_MS = 5_000;
