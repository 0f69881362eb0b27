// The Docker API's networks, as far as hyper can honour them: every pod of a host sits on the host's one pod network
// (its bridge), so a network made with `docker network create` (or by docker-compose) is a name pods join, and its
// aliases (compose's service names) resolve through pod DNS; it does not isolate its members from the tenant's other
// pods. Kept per host in DATA_DIR/docker-networks.json, as volumes are; built-in: bridge and none (host is refused).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterView } from '../model/cluster-view.js';
import { HOLDS_RESOURCES } from '../model/pod-machine.js';
import { DEFAULT_TENANT, tenantOf } from '../events/schemas/subjects.js';
import { ApiError } from './lifecycle.js';
import type { PodSpec } from '../events/schemas/mod.js';

/** The label that says which Docker network a pod joined (absent: bridge). */
export const NETWORK_LABEL = 'io.hyper.network';

/** The Docker network a pod joined: none, one made with docker network create, or bridge. */
export function networkOf(spec: PodSpec | null | undefined): string {
  return spec?.network === 'none' ? 'none' : (spec?.labels[NETWORK_LABEL] ?? 'bridge');
}

interface Stored { id: string; name: string; created: string; labels: Record<string, string> }
interface CreateNetworkBody { Name?: string; Driver?: string; Internal?: boolean; EnableIPv6?: boolean; Labels?: Record<string, string> | null; Options?: Record<string, string> | null; IPAM?: { Config?: unknown[] | null } | null; CheckDuplicate?: boolean; Attachable?: boolean }

const BUILT_IN: Stored[] = [
  { id: 'b'.repeat(64), name: 'bridge', created: '1970-01-01T00:00:00Z', labels: {} },
  { id: 'c'.repeat(64), name: 'none', created: '1970-01-01T00:00:00Z', labels: {} },
];

export class DockerNetworks {
  private readonly file: string;

  constructor(dataDir: string, private readonly view: ClusterView, private readonly subnet: { cidr: string; gateway: string } | null) {
    this.file = join(dataDir, 'docker-networks.json');
  }

  private stored(): Stored[] {
    if (!existsSync(this.file)) return [];
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as Stored[];
    } catch {
      return [];
    }
  }

  private save(all: Stored[]): void {
    writeFileSync(`${this.file}.tmp`, JSON.stringify(all, null, 2) + '\n', { mode: 0o600 });
    renameSync(`${this.file}.tmp`, this.file);
  }

  /** A network by name, id or id prefix; null if there is none. */
  find(ref: string): Stored | null {
    const all = [...BUILT_IN, ...this.stored()];
    return all.find((n) => n.name === ref || n.id === ref) ?? (ref.length >= 3 ? all.filter((n) => n.id.startsWith(ref)) : []).at(0) ?? null;
  }

  /** The names a create may give as NetworkMode: the built-in ones, and those made here. */
  names(): Set<string> {
    return new Set([...BUILT_IN, ...this.stored()].map((n) => n.name));
  }

  private members(n: Stored): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const p of this.view.pods.values()) {
      if (tenantOf(p.context) !== DEFAULT_TENANT || !HOLDS_RESOURCES.has(p.state)) continue;
      if (networkOf(p.context.spec) !== n.name) continue;
      const net = p.context.network;
      out[p.context.id] = { Name: p.context.name ?? p.context.id, EndpointID: p.context.id, MacAddress: net?.mac ?? '', IPv4Address: net?.mode === 'bridge' ? `${net.ip}/${net.prefix}` : '', IPv6Address: '' };
    }
    return out;
  }

  shape(n: Stored): unknown {
    const none = n.name === 'none';
    return {
      Name: n.name,
      Id: n.id,
      Created: n.created,
      Scope: 'local',
      Driver: none ? 'null' : 'bridge',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: !none && this.subnet ? [{ Subnet: this.subnet.cidr, Gateway: this.subnet.gateway }] : [] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: this.members(n),
      Options: {},
      Labels: n.labels,
    };
  }

  list(): unknown[] {
    return [...BUILT_IN, ...this.stored()].map((n) => this.shape(n));
  }

  inspect(ref: string): unknown {
    const n = this.find(ref);
    if (!n) throw new ApiError(404, `network ${ref} not found`);
    return this.shape(n);
  }

  create(body: CreateNetworkBody): { Id: string; Warning: string } {
    const name = body.Name ?? '';
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) throw new ApiError(400, `Name "${name}": a network name is letters, digits, _ . - (starting with a letter or digit)`);
    if (name === 'host') throw new ApiError(400, 'the host network is not supported by hyper: each container runs in a VM of its own');
    if (body.Driver && body.Driver !== 'bridge') throw new ApiError(400, `Driver ${body.Driver}: hyper's pods share the host's bridge; only the bridge driver is served`);
    if (body.Internal) throw new ApiError(400, '--internal (Internal) is not supported by hyper: a network here is a name on the host\'s pod network, which reaches out through NAT');
    if (body.EnableIPv6) throw new ApiError(400, '--ipv6 (EnableIPv6) is not supported by hyper: the pod network is IPv4');
    if (body.IPAM?.Config?.length) throw new ApiError(400, '--subnet/--gateway (IPAM.Config) are not supported by hyper: pods take addresses from the host\'s pod network');
    if (this.find(name)) throw new ApiError(409, `network with name ${name} already exists`);
    const n: Stored = { id: randomBytes(32).toString('hex'), name, created: new Date().toISOString(), labels: body.Labels ?? {} };
    this.save([...this.stored(), n]);
    return { Id: n.id, Warning: '' };
  }

  remove(ref: string): void {
    const n = this.find(ref);
    if (!n) throw new ApiError(404, `network ${ref} not found`);
    if (BUILT_IN.some((b) => b.id === n.id)) throw new ApiError(403, `${n.name} is a pre-defined network and cannot be removed`);
    const members = Object.values(this.members(n)) as { Name: string }[];
    if (members.length) throw new ApiError(403, `error while removing network: network ${n.name} id ${n.id} has active endpoints (${members.map((m) => m.Name).join(', ')})`);
    this.save(this.stored().filter((s) => s.id !== n.id));
  }
}
