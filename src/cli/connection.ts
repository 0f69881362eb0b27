// Finds the cluster for a CLI command: --nats, then HYPER_NATS, then the local daemon's announce file; picks the tenant the
// command acts for (a tenant's credentials name it; the admin's act for --tenant, default "default"); explains what to do
// when nothing answers or the credentials are refused.
import { existsSync, readFileSync } from 'node:fs';
import { ConnectionError, HyperError } from '../errors.js';
import { readCredentialsFile, type ClientCredentials } from '../auth/credentials.js';
import { isAuthFailure } from '../nats/errors.js';
import { connectNats, parseServers, type NatsAuth, type NatsConnection } from '../nats/connect.js';
import { EventStore } from '../events/store/event-store.js';
import { loadView } from '../events/store/load-view.js';
import { DEFAULT_TENANT } from '../events/schemas/subjects.js';
import { tenantName } from '../events/schemas/mod.js';
import type { ClusterView, PodRecord } from '../model/cluster-view.js';
import { resolvePod } from './resolve.js';
import { announceFile, defaultDataDir } from '../daemon/paths.js';
import { clusterFile, readClusterFile } from '../cluster/local.js';

export interface GlobalOptions { nats?: string; dataDir?: string; output?: string; creds?: string; tenant?: string; tlsCa?: string }

export interface Session {
  nc: NatsConnection;
  store: EventStore;
  servers: string[];
  /** The URLs remote clients reach this cluster by (the local daemon's advertised ones, else those used here). */
  advertised: string[];
  /** PEM of the CA the server's certificate is verified by, when it speaks TLS. */
  ca: string | null;
  /** The tenant this command acts for. */
  tenant: string;
  /** Folds what this session may see: a tenant's own pods, or (admin) the whole cluster. */
  view(): Promise<ClusterView>;
  /** A pod of this session's tenant by id, id prefix or name. */
  resolve(view: ClusterView, ref: string): PodRecord;
  /** Refuses, before anything is asked, what a tenant's credentials may not do (`what` names it). */
  requireAdmin(what: string): void;
  /**
   * One more connection as this session's (closed with it): requests on it do not wait behind what a consumer on the
   * first has asked for and is still arriving.
   */
  another(): Promise<NatsConnection>;
  close(): Promise<void>;
}

export interface Found { servers: string[]; source: string; credentials?: string; tlsCa?: string; advertised?: string[] }

export function resolveServers(g: GlobalOptions): Found {
  const creds = g.creds ?? process.env.HYPER_CREDS;
  const tlsCa = g.tlsCa ?? process.env.HYPER_TLS_CA;
  if (g.nats) return { servers: parseServers(g.nats), source: '--nats', credentials: creds, tlsCa };
  if (process.env.HYPER_NATS) return { servers: parseServers(process.env.HYPER_NATS), source: 'HYPER_NATS', credentials: creds, tlsCa };
  const dataDir = g.dataDir ?? defaultDataDir();
  const cluster = readClusterFile(dataDir);
  if (cluster) return { servers: cluster.nats, source: `${clusterFile(dataDir)} (hyper cluster up)`, credentials: creds ?? cluster.credentials, tlsCa: tlsCa ?? cluster.tlsCa };
  const file = announceFile(dataDir);
  if (!existsSync(file)) {
    // a tenant's credentials file may say where its cluster is
    const tenantServers = creds ? readCredentialsFile(creds) : null;
    if (tenantServers?.kind === 'tenant' && tenantServers.nats?.length) return { servers: tenantServers.nats, source: creds!, credentials: creds, tlsCa };
    throw new ConnectionError(
      'no-daemon',
      `no hyper daemon is running on this machine (no ${file}) and neither --nats nor HYPER_NATS is set — start one with: hyperd &   (or: hyper daemon &)`,
    );
  }
  const a = JSON.parse(readFileSync(file, 'utf8')) as { nats: string[]; advertise?: string[]; pid: number; credentials?: string; tlsCa?: string };
  return { servers: a.nats, source: `${file} (hyperd pid ${a.pid})`, credentials: creds ?? a.credentials, tlsCa: tlsCa ?? a.tlsCa, advertised: a.advertise };
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new HyperError('tls', `cannot read the CA ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Node's TLS verification failures carry an OpenSSL code (SELF_SIGNED_CERT_IN_CHAIN, ERR_TLS_CERT_ALTNAME_INVALID…). */
function certificateReason(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) return `${code}: ${(e as Error).message}`;
  }
  return null;
}

const isCertificateError = (err: unknown) => certificateReason(err) !== null;

/** The tenant a command acts for, checked before anything is sent. */
function tenantFor(g: GlobalOptions, creds: ClientCredentials | undefined): string {
  const asked = g.tenant ?? process.env.HYPER_TENANT;
  if (creds?.kind === 'tenant') {
    if (asked && asked !== creds.tenant) throw new HyperError('auth', `--tenant ${asked}: these credentials are tenant ${creds.tenant}'s, and act for it alone`);
    return creds.tenant;
  }
  const t = asked ?? DEFAULT_TENANT;
  const ok = tenantName.safeParse(t);
  if (!ok.success) throw new HyperError('invalid', `--tenant "${t}": ${ok.error.issues[0].message}`);
  return t;
}

/** `credentials` overrides the file the session signs in with (tenant administration uses the host role's). */
export async function openSession(g: GlobalOptions, o: { credentials?: string; /** reconnect to another seed when the server goes (long-running clients) */ reconnect?: boolean } = {}): Promise<Session> {
  const found = resolveServers(g);
  const { servers, source } = found;
  const credentials = o.credentials ?? found.credentials;
  const creds = credentials ? readCredentialsFile(credentials) : undefined;
  const tenant = tenantFor(g, creds);
  const auth: NatsAuth | undefined = creds ? (creds.kind === 'tenant' ? { seed: creds.seed } : { user: creds.user, password: creds.password }) : undefined;
  // the CA: --tls-ca (or the local daemon's), else the one a tenant's credentials carry
  const ca = found.tlsCa ? readCa(found.tlsCa) : creds?.kind === 'tenant' && creds.ca ? creds.ca : null;
  let nc: NatsConnection;
  const options = { reconnect: o.reconnect ?? false, timeoutMs: 3_000, auth, ...(ca ? { tls: { ca } } : {}) };
  try {
    nc = await connectNats(servers, `hyper-cli:${process.pid}`, options);
  } catch (err) {
    if (isCertificateError(err)) {
      throw new ConnectionError('tls', `NATS at ${servers.join(',')} speaks TLS with a certificate this client cannot verify (${certificateReason(err)}) — give its CA with --tls-ca FILE (HYPER_TLS_CA; DATA_DIR/auth/tls/ca.pem on the daemon's host), or use a tenant's credentials file, which carries it`, { cause: err });
    }
    if (isAuthFailure(err)) {
      throw new ConnectionError('auth', credentials
        ? `NATS at ${servers.join(',')} refused the credentials in ${credentials} (they may have been revoked or replaced) — use the current ones: the local daemon keeps its admin client's in DATA_DIR/auth/client.json; a tenant's come from: hyper tenant add`
        : `NATS at ${servers.join(',')} requires credentials — give them with --creds FILE (or HYPER_CREDS); a local daemon keeps its client's in DATA_DIR/auth/client.json`, { cause: err });
    }
    const hint = source.includes('hyperd pid') ? ' — the daemon may have crashed; start it again with: hyperd &' : ' — check the URL and that nats-server runs with JetStream (-js)';
    throw new ConnectionError('unreachable', `${(err as Error).message} (servers from ${source})${hint}`, { cause: err });
  }
  const scoped = creds?.kind === 'tenant';
  const store = await EventStore.open(nc, { scoped });
  const more: NatsConnection[] = [];
  return {
    nc, store, servers, tenant, ca, advertised: found.advertised ?? servers,
    view: async () => (await loadView(store, { tenant })).view,
    resolve: (view, ref) => resolvePod(view, ref, tenant),
    requireAdmin: (what) => {
      if (scoped) throw new HyperError('auth', `${what} takes the admin's credentials: tenant ${tenant}'s see its own pods only`);
    },
    another: async () => {
      const c = await connectNats(servers, `hyper-cli:${process.pid}`, options);
      more.push(c);
      return c;
    },
    close: async () => {
      await Promise.all(more.map((c) => c.close()));
      await nc.close();
    },
  };
}
