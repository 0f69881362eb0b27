// `POST /containers/create`'s body as a pod spec, pure: Docker's Config and HostConfig fields mapped to a pod of one
// container; a field hyper cannot honour (privileged, host network, devices, …) is refused naming it, never ignored.
import { PodSpec, type PodSpecInput } from '../events/schemas/mod.js';
import { NETWORK_LABEL } from './networks.js';
import { dnsLabel } from '../events/schemas/pod-spec.js';

export class CreateRefused extends Error {}

interface CreateBody {
  Image?: string;
  Cmd?: string[] | string | null;
  Entrypoint?: string[] | string | null;
  Env?: string[] | null;
  Labels?: Record<string, string> | null;
  WorkingDir?: string;
  User?: string;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  ExposedPorts?: Record<string, unknown> | null;
  NetworkingConfig?: { EndpointsConfig?: Record<string, { Aliases?: string[] | null } | null> | null } | null;
  HostConfig?: {
    AutoRemove?: boolean;
    Binds?: string[] | null;
    PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
    RestartPolicy?: { Name?: string; MaximumRetryCount?: number };
    Memory?: number;
    NanoCpus?: number;
    Privileged?: boolean;
    NetworkMode?: string;
    PidMode?: string;
    IpcMode?: string;
    Devices?: unknown[] | null;
    CapAdd?: string[] | null;
    Dns?: string[] | null;
    DnsSearch?: string[] | null;
  } | null;
}

const arr = (v: string[] | string | null | undefined) => (v === undefined || v === null ? undefined : Array.isArray(v) ? v : [v]);

/**
 * The pod spec for a Docker container, whether the daemon removes it once it ends (--rm), and whether its stdin closes
 * when the attached client's does (docker run -i; not with a tty, as docker's: a detaching terminal closes its connection).
 */
export function specFromCreate(body: CreateBody, name: string | null, networks: ReadonlySet<string> = new Set(['bridge', 'none'])): { spec: PodSpec; autoRemove: boolean; stdinOnce: boolean } {
  const h = body.HostConfig ?? {};
  const refuse = (field: string, why: string) => {
    throw new CreateRefused(`${field} is not supported by hyper: ${why}`);
  };
  if (h.Privileged) refuse('--privileged (HostConfig.Privileged)', 'each container runs in a VM of its own and privileged access to the host would defeat it');
  const netMode = !h.NetworkMode || h.NetworkMode === 'default' ? 'bridge' : h.NetworkMode;
  if (netMode === 'host' || netMode.startsWith('container:')) refuse(`--network ${netMode} (HostConfig.NetworkMode)`, 'each container runs in a VM of its own: it gets the host\'s pod network (bridge, or a network made with docker network create) or none');
  if (!networks.has(netMode)) throw new CreateRefused(`network ${netMode} not found`);
  // the aliases a client asks for on its network (compose: the service's name)
  const aliases = [...new Set(Object.values(body.NetworkingConfig?.EndpointsConfig ?? {}).flatMap((e) => e?.Aliases ?? []))].filter((a) => dnsLabel.safeParse(a).success);
  if (h.PidMode === 'host') refuse('--pid host (HostConfig.PidMode)', 'the host\'s processes are outside the VM');
  if (h.IpcMode === 'host') refuse('--ipc host (HostConfig.IpcMode)', 'the host\'s IPC namespace is outside the VM');
  if (h.Devices?.length) refuse('--device (HostConfig.Devices)', 'host devices are not passed into VMs');
  if (h.CapAdd?.length) refuse('--cap-add (HostConfig.CapAdd)', 'capabilities beyond the default set are not granted');
  if (!body.Image) throw new CreateRefused('Image: give an image, e.g. busybox');
  const env: Record<string, string> = {};
  for (const kv of body.Env ?? []) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const volumes = (h.Binds ?? []).map((b) => {
    const [source, target, mode] = b.split(':');
    return { source, target, readonly: mode?.split(',').includes('ro') ?? false };
  });
  const ports = Object.entries(h.PortBindings ?? {}).flatMap(([key, binds]) => {
    const [p, proto] = key.split('/');
    return (binds?.length ? binds : [{}]).map((b) => ({ containerPort: Number(p), ...(b.HostPort ? { hostPort: Number(b.HostPort) } : {}), ...(b.HostIp && b.HostIp !== '0.0.0.0' ? { hostIp: b.HostIp } : {}), protocol: (proto === 'udp' ? 'udp' : 'tcp') as 'tcp' | 'udp' }));
  });
  const restart = h.RestartPolicy?.Name;
  const input: PodSpecInput = {
    ...(name ? { name } : {}),
    containers: [{
      name: 'main',
      image: body.Image,
      ...(arr(body.Entrypoint) ? { command: arr(body.Entrypoint) } : {}),
      ...(arr(body.Cmd) ? { args: arr(body.Cmd) } : {}),
      env,
      ...(body.WorkingDir ? { workdir: body.WorkingDir } : {}),
      ...(body.User ? { user: body.User } : {}),
      tty: Boolean(body.Tty),
      ...(body.OpenStdin ? { stdin: true } : {}),
      ...(volumes.length ? { volumes } : {}),
    }],
    ...(h.Memory || h.NanoCpus ? { resources: { cpus: h.NanoCpus ? Math.max(1, Math.ceil(h.NanoCpus / 1e9)) : 1, memoryMb: h.Memory ? Math.ceil(h.Memory / (1024 * 1024)) : 256 } } : {}),
    restartPolicy: restart === 'always' || restart === 'unless-stopped' ? 'always' : restart === 'on-failure' ? 'on-failure' : 'never',
    ...(restart === 'on-failure' && h.RestartPolicy?.MaximumRetryCount ? { maxRestarts: h.RestartPolicy.MaximumRetryCount } : {}),
    labels: { ...(body.Labels ?? {}), ...(netMode !== 'bridge' && netMode !== 'none' ? { [NETWORK_LABEL]: netMode } : {}) },
    ...(netMode === 'none' ? { network: 'none' as const } : {}),
    ...(aliases.length && netMode !== 'none' ? { aliases } : {}),
    ...(ports.length ? { ports } : {}),
    ...(h.Dns?.length ? { dns: h.Dns } : {}),
    ...(h.DnsSearch?.length ? { dnsSearch: h.DnsSearch } : {}),
  };
  const r = PodSpec.safeParse(input);
  if (!r.success) throw new CreateRefused(`invalid container: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return { spec: r.data, autoRemove: Boolean(h.AutoRemove), stdinOnce: Boolean(body.OpenStdin && body.StdinOnce && !body.Tty) };
}
