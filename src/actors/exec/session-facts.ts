// What an exec session records in the pod's log: exec.* for a command someone ran, copy.* for hyper cp (which runs the
// agent's tar tools): who, what, and how it ended, so the audit log says who entered a pod and what they did there.
import type { CopyRequest, ExecRequest } from '../../exec/protocol.js';
import type { Emit } from '../emit.js';

export interface SessionFacts {
  started(pid: number): void;
  failed(reason: string): void;
  exited(exitCode: number, reason?: string): void;
}

export function execFacts(emit: Emit, req: ExecRequest, container: string): SessionFacts {
  const { session, command, tty } = req;
  return {
    started: (pid) => void emit('exec.started', { session, container, command, tty, pid }, 'started'),
    failed: (reason) => void emit('exec.failed', { session, container, command, reason: reason.slice(0, 4000) }, 'failed'),
    exited: (exitCode, reason) => void emit('exec.exited', { session, exitCode, ...(reason ? { reason } : {}) }, 'exited'),
  };
}

export function copyFacts(emit: Emit, req: CopyRequest, container: string): SessionFacts {
  const { session, direction, path } = req;
  return {
    started: (pid) => void emit('copy.started', { session, container, direction, path, pid }, 'started'),
    failed: (reason) => void emit('copy.failed', { session, container, direction, path, reason: reason.slice(0, 4000) }, 'failed'),
    exited: (exitCode, reason) => void emit('copy.ended', { session, exitCode, ...(reason ? { reason: reason.slice(0, 4000) } : {}) }, 'ended'),
  };
}
