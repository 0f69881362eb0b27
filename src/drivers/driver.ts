// The hypervisor driver interface the actors own: VM lifecycle, the guest-agent channel, and capabilities a backend must declare up front.
import { DriverError } from '../errors.js';

export interface Capabilities {
  /** VMs keep running when hyperd exits, so a restarted daemon can re-attach. */
  survivesDaemonRestart: boolean;
  /** Real hardware isolation (false for the hollow driver, which runs nothing). */
  isolation: boolean;
  snapshotRestore: boolean;
  cpuHotplug: boolean;
}

export interface VmConfig {
  id: string;
  podId: string;
  cpus: number;
  memoryMb: number;
  labels: Record<string, string>;
  /** Image references of the pod's containers: a backend that shares root filesystems at boot needs them up front. */
  images: string[];
}

export interface ContainerLaunch {
  name: string;
  image: string;
  /** Overrides the image's Entrypoint (Kubernetes' `command`). */
  command?: string[];
  /** Overrides the image's Cmd (Kubernetes' `args`; what follows the image on `hyper run`). */
  args?: string[];
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  tty: boolean;
}

/** The host's side of the guest agent: requests with replies, plus asynchronous exit events. */
export interface GuestChannel {
  readonly version: string;
  /** Pod-wide settings, once, before any container: the hostname its containers see. */
  configurePod(o: { hostname: string }): Promise<void>;
  startContainer(c: ContainerLaunch): Promise<{ pid: number }>;
  signal(container: string, signal: number): Promise<void>;
  onContainerExit(listener: (container: string, exitCode: number) => void): void;
  /** Output of containers' main processes, in order, stdout (1) and stderr (2). */
  onContainerOutput(listener: (container: string, stream: 1 | 2, data: Uint8Array) => void): void;
  close(): void;
}

/** An image a VM was prepared with: which id the reference resolved to, and whether it had to be pulled or converted. */
export interface PreparedImage { image: string; id: string; pulled: boolean; converted: boolean; ms: number }

export interface Vm {
  readonly id: string;
  /**
   * Fetches what the VM needs before it can boot (images), with no boot deadline; progress as short messages, and
   * onPulling once per image that has to come from a registry.
   */
  prepare?(onProgress: (message: string) => void, onPulling?: (image: string) => Promise<void>): Promise<PreparedImage[]>;
  /**
   * Boots until the guest's kernel is up; rejects with a DriverError carrying the backend's output on failure. May report
   * how the time split between the VMM starting (vmmMs) and the guest booting to its agent (guestMs).
   */
  boot(signal: AbortSignal): Promise<{ vmmMs: number; guestMs: number } | void>;
  connectAgent(signal: AbortSignal): Promise<GuestChannel>;
  /** Asks the guest to shut down, forces it after graceMs. Idempotent. */
  stop(graceMs: number): Promise<void>;
  /** Called once if the VM ends by itself (crash, guest poweroff), not after stop(). */
  onExit(listener: (reason: string) => void): void;
}

export interface Driver {
  readonly name: string;
  readonly capabilities: Capabilities;
  createVm(config: VmConfig): Vm;
  /** Ids of the VMs this driver runs now (for re-attaching after a daemon restart). */
  list(): Promise<string[]>;
}

export function unsupported(driver: string, what: string): DriverError {
  return new DriverError('unsupported', `the ${driver} driver cannot ${what} — use a driver whose capabilities include it (hyper info lists them)`);
}
