// The VM state file: what a later hyperd (or a later version of it) reads to find a VM again; an unknown format is
// reported with what to do, never guessed at.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readVmState, writeVmState, type VmState } from '../../../src/drivers/qemu/state-file.js';
import { tempDir } from '../../harness/nats.js';

const state: VmState = { format: 1, driver: 'qemu', vm: 'p-r1', pod: 'p', run: 1, createdAt: 1, pid: 42, binary: '/usr/bin/qemu-system-x86_64', cpus: 1, memoryMb: 128, agentProtocol: 2, devices: [{ kind: 'disk', path: '/x.erofs', readonly: true, image: 'busybox', imageId: 'sha256:ab', guestPath: '/dev/vda' }] };

describe('VM state file', () => {
  it('round-trips, and says why a missing, broken or future file cannot be used', () => {
    const dir = tempDir('hyper-state-');
    writeVmState(dir, state);
    expect(readVmState(dir)).toEqual({ ok: true, state });
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(readVmState(empty)).toMatchObject({ ok: false, why: expect.stringMatching(/no state\.json/) });
    writeFileSync(join(empty, 'state.json'), '{"format": 2}');
    expect(readVmState(empty)).toMatchObject({ ok: false, why: expect.stringMatching(/format 2, this hyperd reads format 1 — run the hyperd version that started it/) });
    writeFileSync(join(empty, 'state.json'), '{"format": 1, "pod": 3}');
    expect(readVmState(empty)).toMatchObject({ ok: false, why: expect.stringMatching(/lacks pod, run, pid or devices/) });
    writeFileSync(join(empty, 'state.json'), '{not json');
    expect(readVmState(empty)).toMatchObject({ ok: false, why: expect.stringMatching(/unreadable state\.json/) });
  });
});
