// Every event on a pod's subject: intents (`*.requested`, written by any client) and facts (written by schedulers and hosts).
import { z } from 'zod';
import { envelopeOf, idToken, tenantName } from './envelope.js';
import { PodSpec, podName } from './pod-spec.js';

// tenant: the pod's tenant, on every event of pods created since 0.3 (it picks the subject); absent on older pods' (tenant "default")
function podEvent<T extends string, D extends z.ZodRawShape>(type: T, data: D) {
  return z.object({ ...envelopeOf(type), type: z.literal(type), pod: idToken, tenant: tenantName.optional(), data: z.object(data).strict() }).strict();
}

const reason = z.string().min(1).max(4000);
const containerName = z.string().min(1).max(63);
/** An exec session's id: chosen by the client, unique per pod, also the guest's process name (`exec.<session>`). */
export const execSession = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'must be 8-64 letters, digits, _ or -');

export const podEventSchemas = [
  // intents
  podEvent('pod.requested', { spec: PodSpec, start: z.boolean() }),
  podEvent('pod.start.requested', {}),
  podEvent('pod.stop.requested', { graceMs: z.number().int().nonnegative().max(3_600_000).default(10_000) }),
  podEvent('pod.delete.requested', { force: z.boolean().default(false) }),
  // a signal to the pod's containers' main processes (all running ones, or one), as docker kill
  podEvent('pod.kill.requested', { signal: z.number().int().min(1).max(64), container: containerName.optional() }),
  // a new name for the pod (docker rename, hyper rename): unique among the tenant's pods, reserved by the client first
  podEvent('pod.rename.requested', { name: podName }),
  // placement
  podEvent('pod.scheduled', { host: idToken, run: z.number().int().positive(), attempt: z.number().int().nonnegative() }),
  podEvent('pod.rejected', { host: idToken, reason }),
  // no host fits it now: it waits (still pending) until capacity appears; pod.unschedulable gives up (its wait timed out)
  podEvent('pod.waiting', { reason }),
  podEvent('pod.unschedulable', { reason }),
  // the host running this run was declared lost (or fenced itself): the run ends there, restarted elsewhere if its policy says so
  podEvent('pod.lost', { host: idToken, run: z.number().int().positive(), reason }),
  // the VM and its agent; image.pulling says a pull from a registry began (it may take long); image.ready records which image (by id) a pod's VM was given, and whether it had to be pulled
  podEvent('image.pulling', { image: z.string().min(1).max(512) }),
  podEvent('image.ready', { image: z.string().min(1).max(512), id: z.string().regex(/^sha256:[a-f0-9]{64}$/), pulled: z.boolean(), converted: z.boolean(), ms: z.number().nonnegative() }),
  // the host gave this run of the pod its network: an address on the host's pod network (bridge) or QEMU's user-mode one
  // (user, where hyperd is unprivileged), and each published port with the host port it got; the address is the run's
  // until the run ends, and never handed to another pod before
  podEvent('net.assigned', {
    run: z.number().int().positive(),
    host: idToken,
    mode: z.enum(['bridge', 'user']),
    ip: z.string().min(7).max(15),
    prefix: z.number().int().min(8).max(30),
    gateway: z.string().min(7).max(15),
    mac: z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
    dns: z.array(z.string().min(7).max(15)).max(3),
    ports: z.array(z.object({ protocol: z.enum(['tcp', 'udp']), hostIp: z.string().min(7).max(15), hostPort: z.number().int().min(1).max(65535), containerPort: z.number().int().min(1).max(65535) }).strict()).max(64),
  }),
  podEvent('vm.booting', { host: idToken, vm: idToken, driver: z.string().min(1), deadline: z.number().int().nonnegative() }),
  // vmmMs: the hypervisor process starting; guestMs: kernel + agent until the agent answers (drivers that can tell)
  // v2 (read from 0.8, still written as v1): origin (and the template's key) as vm.origin says them, so that a later
  // release records in vm.booted itself which way the VM came up
  podEvent('vm.booted', { vm: idToken, bootMs: z.number().nonnegative(), vmmMs: z.number().nonnegative().optional(), guestMs: z.number().nonnegative().optional(), origin: z.enum(['cold', 'template', 'pool']).optional(), template: z.string().regex(/^[a-f0-9]{16}$/).optional() }),
  // which way the VM came up, just before its vm.booted: booted from its kernel, restored from a template (its key), or
  // taken from a pool; why: why it booted cold although templates were on. A type of its own, not a field of vm.booted:
  // daemons before 0.8 skip a type they do not know (and fold on), where they would refuse vm.booted with a new field
  podEvent('vm.origin', { vm: idToken, origin: z.enum(['cold', 'template', 'pool']), template: z.string().regex(/^[a-f0-9]{16}$/).optional(), why: z.string().max(2000).optional() }),
  podEvent('vm.failed', { vm: idToken.nullable(), reason }),
  podEvent('vm.exited', { vm: idToken, reason }),
  // a daemon took over a running VM after a restart (resync: the agent reported its processes; too-old: an agent that cannot)
  podEvent('vm.attached', { vm: idToken, daemon: z.string().min(1).max(64), resync: z.enum(['resynced', 'too-old']), processes: z.number().int().nonnegative() }),
  // the daemon let go of a VM that keeps running (it stopped without stopping its pods)
  podEvent('vm.detached', { vm: idToken, reason }),
  podEvent('agent.ready', { version: z.string().min(1).max(64) }),
  podEvent('agent.failed', { reason }),
  // containers
  podEvent('container.started', { container: containerName, pid: z.number().int().nonnegative() }),
  podEvent('container.failed', { container: containerName, reason }),
  podEvent('container.exited', { container: containerName, exitCode: z.number().int().min(0).max(255) }),
  // the guest's kernel killed the container's process for its memory limit (its exit, 137, follows)
  podEvent('container.oom', { container: containerName }),
  // ends
  podEvent('pod.stopped', { reason: z.string().max(4000).optional() }),
  // a process run into a running container with `hyper exec` (an exec session): who ran what and how it ended; the pod's
  // state never changes for them (the fold ignores them), they are the audit record of who entered a pod
  // the host delivered a kill request's signal (to these containers): the request is done, and never delivered again
  podEvent('pod.killed', { intent: z.string().min(1).max(200), signal: z.number().int().min(1).max(64), containers: z.array(containerName).max(64) }),
  podEvent('exec.started', { session: execSession, container: containerName, command: z.array(z.string().max(4096)).min(1).max(256), tty: z.boolean(), pid: z.number().int().nonnegative() }),
  podEvent('exec.failed', { session: execSession, container: containerName, command: z.array(z.string().max(4096)).min(1).max(256), reason }),
  podEvent('exec.exited', { session: execSession, exitCode: z.number().int().min(0).max(255), reason: reason.optional() }),
  // files copied out of a container (from) or into it (to) by hyper cp: an exec of the agent's own tar tools, recorded as what it is
  podEvent('copy.started', { session: execSession, container: containerName, direction: z.enum(['from', 'to']), path: z.string().min(1).max(4096), pid: z.number().int().nonnegative() }),
  podEvent('copy.failed', { session: execSession, container: containerName, direction: z.enum(['from', 'to']), path: z.string().min(1).max(4096), reason }),
  podEvent('copy.ended', { session: execSession, exitCode: z.number().int().min(0).max(255), reason: reason.optional() }),
  // someone attached to a container's main process (hyper attach, run -i) and when they left: with stdin, they could type into it
  podEvent('attach.started', { session: execSession, container: containerName, stdin: z.boolean() }),
  podEvent('attach.ended', { session: execSession, reason }),
  // a host refused an intent (invalid, or not allowed): its sender sees why; the pod's state does not change
  podEvent('intent.rejected', { intent: z.string().min(1).max(200), intentType: z.string().min(1).max(64), reason, issues: z.array(z.object({ path: z.string(), message: z.string() }).strict()).max(100).optional() }),
] as const;

export type PodEventType = (typeof podEventSchemas)[number]['shape']['type']['value'];
export type PodEvent = z.infer<(typeof podEventSchemas)[number]>;
export type PodEventOf<T extends PodEventType> = Extract<PodEvent, { type: T }>;
