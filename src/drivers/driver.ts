// The hypervisor driver interface the actors own, in the shape of Kata's hypervisor trait: VM lifecycle (create, boot,
// attach, stop), devices as a closed union, the guest channel, and capabilities the host actor checks before work starts.
import { DriverError } from '../errors.js';

export interface Capabilities {
  /** VMs run detached from hyperd and a restarted daemon re-attaches to them (their pods outlive the daemon). */
  reattach: boolean;
  /** Real hardware isolation (false for the hollow driver, which runs nothing): announced in host.joined as `hollow`. */
  isolation: boolean;
  /** The most vCPUs and memory one VM may have. */
  maxCpus: number;
  maxMemoryMb: number;
}

/** What a VM is given besides its CPUs and memory. A closed union: a backend handles every kind or refuses it up front. */
export type Device =
  | { kind: 'disk'; path: string; readonly: true; /** the image reference it carries, and its id */ image: string; imageId: string; guestPath: string }
  | { kind: 'share'; tag: string; path: string }
  /** A named volume's disk image, attached read-write (or read-only) as /dev/vdX. */
  | { kind: 'volume'; name: string; path: string; readonly: boolean; guestPath: string }
  /** The pod's NIC: a tap on the host's bridge, or user-mode networking with port forwards (unprivileged hosts). */
  | { kind: 'nic'; mode: 'tap'; tap: string; mac: string }
  | { kind: 'nic'; mode: 'user'; mac: string; forwards: { protocol: 'tcp' | 'udp'; hostIp: string; hostPort: number; containerPort: number }[] };

export interface VmConfig {
  id: string;
  podId: string;
  /** The pod's run this VM belongs to: a VM is owned by a run, never by a daemon. */
  run: number;
  cpus: number;
  memoryMb: number;
  labels: Record<string, string>;
  /** Image references of the pod's containers: a backend that shares root filesystems at boot needs them up front. */
  images: string[];
  /** Its network interface, if it has one (a pod with network none, or on a host without a pod network, has only lo). */
  nic?: Extract<Device, { kind: 'nic' }>;
  /**
   * Settles when the host side of the NIC (its tap) is made, or fails saying why it cannot be: the runner makes it while
   * the VM starts. A driver waits for it before the NIC is first used (a command line naming the tap, or plugging it).
   */
  nicReady?: Promise<void>;
  /** Host directories its containers mount (-v): each shared into the guest once. */
  volumes?: string[];
  /** Named volumes its containers mount: each attached once, read-only if every mount of it is. */
  namedVolumes?: { name: string; readonly: boolean }[];
  /** Whose named volumes they are. */
  tenant?: string;
}

export interface ContainerLaunch {
  name: string;
  image: string;
  /** Host directories shared into it (the VM was given each as a share at boot). */
  volumes?: { source: string; target: string; readonly: boolean }[];
  /** Files written into it before it starts (a source is read on this host). */
  files?: { path: string; content?: string; source?: string; mode?: number }[];
  /** Its own limits inside the VM (a cgroup of its own): memory in MB, CPU in vCPUs. */
  limits?: { memoryMb?: number; cpus?: number };
  /** Overrides the image's Entrypoint (Kubernetes' `command`). */
  command?: string[];
  /** Overrides the image's Cmd (Kubernetes' `args`; what follows the image on `hyper run`). */
  args?: string[];
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  tty: boolean;
}

/** What the guest said about one of its processes when a host re-attached. */
export interface GuestProcess {
  container: string;
  main: boolean;
  pid: number;
  state: 'running' | 'exited';
  exitCode?: number;
  exitedAtMs?: number;
  /** Bytes the process wrote to stdout / stderr so far (all of it, for an exited process). */
  outBytes: number;
  errBytes: number;
}

/** How the guest's NIC is set up: its address, the gateway as default route, DNS, and the names /etc/hosts gives. */
export interface GuestNetwork {
  address: string;
  prefix: number;
  gateway: string;
  mtu: number;
  dns: string[];
  search: string[];
  /** "ip name…" lines for /etc/hosts (the pod's own name and its containers', its neighbours'). */
  hosts: string[];
}

/** What a guest uses as a whole: memory in bytes; CPU time of all its vCPUs since boot in ms (busy, and in all); uptime in ms. */
export interface GuestStats {
  memTotal: number;
  memAvailable: number;
  cpuMs: number;
  cpuTotalMs: number;
  cpus: number;
  uptimeMs: number;
  /** Processes the agent started (containers' and exec'd) still running. */
  processes: number;
}

/** One process of a container as the guest's /proc shows it: CPU time (user + system) in ms, resident memory in bytes. */
export interface ContainerProcess {
  container: string;
  pid: number;
  ppid: number;
  uid: number;
  cpuMs: number;
  rss: number;
  /** Guest realtime (ms since the epoch) when it started. */
  startedAtMs: number;
  command: string;
}

/** The processes of a pod's containers at one moment (guest realtime), and how many were left out when there were too many. */
export interface GuestProcessList { atMs: number; processes: ContainerProcess[]; omitted?: string }

/** The host's side of the guest agent: requests with replies, plus asynchronous output and exit events. */
export interface GuestChannel {
  readonly version: string;
  /** The guest kernel's boot id: unchanged across a re-attach, new for a new VM. */
  readonly bootId: string | null;
  /** After a re-attach: what the guest reported about each process (null for a VM this daemon booted). */
  readonly resynced: GuestProcess[] | null;
  /** Pod-wide settings, once, before any container: the hostname its containers see, and its network if it has one. */
  configurePod(o: { hostname: string; network?: GuestNetwork }): Promise<void>;
  startContainer(c: ContainerLaunch): Promise<{ pid: number }>;
  signal(container: string, signal: number): Promise<void>;
  /** reason: why the guest says it ended, when it knows ("OOM killed": its container's memory limit). */
  onContainerExit(listener: (container: string, exitCode: number, reason?: string) => void): void;
  /** Output of containers' main processes, in order per stream, stdout (1) and stderr (2), with the offset of its first byte. */
  onContainerOutput(listener: (container: string, stream: 1 | 2, data: Uint8Array, offset: number) => void): void;
  /** The host stored this stream durably up to offset: the guest may free it. */
  ack(container: string, stream: 1 | 2, offset: number): void;
  /** The host recorded this container's exit: the guest may forget it (its name becomes free for a restart). */
  release(container: string): Promise<void>;
  /**
   * Runs one more process in a running container (`hyper exec`), named `process`: its output and exit come through the
   * same listeners as a container's, under that name, and are acknowledged and released the same way.
   */
  exec(x: ExecLaunch): Promise<{ pid: number }>;
  /** Bytes for a process's stdin; resolves once the guest buffered them (false: its buffer is full, send again later). Empty: EOF. */
  stdin(process: string, data: Uint8Array): Promise<boolean>;
  resize(process: string, rows: number, cols: number): Promise<void>;
  /** A signal to any process by name (a container's main process, or an exec'd one). */
  signalProcess(process: string, signal: number): Promise<void>;
  /** What the VM uses now (`hyper stats`). */
  stats(): Promise<GuestStats>;
  /** The processes of every container, or of one (`hyper top`). */
  processes(container?: string): Promise<GuestProcessList>;
  close(): void;
}

/** What `hyper exec` runs: a command in a container as launched (its image's and spec's environment are the defaults). */
export interface ExecLaunch {
  container: ContainerLaunch;
  process: string;
  command: string[];
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  tty: boolean;
  rows?: number;
  cols?: number;
  /** command[0] names a tool built into the guest agent (tar-out, tar-in for hyper cp): nothing from the image is run. */
  builtin?: boolean;
}

/** An image a VM was prepared with: which id the reference resolved to, and whether it had to be pulled or converted. */
export interface PreparedImage { image: string; id: string; pulled: boolean; converted: boolean; ms: number }

/** How a VM came up: booted from its kernel, restored from a template, or taken from a pool of restored ones. */
export type VmOrigin = 'cold' | 'template' | 'pool';

export interface Vm {
  readonly id: string;
  /**
   * Fetches what the VM needs before it can boot (images), with no boot deadline; progress as short messages, and
   * onPulling once per image that has to come from a registry.
   */
  prepare?(onProgress: (message: string) => void, onPulling?: (image: string) => Promise<void>): Promise<PreparedImage[]>;
  /**
   * Boots until the guest's kernel is up; rejects with a DriverError carrying the backend's output on failure. May report
   * how the time split between the VMM starting (vmmMs) and the guest booting to its agent (guestMs), and which way it
   * started: booted (cold) or restored from a template, with why it booted cold when templates were on.
   */
  boot(signal: AbortSignal): Promise<{ vmmMs: number; guestMs: number; origin?: VmOrigin; template?: string; why?: string } | void>;
  /** The guest agent's channel (for a re-attached VM: already resynchronised). */
  connectAgent(signal: AbortSignal): Promise<GuestChannel>;
  /** Asks the guest to shut down, forces it after graceMs. Idempotent. */
  stop(graceMs: number): Promise<void>;
  /** Lets go of the VM without stopping it (the daemon exits and leaves its pods running): sockets closed, work dir kept. */
  detach(): void;
  /** Called once if the VM ends by itself (crash, guest poweroff), not after stop() or detach(). */
  onExit(listener: (reason: string) => void): void;
}

/** A VM found on this host at start: what its work dir recorded, and whether its hypervisor process still runs. */
export interface FoundVm {
  id: string;
  pod: string | null;
  run: number | null;
  alive: boolean;
  /** For a dead or unreadable VM: what happened, for the fact that reports it. */
  why?: string;
}

export interface Driver {
  readonly name: string;
  readonly capabilities: Capabilities;
  createVm(config: VmConfig): Vm;
  /** The VMs of this driver's work dirs on this host, alive or not (never another data dir's). */
  list(): Promise<FoundVm[]>;
  /** Re-attaches to a VM found alive by list(): hypervisor control and the agent channel reconnected and resynced. */
  attach(found: FoundVm, o?: { timeoutMs?: number }): Promise<Vm>;
  /** Stops a VM found by list() that no current run owns, and removes its work dir. */
  destroy(found: FoundVm): Promise<void>;
  /**
   * Drivers whose VMs outlive the daemon: make sure something that outlives it too stops them once the lease file
   * (actors/host/lease-file.ts) says the lease ran out, so a killed daemon's VMs never run beside their replacements.
   */
  guardFencing?(leaseFile: string): void;
  /**
   * Gets ready, in the background, for the pods most likely to come (the default size; with or without a NIC): a
   * driver that starts VMs from templates makes that template now rather than at the first pod.
   */
  prepare?(o: { cpus: number; memoryMb: number; nic: boolean }): void;
  /**
   * What each of its VMs really takes, in MB by VM id: the memory of its host processes, with pages they share (a
   * template's, a binary's) divided among them (Linux's PSS). Drivers whose VMs take no host memory of their own leave it
   * out, and the host's capacity counts what VMs are given.
   */
  measureMemory?(): Promise<Map<string, number>>;
  /** Memory the driver holds for VMs not yet a pod's (a pool of ready VMs): the host offers that much less. */
  readonly reservedMemoryMb?: number;
  /** Lets go of what does not outlive the daemon (a pool's ready VMs); pods' VMs keep running. */
  close?(): Promise<void>;
}

export function unsupported(driver: string, what: string): DriverError {
  return new DriverError('unsupported', `the ${driver} driver cannot ${what} — use a driver whose capabilities include it (hyper info lists them)`);
}

/** Why a driver cannot run a VM of this size, or null: checked by the host before anything is booted. */
export function refusal(d: Pick<Driver, 'name' | 'capabilities'>, c: { cpus: number; memoryMb: number }): DriverError | null {
  if (c.cpus > d.capabilities.maxCpus) return unsupported(d.name, `run a VM with ${c.cpus} vCPUs (at most ${d.capabilities.maxCpus})`);
  if (c.memoryMb > d.capabilities.maxMemoryMb) return unsupported(d.name, `run a VM with ${c.memoryMb} MB (at most ${d.capabilities.maxMemoryMb} MB)`);
  return null;
}
