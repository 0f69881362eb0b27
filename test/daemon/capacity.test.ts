// What a host offers when not told: cores × the CPU overcommit ratio, 90% of RAM × the memory one; bad ratios refused by name.
import { cpus, totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OVERCOMMIT, defaultCapacity } from '../../src/daemon/daemon.js';
import { daemonCommand } from '../../src/daemon/command.js';

const ramMb = totalmem() / 1024 / 1024;

describe('a host\'s default capacity', () => {
  it('offers 16 vCPUs per core and 90% of its RAM by default (idle vCPUs cost little; memory is committed one for one)', () => {
    expect(DEFAULT_OVERCOMMIT).toEqual({ cpu: 16, memory: 1 });
    expect(defaultCapacity()).toEqual({ cpus: cpus().length * 16, memoryMb: Math.floor(ramMb * 0.9) });
  });

  it('follows the ratios it is given', () => {
    expect(defaultCapacity({ cpuOvercommit: 4, memoryOvercommit: 1.5 })).toEqual({ cpus: cpus().length * 4, memoryMb: Math.floor(ramMb * 0.9 * 1.5) });
  });

  it('hyperd refuses a ratio it cannot use, naming the flag', async () => {
    const cmd = daemonCommand('hyperd').exitOverride().configureOutput({ writeErr: () => {} });
    cmd.action(() => {});
    await expect(cmd.parseAsync(['--cpu-overcommit', '0'], { from: 'user' })).rejects.toThrow(/--cpu-overcommit: "0" is not a ratio from 0.1 to 100/);
    await expect(cmd.parseAsync(['--memory-overcommit', 'lots'], { from: 'user' })).rejects.toThrow(/--memory-overcommit: "lots" is not a ratio/);
  });

  it('hyperd refuses a memory accounting or a measuring interval it cannot use, naming the flag', async () => {
    const cmd = daemonCommand('hyperd').exitOverride().configureOutput({ writeErr: () => {} });
    cmd.action(() => {});
    await expect(cmd.parseAsync(['--memory-accounting', 'guessed'], { from: 'user' })).rejects.toThrow(/--memory-accounting: "guessed" is not measured or committed/);
    await expect(cmd.parseAsync(['--measure-every', '5ms'], { from: 'user' })).rejects.toThrow(/--measure-every: "5ms" is not a duration of at least 200ms/);
  });
});
