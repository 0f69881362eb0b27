// One NATS node of a hyper cluster, as a nats-server.conf: JetStream, TLS for clients and (verified both ways) for routes,
// the routes to its peers authenticated with the host role, and the roles' users. `hyper cluster up` writes these for
// its namespaces; `hyper cluster config` for separate machines.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { clientCredentialsFile, ensureCredentials, hostCredentialsFile, natsAuthorization, type ClusterCredentials } from '../auth/credentials.js';
import { ensureCa, issueCertificate, natsRouteTls, natsTls, tlsDir } from '../auth/tls.js';

export interface NodeSpec { name: string; address: string }

/** The text of `node`'s nats-server.conf; `files`: where its JetStream store, certificate, key and the CA are on its machine. */
export function nodeConfig(node: NodeSpec, peers: NodeSpec[], creds: ClusterCredentials, files: { storeDir: string; cert: string; key: string; ca: string }): string {
  const listen = node.address;
  const routes = peers.filter((p) => p.name !== node.name).map((p) => `nats-route://${creds.host.user}:${creds.host.password}@${p.address}:6222`);
  return [
    `server_name: ${node.name}`,
    `listen: "${listen}:4222"`,
    'max_payload: 4MB',
    `jetstream { store_dir: ${JSON.stringify(files.storeDir)} }`,
    natsTls(files),
    ...(routes.length ? [`cluster { name: hyper, listen: "${listen}:6222", ${natsRouteTls(files)}, authorization { user: ${JSON.stringify(creds.host.user)}, password: ${JSON.stringify(creds.host.password)} }, routes: ${JSON.stringify(routes)} }`] : []),
    natsAuthorization(creds),
  ].join('\n') + '\n';
}

/**
 * A node's certificate, signed by the CA of `caDir`: its address and name as SANs (what nats-servers check on their
 * routes), and `localhost`, since the NATS client upgrades to TLS on an IP without SNI and Node then checks that name:
 * for clients the trust is the cluster's private CA, whose certificates all name hyper's own nodes.
 */
export function nodeCertificate(caDir: string, outDir: string, node: NodeSpec): { cert: string; key: string; ca: string } {
  const ca = ensureCa(caDir);
  return { ca, ...issueCertificate(caDir, outDir, 'node', [...new Set([node.address, node.name, 'localhost'])]) };
}

/**
 * Everything each machine of a cluster needs, under `outDir/<name>/`: nats-server.conf (its paths under `installDir` on
 * that machine, `{name}` replaced by the machine's name; JetStream in `installDir/jetstream`), its certificate and key,
 * the CA, and the host role's and admin client's credentials. The CA and the credentials are made once in `dataDir` and
 * reused, so a machine added later joins the same cluster. Each node listens on its own address.
 */
export function writeMachineConfigs(dataDir: string, nodes: NodeSpec[], outDir: string, installDir = '/etc/hyper'): string[] {
  for (const n of nodes) if (!isIP(n.address) && !/^[a-z0-9.-]+$/i.test(n.address)) throw new Error(`--node ${n.name}=${n.address}: not an address or a host name`);
  const creds = ensureCredentials(dataDir);
  const caDir = tlsDir(dataDir);
  mkdirSync(caDir, { recursive: true, mode: 0o755 });
  const written: string[] = [];
  for (const n of nodes) {
    const dir = join(outDir, n.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const made = nodeCertificate(caDir, dir, n);
    copyFileSync(made.ca, join(dir, 'ca.pem'));
    copyFileSync(hostCredentialsFile(dataDir), join(dir, 'host.json'));
    copyFileSync(clientCredentialsFile(dataDir), join(dir, 'client.json'));
    const at = (f: string) => join(installDir.replaceAll('{name}', n.name), f);
    writeFileSync(join(dir, 'nats-server.conf'), nodeConfig(n, nodes, creds, { storeDir: at('jetstream'), cert: at('node.pem'), key: at('node.key'), ca: at('ca.pem') }), { mode: 0o600 });
    written.push(dir);
  }
  return written;
}
