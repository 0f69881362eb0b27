// Starts one QEMU microvm with our kernel and initramfs, the agent's virtio-serial channel, 9p shares and a console log;
// connects to the agent. The QEMU driver (issue 4) builds on this; tests use it to boot the real guest.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { DriverError } from '../../errors.js';
import { AgentClient } from '../../guest/agent-client.js';

export interface QemuOptions {
  kernel: string;
  initrd: string;
  /** A fresh directory for the agent socket and the console log. */
  workDir: string;
  cpus?: number;
  memoryMb?: number;
  accel?: 'tcg' | 'kvm';
  /** Host directories shared over virtio-9p; the guest mounts them by tag. */
  shares?: { tag: string; path: string }[];
  /** Read-only block devices (raw or EROFS images), /dev/vda, /dev/vdb… in order. */
  disks?: string[];
  binary?: string;
  bootTimeoutMs?: number;
  /** CPU model (default: host under KVM, max under TCG). */
  cpuModel?: string;
  /** Extra kernel command-line words. */
  append?: string[];
}

export interface QemuVm {
  proc: ChildProcess;
  agent: AgentClient;
  /** ms from spawning QEMU to the agent's first answer. */
  readyMs: number;
  consoleLog: string;
  consoleTail(lines?: number): string;
  /** Asks the agent to power off; kills QEMU if it has not exited after graceMs. */
  stop(graceMs?: number): Promise<void>;
  kill(): void;
  exited: Promise<number | null>;
}

/** Kernel command line: quiet, no delay-loop calibration (lpj), reset by triple fault on panic or reboot (QEMU's -no-reboot turns it into an exit). */
export const KERNEL_CMDLINE = ['console=ttyS0', 'quiet', 'panic=-1', 'reboot=t', 'lpj=4000000', 'tsc=reliable', 'no_timer_check', '8250.nr_uarts=1', 'random.trust_cpu=on', 'rdinit=/init'];

/**
 * Under software emulation, calibrating the local APIC timer against the PIT costs ~250 ms of boot. A single-vCPU guest
 * needs no per-CPU timer (the PIT drives its ticks), so skip it there; SMP guests and KVM keep the LAPIC timer.
 */
function tcgTuning(o: QemuOptions): string[] {
  return o.accel !== 'kvm' && (o.cpus ?? 1) === 1 ? ['nolapic_timer'] : [];
}

export function qemuArgs(o: QemuOptions): string[] {
  const sock = join(o.workDir, 'agent.sock');
  const args = [
    // keep the RTC: without it the kernel's boot-time CMOS read waits up to a second for an update-in-progress bit
    '-M', 'microvm,x-option-roms=off,isa-serial=on,acpi=off',
    '-accel', o.accel === 'kvm' ? 'kvm' : 'tcg,tb-size=64',
    '-cpu', o.cpuModel ?? (o.accel === 'kvm' ? 'host' : 'max'),
    '-smp', String(o.cpus ?? 1),
    '-m', String(o.memoryMb ?? 128),
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', [...KERNEL_CMDLINE, ...tcgTuning(o), ...(o.append ?? [])].join(' '),
    '-serial', `file:${join(o.workDir, 'console.log')}`,
    // port 0 is reserved for a console; every extra port costs the guest ~128 KB of receive buffers (31 by default)
    '-device', 'virtio-serial-device,max_ports=2',
    '-chardev', `socket,id=agent,path=${sock},server=on,wait=off`,
    '-device', 'virtserialport,chardev=agent,name=hyper.agent',
    '-device', 'virtio-rng-device',
  ];
  (o.shares ?? []).forEach((s, i) => {
    args.push('-fsdev', `local,id=fs${i},path=${s.path},security_model=none`, '-device', `virtio-9p-device,fsdev=fs${i},mount_tag=${s.tag}`);
  });
  (o.disks ?? []).forEach((d, i) => {
    args.push('-drive', `id=disk${i},file=${d},format=raw,if=none,readonly=on`, '-device', `virtio-blk-device,drive=disk${i}`);
  });
  return args;
}

export async function launchQemu(o: QemuOptions): Promise<QemuVm> {
  for (const f of [o.kernel, o.initrd]) if (!existsSync(f)) throw new DriverError('missing', `cannot boot: ${f} does not exist — build the guest with: npm run build:guest`);
  mkdirSync(o.workDir, { recursive: true });
  const binary = o.binary ?? 'qemu-system-x86_64';
  const consoleLog = join(o.workDir, 'console.log');
  const t0 = performance.now();
  const proc = spawn(binary, qemuArgs(o), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => { if (stderr.length < 65536) stderr += b.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const consoleTail = (lines = 20) => {
    try {
      return readFileSync(consoleLog, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const failure = (what: string) =>
    new DriverError('boot', `${what} (qemu pid ${proc.pid})\n--- qemu stderr ---\n${stderr.trim() || '(empty)'}\n--- guest console (last lines) ---\n${consoleTail() || '(empty)'}`);
  let spawnError: Error | null = null;
  proc.once('error', (err) => (spawnError = err));

  const timeout = o.bootTimeoutMs ?? 20_000;
  const deadline = Date.now() + timeout;
  let socket: Socket | null = null;
  while (!socket) {
    if (spawnError) throw new DriverError('spawn', `could not start ${binary}: ${(spawnError as Error).message} — install it with: apt-get install qemu-system-x86`);
    if (proc.exitCode !== null) throw failure(`qemu exited with code ${proc.exitCode} before the agent answered`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw failure(`the agent socket did not appear within ${timeout} ms`);
    }
    socket = await new Promise<Socket | null>((resolve) => {
      const s = connect(join(o.workDir, 'agent.sock'));
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(null));
    });
    if (!socket) await new Promise((r) => setTimeout(r, 5));
  }
  const agent = new AgentClient(socket, socket);
  try {
    await Promise.race([
      agent.waitReady(Math.max(1, deadline - Date.now())),
      exited.then((code) => { throw failure(`qemu exited with code ${code} while booting`); }),
    ]);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err instanceof DriverError ? err : failure(`the guest agent did not answer within ${timeout} ms: ${(err as Error).message}`);
  }
  const readyMs = performance.now() - t0;
  // clones of one VM image must not share randomness: every guest gets fresh entropy from the host first
  await agent.reseed(randomBytes(64)).catch((err) => {
    proc.kill('SIGKILL');
    throw failure(`reseeding the guest RNG failed: ${(err as Error).message}`);
  });
  return {
    proc, agent, readyMs, consoleLog, consoleTail, exited,
    kill: () => proc.kill('SIGKILL'),
    async stop(graceMs = 3_000) {
      if (proc.exitCode !== null) return;
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await agent.shutdown().catch(() => {});
      await exited;
      clearTimeout(timer);
      socket!.destroy();
    },
  };
}
