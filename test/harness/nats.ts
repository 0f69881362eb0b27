// Test harness: a real nats-server with JetStream on a port it picks, in a fresh temp dir, removed afterwards.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsServer, type NatsServer } from '../../src/nats/server.js';
import { connectNats, type NatsConnection } from '../../src/nats/connect.js';
import { EventStore } from '../../src/events/store/event-store.js';

export interface TestNats { server: NatsServer; nc: NatsConnection; store: EventStore; dir: string; close(): Promise<void> }

export function tempDir(prefix = 'hyper-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestNats(): Promise<TestNats> {
  const dir = tempDir();
  const server = await startNatsServer({ dataDir: join(dir, 'nats'), name: 'test' });
  const nc = await connectNats([server.url], 'test');
  const store = await EventStore.open(nc);
  return {
    server, nc, store, dir,
    async close() {
      await nc.close().catch(() => {});
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Kills any nats-server whose config lives under `dir` (an embedded server outlives a SIGKILLed hyperd by design). */
export function killStrays(dir: string): void {
  try {
    execFileSync('pkill', ['-KILL', '-f', `nats-server -c ${dir}`]);
  } catch {
    // pkill exits 1 when nothing matched
  }
}
