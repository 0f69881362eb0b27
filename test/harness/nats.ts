// Test harness: a real nats-server with JetStream on a port it picks, in a fresh temp dir, removed afterwards.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startScratchNats, type ScratchNats } from '../../src/nats/scratch.js';

export type TestNats = ScratchNats;

export function tempDir(prefix = 'hyper-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function startTestNats(): Promise<TestNats> {
  return startScratchNats('hyper-test-');
}

/** Kills any nats-server whose config lives under `dir` (an embedded server outlives a SIGKILLed hyperd by design). */
export function killStrays(dir: string): void {
  try {
    execFileSync('pkill', ['-KILL', '-f', `nats-server -c ${dir}`]);
  } catch {
    // pkill exits 1 when nothing matched
  }
}
