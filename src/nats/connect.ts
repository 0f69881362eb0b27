// Connects to NATS with the options a cluster member needs: every seed server, endless reconnects, a name for the server's logs.
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import './request-cancel.js';
import { ConnectionError } from '../errors.js';

export type { NatsConnection };

export function parseServers(urls: string): string[] {
  return urls.split(',').map((s) => s.trim()).filter(Boolean);
}

/** A user and password (hosts, the local admin client), or a tenant's nkey seed. */
export type NatsAuth = { user: string; password: string } | { seed: string };

/** The CA to verify the server by: a PEM file, or the PEM text itself (a tenant's credentials carry it). */
export type NatsTls = { caFile: string } | { ca: string };

export async function connectNats(servers: string[], name: string, opts: { reconnect?: boolean; timeoutMs?: number; auth?: NatsAuth; tls?: NatsTls } = {}): Promise<NatsConnection> {
  try {
    return await connect({
      servers,
      name,
      ...(opts.auth && 'seed' in opts.auth ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(opts.auth.seed)) } : {}),
      ...(opts.auth && 'user' in opts.auth ? { user: opts.auth.user, pass: opts.auth.password } : {}),
      ...(opts.tls ? { tls: opts.tls } : {}),
      timeout: opts.timeoutMs ?? 5_000,
      reconnect: opts.reconnect ?? true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // the client otherwise builds an Error (with a stack) for every request in case it times out: ~10% of a busy daemon's CPU
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new ConnectionError('nats-connect', `could not connect to NATS at ${servers.join(',')}: ${(err as Error).message}`, { cause: err });
  }
}
