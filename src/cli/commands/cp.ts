// `hyper cp POD:PATH DEST` and `hyper cp SRC POD:PATH`: files and directories out of or into a running pod's container, as
// docker cp. The tar stream is made and read in the guest by the agent's own tools (nothing is needed in the image) and
// here by the system's tar; "-" on the local side is the raw tar stream on stdout or stdin.
import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import type { Command } from 'commander';
import { addressOf } from '../../events/schemas/subjects.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { copyPlan, wantsContents, type CopyPlan } from '../copy-paths.js';
import { ExecError, execSession } from '../exec-client.js';
import { Collect, reportExecError } from '../session-io.js';
import { cliActor } from '../intent.js';
import type { PodRecord } from '../../model/cluster-view.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { hostProblem } from '../pod-host.js';

const exists = (p: string) => { try { lstatSync(p); return true; } catch { return false; } };
const isDir = (p: string) => { try { return statSync(p).isDirectory(); } catch { return false; } };

function size(n: number): string {
  return n < 1000 ? `${n}B` : n < 1e6 ? `${(n / 1e3).toFixed(2)}kB` : n < 1e9 ? `${(n / 1e6).toFixed(1)}MB` : `${(n / 1e9).toFixed(2)}GB`;
}


/** Runs a local tar with the stream on one side; resolves with its exit code and what it said on stderr. */
function localTar(args: string[], stdio: 'in' | 'out'): { proc: ReturnType<typeof spawn>; done: Promise<{ code: number; stderr: string }> } {
  const proc = spawn('tar', args, { stdio: [stdio === 'in' ? 'pipe' : 'ignore', stdio === 'out' ? 'pipe' : 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<{ code: number; stderr: string }>((ok, fail) => {
    proc.on('error', (e) => fail(new ExecError(`cannot run tar on this machine (${e.message}): install it (apt-get install tar)`, 1)));
    proc.on('close', (code) => ok({ code: code ?? 1, stderr: stderr.trim() }));
  });
  return { proc, done };
}

function counted(into: Writable, onBytes: (n: number) => void): PassThrough {
  const p = new PassThrough();
  p.on('data', (b: Buffer) => onBytes(b.length));
  p.pipe(into);
  return p;
}

async function session(nc: NatsConnection, pod: PodRecord, tenant: string, plan: CopyPlan, container: string | undefined, io: { stdout?: Writable; stdin?: NodeJS.ReadableStream; stderr: Writable }) {
  return execSession(nc, {
    host: pod.context.host!, at: addressOf(pod.context), tenant,
    request: { kind: 'copy', container, direction: plan.direction, path: plan.path, by: cliActor() },
    ...io,
  });
}

/** Out of the pod: the guest's tar-out into a local tar -x, in place (DEST a directory) or as DEST (via a temporary sibling). */
async function copyFrom(nc: NatsConnection, pod: PodRecord, tenant: string, plan: CopyPlan, container?: string): Promise<void> {
  const where = `${pod.context.name ?? pod.context.id}:${plan.path}`;
  const guestErr = new Collect();
  if (plan.local === '-') {
    const code = await session(nc, pod, tenant, plan, container, { stdout: process.stdout, stderr: guestErr });
    if (code !== 0) throw new ExecError(`copying ${where}: ${guestErr.text.trim() || `exit code ${code}`}`, 1);
    return;
  }
  const dest = resolve(plan.local);
  const into = isDir(dest);
  if (!into && !isDir(dirname(dest))) throw new ExecError(`copying to ${plan.local}: no such directory ${dirname(dest)}`, 1);
  const target = into ? dest : mkdtempSync(join(dirname(dest), '.hyper-cp-'));
  let bytes = 0;
  try {
    const tar = localTar(['-x', '--no-same-owner', '-C', target, '-f', '-'], 'in');
    const stdout = counted(tar.proc.stdin!, (n) => (bytes += n));
    const code = await session(nc, pod, tenant, plan, container, { stdout, stderr: guestErr });
    stdout.end();
    const t = await tar.done;
    if (code === 2 || (code !== 0 && !guestErr.text)) throw new ExecError(`copying ${where}: ${guestErr.text.trim() || `exit code ${code}`}`, 1);
    if (t.code !== 0) throw new ExecError(`copying ${where}: the local tar failed: ${t.stderr}`, 1);
    if (!into) {
      // the stream's top entry (or, for "PATH/.", the contents) becomes DEST
      const top = wantsContents(plan.path) || plan.path === '/' ? target : join(target, readdirSync(target)[0] ?? '');
      if (exists(dest) && isDir(top)) throw new ExecError(`cannot copy the directory ${where} over the file ${plan.local}`, 1);
      if (top === target) renameSync(target, dest);
      else renameSync(top, dest);
    }
    if (code === 1) {
      process.stderr.write(guestErr.text);
      throw new ExecError(`copying ${where}: some entries were skipped (above)`, 1);
    }
    process.stderr.write(`Successfully copied ${size(bytes)} to ${plan.local}\n`);
  } finally {
    if (!into) rmSync(target, { recursive: true, force: true });
  }
}

/** Into the pod: a local tar -c (or this stdin, for "-") into the guest's tar-in, which applies docker's rule for DEST. */
async function copyTo(nc: NatsConnection, pod: PodRecord, tenant: string, plan: CopyPlan, container?: string): Promise<void> {
  const where = `${pod.context.name ?? pod.context.id}:${plan.path}`;
  const guestErr = new Collect();
  let tar: ReturnType<typeof localTar> | null = null;
  let stdin: NodeJS.ReadableStream = process.stdin;
  if (plan.local !== '-') {
    const src = resolve(plan.local);
    if (!exists(src)) throw new ExecError(`copying ${plan.local}: no such file or directory`, 1);
    const args = wantsContents(plan.local) ? ['-C', src, '.'] : ['-C', dirname(src), basename(src)];
    tar = localTar(['-c', '--format=pax', '-f', '-', ...args], 'out');
    stdin = tar.proc.stdout!;
  }
  let bytes = 0;
  const input = new PassThrough();
  stdin.on('data', (b: Buffer) => (bytes += b.length));
  stdin.pipe(input);
  const code = await session(nc, pod, tenant, plan, container, { stdin: input, stderr: guestErr });
  const t = tar ? await tar.done : { code: 0, stderr: '' };
  if (t.code !== 0) throw new ExecError(`copying ${plan.local}: the local tar failed: ${t.stderr}`, 1);
  if (code !== 0) {
    if (code === 1) process.stderr.write(guestErr.text);
    throw new ExecError(`copying to ${where}: ${code === 1 ? 'some entries were skipped (above)' : guestErr.text.trim() || `exit code ${code}`}`, 1);
  }
  if (plan.local !== '-') process.stderr.write(`Successfully copied ${size(bytes)} to ${where}\n`);
}

export function registerCp(program: Command, globals: () => GlobalOptions): void {
  program
    .command('cp <src> <dest>')
    .description('copy files between a running pod and this machine, as docker cp: hyper cp POD:PATH DEST, hyper cp SRC POD:PATH (- is a tar stream)')
    .option('-c, --container <name>', 'the pod\'s container (default: its first)')
    .action(async (src: string, dest: string, o: { container?: string }) => {
      const plan = copyPlan(src, dest);
      const s = await openSession(globals());
      try {
        const view = await s.view();
        const pod = s.resolve(view, plan.pod);
        const name = pod.context.name ?? pod.context.id;
        if (pod.state !== 'running' || !pod.context.host) throw new ExecError(`pod ${name} is not running (it is ${pod.state}): cp needs a running container — start it with hyper start ${name}`, 1);
        const gone = hostProblem(view, pod, 'copy');
        if (gone) throw new ExecError(gone, 1);
        await (plan.direction === 'from' ? copyFrom : copyTo)(s.nc, pod, s.tenant, plan, o.container);
      } catch (err) {
        reportExecError(err, 1);
      } finally {
        await s.close();
      }
    });
}
