// The pod spec: what a user asks for (containers, resources, restart policy); strict, so unknown fields are refused by name.
import { z } from 'zod';
import { refProblem } from '../../images/reference.js';

export const dnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'must be lowercase letters, digits and dashes, starting and ending with a letter or digit');

/**
 * A pod's name: docker's rule (letters, digits, _ . -, starting with a letter or digit), so names docker and compose
 * give (proj_web_1) are pods' names too; pod DNS matches them without regard to case.
 */
export const podName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be letters, digits, _ . or -, starting with a letter or digit');

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a shell variable name (letters, digits, _; not starting with a digit)');

/** -v /host/dir:/ctr/path[:ro] (a host directory, virtio-9p) or -v NAME:/ctr/path[:ro] (a named volume, an ext4 disk). */
export const VolumeMount = z
  .object({
    source: z.string().max(4096).refine((p) => (p.startsWith('/') ? !p.split('/').includes('..') : /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(p)), 'must be an absolute host path (without ..) or a volume name (letters, digits, _ . -)'),
    target: z.string().startsWith('/', 'must be an absolute path in the container').max(4096).refine((p) => p !== '/' && !p.split('/').includes('..'), 'must be a directory below / (not / itself, no ..)'),
    readonly: z.boolean().default(false),
  })
  .strict();
export type VolumeMount = z.infer<typeof VolumeMount>;

/** A file written into the container before it starts: inline content, or a host file (on the host that runs the pod). */
export const FileSpec = z
  .object({
    path: z.string().startsWith('/', 'must be an absolute path in the container').max(4096).refine((p) => !p.endsWith('/') && !p.split('/').includes('..'), 'must name a file (no trailing /, no ..)'),
    content: z.string().max(256 * 1024, 'at most 256 KiB inline (use source for a bigger file)').optional(),
    source: z.string().startsWith('/', 'must be an absolute host path').max(4096).refine((p) => !p.split('/').includes('..'), 'must not climb with ..').optional(),
    /** Permission bits: a number (JSON 256), or octal digits as a string (YAML: mode: "0400"); default 0644. */
    mode: z.union([z.number().int().min(0).max(0o7777), z.string().regex(/^0?[0-7]{3,4}$/, 'must be octal permission bits, e.g. "0400"').transform((v) => parseInt(v, 8))]).optional(),
  })
  .strict()
  .refine((f) => (f.content === undefined) !== (f.source === undefined), 'give exactly one of content and source');
export type FileSpec = z.infer<typeof FileSpec>;

export const ContainerSpec = z
  .object({
    name: dnsLabel,
    image: z.string().min(1, 'must name an image, e.g. busybox or registry.example/app:1.2').max(512).superRefine((ref, ctx) => {
      const why = refProblem(ref);
      if (why) ctx.addIssue({ code: 'custom', message: why });
    }),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    env: z.record(envName, z.string()).default({}),
    workdir: z.string().startsWith('/', 'must be an absolute path').optional(),
    user: z.string().min(1).optional(),
    tty: z.boolean().default(false),
    /** Keep its stdin open for attach (docker's -i, Kubernetes' stdin); otherwise it reads EOF at once. */
    stdin: z.boolean().optional(),
    volumes: z.array(VolumeMount).max(32).optional(),
    files: z.array(FileSpec).max(64).optional(),
    /** Its own limits inside the pod's VM (cgroup v2): past memoryMb the kernel kills it (reported OOM killed), its siblings run on. */
    limits: z.object({ memoryMb: z.number().int().min(4, 'must be at least 4 MB').max(262144).optional(), cpus: z.number().positive().max(64).optional() }).strict().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    (c.volumes ?? []).forEach((v, i) => {
      if (seen.has(v.target)) ctx.addIssue({ code: 'custom', path: ['volumes', i, 'target'], message: `${v.target} is mounted twice` });
      seen.add(v.target);
    });
  });
export type ContainerSpec = z.infer<typeof ContainerSpec>;

export const RestartPolicy = z.enum(['never', 'on-failure', 'always']);
export type RestartPolicy = z.infer<typeof RestartPolicy>;

export const Resources = z
  .object({
    cpus: z.number().int('must be a whole number of vCPUs').min(1).max(64).default(1),
    memoryMb: z.number().int().min(64, 'must be at least 64 MB (the guest kernel needs it)').max(262144).default(256),
  })
  .strict();

const ipv4 = z.string().regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'must be an IPv4 address, e.g. 127.0.0.1');
const port = z.number().int().min(1, 'must be a port, 1-65535').max(65535, 'must be a port, 1-65535');

/** -p [hostIp:][hostPort:]containerPort[/proto]: a host port (absent: a free one, chosen when the pod starts) to one of the pod's. */
export const PortMapping = z
  .object({
    containerPort: port,
    hostPort: port.optional(),
    /** Absent: every address of the host (0.0.0.0). */
    hostIp: ipv4.optional(),
    protocol: z.enum(['tcp', 'udp']).default('tcp'),
  })
  .strict();
export type PortMapping = z.infer<typeof PortMapping>;
export type PortMappingInput = z.input<typeof PortMapping>;

export const PodSpec = z
  .object({
    name: podName.optional(),
    containers: z.array(ContainerSpec).min(1, 'a pod needs at least one container').max(64),
    resources: Resources.default({ cpus: 1, memoryMb: 256 }),
    restartPolicy: RestartPolicy.default('never'),
    /** With on-failure: restart at most this many times (docker's on-failure:N); absent, without limit. */
    maxRestarts: z.number().int().min(0).max(1_000_000).optional(),
    labels: z.record(z.string().max(253), z.string().max(1024)).default({}),
    /** Give up (fail) after waiting this long for a host with room; by default a pod waits as long as it takes. */
    waitTimeoutMs: z.number().int().positive().max(30 * 24 * 3_600_000).optional(),
    /** bridge (default): a NIC on the host's pod network (or user-mode networking where hyperd is unprivileged); none: only lo. */
    network: z.enum(['bridge', 'none']).optional(),
    ports: z.array(PortMapping).max(64).optional(),
    /** More names the pod answers to in pod DNS, which several pods may share (docker's network aliases, compose's services). */
    aliases: z.array(dnsLabel).max(16).optional(),
    /** DNS servers and search domains for the pod's /etc/resolv.conf; absent, the host's. */
    dns: z.array(ipv4).max(3).optional(),
    dnsSearch: z.array(z.string().min(1).max(253).regex(/^[A-Za-z0-9.-]+$/, 'must be a domain')).max(6).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.network === 'none' && spec.ports?.length) ctx.addIssue({ code: 'custom', path: ['ports'], message: 'a pod with network none has no ports to publish' });
    const published = new Set<string>();
    (spec.ports ?? []).forEach((p, i) => {
      if (p.hostPort === undefined) return;
      const key = `${p.hostIp ?? '0.0.0.0'}:${p.hostPort}/${p.protocol ?? 'tcp'}`;
      if (published.has(key)) ctx.addIssue({ code: 'custom', path: ['ports', i, 'hostPort'], message: `host port ${key} is published twice` });
      published.add(key);
    });
    if (spec.maxRestarts !== undefined && spec.restartPolicy !== 'on-failure')
      ctx.addIssue({ code: 'custom', path: ['maxRestarts'], message: `a maximum number of restarts needs restartPolicy on-failure (it is ${spec.restartPolicy})` });
    const seen = new Set<string>();
    spec.containers.forEach((c, i) => {
      if (seen.has(c.name)) ctx.addIssue({ code: 'custom', path: ['containers', i, 'name'], message: `duplicate container name "${c.name}"` });
      seen.add(c.name);
    });
  });
export type PodSpec = z.infer<typeof PodSpec>;
/** What a user writes: defaults not yet applied. */
export type PodSpecInput = z.input<typeof PodSpec>;
