// Runs the host network's short commands (ip, bridge, iptables) from a small helper process. A spawn from hyperd itself
// forks a large Node process and blocks its loop until the child has exec'd (~8-10 ms each, measured in a pod's start);
// the helper's forks block only the helper. One helper per process, started on first use, gone with its parent.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface CommandResult {
  /** The exit code (null: killed by a signal, or never started: see error). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why the command could not be run at all (not found, the helper gone). */
  error?: string;
}

/**
 * The helper: one JSON line per command in ({id, cmd, args, input}), one per result out; it exits when its stdin ends
 * (its parent stopped or died). CommonJS, so it runs with `node -e` wherever hyper is installed or bundled.
 */
const HELPER = `
const { spawn } = require('node:child_process');
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let m;
  try { m = JSON.parse(line); } catch { return; }
  let done = false;
  const reply = (r) => { if (!done) { done = true; process.stdout.write(JSON.stringify({ id: m.id, ...r }) + '\\n'); } };
  const out = [], err = [];
  let p;
  try { p = spawn(m.cmd, m.args, { stdio: ['pipe', 'pipe', 'pipe'] }); } catch (e) { return reply({ code: null, stdout: '', stderr: '', error: e.message }); }
  p.stdout.on('data', (b) => out.push(b));
  p.stderr.on('data', (b) => err.push(b));
  p.on('error', (e) => reply({ code: null, stdout: '', stderr: '', error: e.message }));
  p.on('close', (code) => reply({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  p.stdin.on('error', () => {});
  p.stdin.end(m.input || '');
});
rl.on('close', () => process.exit(0));
`;

export class Spawner {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<number, (r: CommandResult) => void>();
  private nextId = 1;

  /** Runs cmd with args (input written to its stdin) and resolves with how it ended; never rejects. */
  run(cmd: string, args: string[], input?: string): Promise<CommandResult> {
    const child = this.helper();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      // an answer owed keeps this process alive; an idle helper does not
      pipe(child.stdout).ref();
      child.stdin!.write(JSON.stringify({ id, cmd, args, input }) + '\n');
    });
  }

  /** The helper's pid while it runs (tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the helper (its stdin closes); commands asked for after this start a new one. */
  close(): void {
    this.child?.stdin?.end();
    this.child = null;
  }

  private helper(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(process.execPath, ['--input-type=commonjs', '-e', HELPER], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child = child;
    // neither the helper nor its pipes keep this process alive while nothing is asked of it
    child.unref();
    pipe(child.stdout).unref();
    pipe(child.stdin).unref();
    child.stdin!.on('error', () => {});
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let r: CommandResult & { id: number };
      try {
        r = JSON.parse(line);
      } catch {
        return;
      }
      const done = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (!this.pending.size) pipe(child.stdout).unref();
      done?.({ code: r.code, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ...(r.error ? { error: r.error } : {}) });
    });
    const gone = (why: string) => {
      if (this.child === child) this.child = null;
      // what was asked of it is not known to have run: said so, never run twice
      for (const done of this.pending.values()) done({ code: null, stdout: '', stderr: '', error: `hyper's command helper ${why}` });
      this.pending.clear();
    };
    child.once('error', (err) => gone(`could not start: ${err.message}`));
    child.once('exit', (code, signal) => gone(`exited (${signal ?? `code ${code}`}) before answering`));
    return child;
  }
}

/** A child's stdio stream as the socket it is (ref/unref). */
const pipe = (stream: unknown) => stream as { ref(): void; unref(): void };

/** This process's helper, shared by every host network command. */
export const spawner = new Spawner();
