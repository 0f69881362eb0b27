// Test harness: runs the built `hyper` CLI and `hyperd` daemon as real processes (build first: npm run build).
import { networkFor } from '../../src/net/ipam.js';
import { removeHostNetwork } from '../../src/net/host-network.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa, type Result } from 'execa';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** What users run (package.json bin): the bundled CLI behind its launcher. */
export const CLI = `${root}bin/hyper.cjs`;
export const HYPERD = `${root}dist/src/daemon/main.js`;

function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing — run: npm run build`);
}

export async function hyper(args: string[], env: Record<string, string> = {}, input?: string, timeoutMs = 60_000): Promise<Result> {
  requireBuild();
  return execa('node', [CLI, ...args], { env: { HYPER_LOG_FORMAT: 'json', ...env }, reject: false, input, timeout: timeoutMs });
}

export interface DaemonProc { proc: ChildProcess; log: () => string; ready: Promise<Record<string, unknown>>; stop(signal?: NodeJS.Signals): Promise<number | null> }

/** A QEMU daemon gets a bridge and subnet of its own (from its data dir), so daemons of tests side by side never share one. */
export function withOwnNetwork(args: string[]): string[] {
  const qemu = args[args.indexOf('--driver') + 1] === 'qemu';
  if (!qemu || args.includes('--bridge') || args.includes('--network')) return args;
  const n = networkFor(args[args.indexOf('--data-dir') + 1] ?? args.join(' '));
  return [...args, '--bridge', n.bridge, '--pod-cidr', n.cidr];
}

/** Removes the bridge, chains and rules a test's QEMU daemon made (once no daemon of that data dir will run again). */
export async function removeOwnNetwork(dataDir: string): Promise<void> {
  await removeHostNetwork(networkFor(dataDir).bridge);
}

/** Starts hyperd (this build's, or another build's `bin`) and resolves `ready` with its "hyperd ready" log record. */
export function startHyperd(args: string[], env: Record<string, string> = {}, bin = HYPERD): DaemonProc {
  requireBuild();
  args = withOwnNetwork(args);
  const proc = spawn('node', [bin, ...args], { env: { ...process.env, HYPER_LOG_FORMAT: 'json', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hyperd not ready in 30 s:\n${log}`)), 30_000);
    let found = false;
    proc.stderr!.on('data', (b: Buffer) => {
      log += b.toString();
      if (found) return;
      const line = log.split('\n').find((l) => l.includes('"hyperd ready"'));
      if (line) {
        found = true;
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hyperd exited with ${code}:\n${log}`));
    });
  });
  ready.catch(() => {});
  return {
    proc,
    log: () => log,
    ready,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
        proc.once('exit', (code) => resolve(code));
        proc.kill(signal);
      }),
  };
}

/** A live process (a zombie only waits to be reaped: it counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
