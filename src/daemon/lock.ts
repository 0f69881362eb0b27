// One daemon per data dir: an flock(2) on DATA_DIR/hyperd.lock that the kernel releases when its holder dies, held by a
// tiny flock(1) child whose stdin is a pipe from this process (Node has no flock of its own).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HyperError } from '../errors.js';

/** Exit code flock(1) uses here for "someone else holds it" (-E). */
const BUSY = 75;

export interface DataDirLock { path: string; release(): void }

export class LockedError extends HyperError {}

/**
 * Takes the data dir's lock or fails at once naming the holder's pid. The child `flock -n -o LOCK cat` holds the lock
 * (-o: its `cat` does not inherit the locked fd); `cat` exits when this process dies and its stdin pipe closes, and
 * flock with it, so the kernel drops the lock however hyperd ends — kill -9 included.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'hyperd.lock');
  // the shell prints a line once flock holds the lock, then becomes cat (exec): one child, one pipe
  const child: ChildProcess = spawn('flock', ['-n', '-o', '-E', String(BUSY), path, 'sh', '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const outcome = await new Promise<'locked' | { code: number | null; error?: Error; stderr: string }>((resolve) => {
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout!.once('data', () => resolve('locked'));
    child.once('error', (error) => resolve({ code: null, error, stderr }));
    child.once('exit', (code) => resolve({ code, stderr }));
  });
  if (outcome !== 'locked') {
    if (outcome.error) throw new HyperError('lock', `could not lock ${path}: ${outcome.error.message} — flock is part of util-linux: apt-get install util-linux`);
    if (outcome.code === BUSY) {
      let holder = '';
      try {
        holder = readFileSync(path, 'utf8').trim();
      } catch {}
      throw new LockedError('locked', `another hyperd${holder ? ` (pid ${holder})` : ''} is already running on ${dataDir} — one daemon per data dir: stop it first${holder ? ` (kill ${holder})` : ''}, or give this one its own --data-dir`);
    }
    throw new HyperError('lock', `could not lock ${path}: flock exited with ${outcome.code}: ${outcome.stderr.trim()}`);
  }
  // the child must not keep this process alive, and must not die with a closed pipe on its stdout
  child.stdout!.removeAllListeners().resume();
  child.stderr!.removeAllListeners().resume();
  for (const s of [child.stdin!, child.stdout!, child.stderr!]) (s as unknown as { unref?: () => void }).unref?.();
  child.unref();
  writeFileSync(path, `${process.pid}\n`);
  return {
    path,
    release() {
      child.stdin!.end();
      child.kill();
    },
  };
}
