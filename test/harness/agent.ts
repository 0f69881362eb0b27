// Test harness: the real guest agent binary, run unprivileged on the host (--host): driven over its stdin/stdout,
// or listening on a unix socket (--host --listen PATH) so tests can disconnect and reconnect as hyperd does with QEMU.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentClient, type AgentClientOptions } from '../../src/guest/agent-client.js';

export const AGENT = fileURLToPath(new URL('../../guest-agent/build/hyper-agent', import.meta.url));

export interface HostAgent { client: AgentClient; proc: ChildProcess; output(process: string): () => string; close(): Promise<void> }

function requireAgent(): void {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing — build it with: make -C guest-agent`);
}

/** Collects one process's output as text. */
export function collect(client: AgentClient, process: string): () => string {
  let text = '';
  client.onOutput((p, _s, d) => { if (p === process) text += d.toString(); });
  return () => text;
}

export async function startHostAgent(): Promise<HostAgent> {
  requireAgent();
  const proc = spawn(AGENT, ['--host'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const client = new AgentClient(proc.stdout!, proc.stdin!);
  await client.waitReady(5_000);
  return {
    client,
    proc,
    output: (process) => collect(client, process),
    close: () => new Promise((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.stdin!.end();
      setTimeout(() => proc.kill('SIGKILL'), 2_000).unref();
    }),
  };
}

export interface ListenAgent {
  proc: ChildProcess;
  /** The agent's socket. */
  path: string;
  /** A new host connection; without hunt, resolved once the agent's READY arrived. */
  connect(opts?: AgentClientOptions): Promise<{ client: AgentClient; socket: Socket }>;
  /** The agent's resident set (VmRSS), in KiB. */
  rssKb(): number;
  /** SIGTERM: the agent stops its processes and exits. */
  stop(): Promise<void>;
}

export async function startListenAgent(binary = AGENT): Promise<ListenAgent> {
  requireAgent();
  const dir = mkdtempSync(join(tmpdir(), 'hyper-agent-'));
  const path = join(dir, 'agent.sock');
  const proc = spawn(binary, ['--host', '--listen', path], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  for (let i = 0; !existsSync(path); i++) {
    if (proc.exitCode !== null || i > 500) throw new Error(`hyper-agent --listen ${path} did not create its socket (exit code ${proc.exitCode})`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    proc,
    path,
    async connect(opts = {}) {
      const socket = connect(path);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      const client = new AgentClient(socket, socket, () => {}, opts);
      if (!opts.hunt) await client.waitReady(5_000);
      return { client, socket };
    },
    rssKb() {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : NaN;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 4_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
