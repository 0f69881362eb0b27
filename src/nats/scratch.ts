// A throwaway nats-server with JetStream in a fresh temp dir, plus a connection and the event store: for tests and benchmarks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore } from '../events/store/event-store.js';
import { connectNats, type NatsConnection } from './connect.js';
import { startNatsServer, type NatsServer } from './server.js';

export interface ScratchNats { server: NatsServer; nc: NatsConnection; store: EventStore; dir: string; close(): Promise<void> }

export async function startScratchNats(prefix: string): Promise<ScratchNats> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const server = await startNatsServer({ dataDir: join(dir, 'nats'), name: prefix.replace(/[^a-z]/g, '') || 'scratch' });
  const nc = await connectNats([server.url], prefix);
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
