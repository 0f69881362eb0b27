// Test harness: the real guest agent binary, run unprivileged on the host (--host) and driven over its stdin/stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AgentClient } from '../../src/guest/agent-client.js';

export const AGENT = fileURLToPath(new URL('../../guest-agent/build/hyper-agent', import.meta.url));

export interface HostAgent { client: AgentClient; proc: ChildProcess; output(process: string): () => string; close(): Promise<void> }

export async function startHostAgent(): Promise<HostAgent> {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing — build it with: make -C guest-agent`);
  const proc = spawn(AGENT, ['--host'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const client = new AgentClient(proc.stdout!, proc.stdin!);
  await client.waitReady(5_000);
  return {
    client,
    proc,
    output(process: string) {
      let text = '';
      client.onOutput((p, _s, d) => { if (p === process) text += d.toString(); });
      return () => text;
    },
    close: () => new Promise((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.stdin!.end();
      setTimeout(() => proc.kill('SIGKILL'), 2_000).unref();
    }),
  };
}
