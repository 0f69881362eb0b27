// The QMP client against the real guest's QEMU: status, events, and typed errors for refused commands and dead sockets.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../../src/guest/wire.js';
import type { QemuVm } from '../../../src/drivers/qemu/launch.js';
import { QmpClient, QmpCommandError, QmpError } from '../../../src/drivers/qemu/qmp.js';
import { bootGuest } from '../../harness/guest.js';

let vm: QemuVm;
let dir: string;

beforeAll(async () => {
  ({ vm, dir } = await bootGuest());
}, 60_000);
afterAll(async () => {
  await vm?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('qmp client', () => {
  it('has negotiated capabilities and reports the VM running', async () => {
    expect(vm.qmp.version).toMatchObject({ qemu: { major: expect.any(Number) } });
    expect(await vm.qmp.execute('query-status')).toMatchObject({ status: 'running', running: true });
  });

  it('delivers events: STOP and RESUME when the guest is paused and resumed', async () => {
    const seen: string[] = [];
    const off = vm.qmp.on('*', (e) => seen.push(e.event));
    const stopped = vm.qmp.nextEvent('STOP');
    await vm.qmp.execute('stop');
    expect((await stopped).timestamp?.seconds).toBeGreaterThan(0);
    expect(await vm.qmp.execute('query-status')).toMatchObject({ status: 'paused', running: false });
    const resumed = vm.qmp.nextEvent('RESUME');
    await vm.qmp.execute('cont');
    await resumed;
    off();
    expect(seen).toEqual(['STOP', 'RESUME']);
    expect((await vm.agent.ping()).version).toBe(PROTOCOL_VERSION);
  });

  it('answers commands in flight at once each with its own reply', async () => {
    const [status, name, cpus] = await Promise.all([vm.qmp.execute('query-status'), vm.qmp.execute('query-name'), vm.qmp.execute<unknown[]>('query-cpus-fast')]);
    expect(status).toMatchObject({ running: true });
    expect(name).toEqual({});
    expect(cpus).toHaveLength(1);
  });

  it('types QEMU errors: class, description, command and socket', async () => {
    const err = await vm.qmp.execute('no-such-command').catch((e) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect(err).toBeInstanceOf(QmpError);
    expect(err).toMatchObject({ code: 'qmp-command', qemuClass: 'CommandNotFound', command: 'no-such-command', socketPath: join(dir, 'vm', 'qmp.sock') });
    expect(err.message).toMatch(/QEMU refused QMP command no-such-command on .*qmp\.sock: CommandNotFound: The command no-such-command has not been found/);
    const bad = await vm.qmp.execute('device_del', { id: 'nope' }).catch((e) => e);
    expect(bad).toMatchObject({ qemuClass: 'DeviceNotFound', command: 'device_del' });
    // the connection survives refusals
    expect(await vm.qmp.execute('query-status')).toMatchObject({ running: true });
  });

  it('fails to connect to a missing socket with a QmpError naming it', async () => {
    const path = join(dir, 'nothing.sock');
    const err = await QmpClient.connect(path, { timeoutMs: 100 }).catch((e) => e);
    expect(err).toBeInstanceOf(QmpError);
    expect(err.code).toBe('qmp-connect');
    expect(err.message).toContain(path);
  });

  it('sees SHUTDOWN when the guest powers off, then rejects commands on the closed socket', async () => {
    const shutdown = vm.qmp.nextEvent('SHUTDOWN');
    const qmp = vm.qmp;
    expect(await vm.stop()).toBe('agent');
    expect((await shutdown).data).toMatchObject({ guest: true });
    await qmp.closed;
    await expect(qmp.execute('query-status')).rejects.toMatchObject({ code: 'qmp-closed' });
  });
});
