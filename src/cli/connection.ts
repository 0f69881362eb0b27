// Finds the cluster for a CLI command: --nats, then HYPER_NATS, then the local daemon's announce file; explains what to do when none answers.
import { existsSync, readFileSync } from 'node:fs';
import { ConnectionError } from '../errors.js';
import { readClientCredentials, type Credentials } from '../auth/credentials.js';
import { isAuthFailure } from '../nats/errors.js';
import { connectNats, parseServers, type NatsConnection } from '../nats/connect.js';
import { EventStore } from '../events/store/event-store.js';
import { announceFile, defaultDataDir } from '../daemon/paths.js';

export interface GlobalOptions { nats?: string; dataDir?: string; output?: string; creds?: string }

export interface Session { nc: NatsConnection; store: EventStore; servers: string[]; close(): Promise<void> }

export function resolveServers(g: GlobalOptions): { servers: string[]; source: string; credentials?: string } {
  const creds = g.creds ?? process.env.HYPER_CREDS;
  if (g.nats) return { servers: parseServers(g.nats), source: '--nats', credentials: creds };
  if (process.env.HYPER_NATS) return { servers: parseServers(process.env.HYPER_NATS), source: 'HYPER_NATS', credentials: creds };
  const file = announceFile(g.dataDir ?? defaultDataDir());
  if (!existsSync(file)) {
    throw new ConnectionError(
      'no-daemon',
      `no hyper daemon is running on this machine (no ${file}) and neither --nats nor HYPER_NATS is set — start one with: hyperd &   (or: hyper daemon &)`,
    );
  }
  const a = JSON.parse(readFileSync(file, 'utf8')) as { nats: string[]; pid: number; credentials?: string };
  return { servers: a.nats, source: `${file} (hyperd pid ${a.pid})`, credentials: creds ?? a.credentials };
}

export async function openSession(g: GlobalOptions): Promise<Session> {
  const { servers, source, credentials } = resolveServers(g);
  const auth: Credentials | undefined = credentials ? readClientCredentials(credentials) : undefined;
  let nc: NatsConnection;
  try {
    nc = await connectNats(servers, `hyper-cli:${process.pid}`, { reconnect: false, timeoutMs: 3_000, auth });
  } catch (err) {
    if (isAuthFailure(err)) {
      throw new ConnectionError('auth', credentials
        ? `NATS at ${servers.join(',')} refused the credentials in ${credentials} (they may have been revoked or replaced) — use the current ones: the local daemon keeps them in DATA_DIR/auth/client.json`
        : `NATS at ${servers.join(',')} requires credentials — give them with --creds FILE (or HYPER_CREDS); a local daemon keeps its client's in DATA_DIR/auth/client.json`, { cause: err });
    }
    const hint = source.includes('hyperd pid') ? ' — the daemon may have crashed; start it again with: hyperd &' : ' — check the URL and that nats-server runs with JetStream (-js)';
    throw new ConnectionError('unreachable', `${(err as Error).message} (servers from ${source})${hint}`, { cause: err });
  }
  const store = await EventStore.open(nc);
  return { nc, store, servers, close: () => nc.close() };
}
