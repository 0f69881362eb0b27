// `hyper info` without a daemon: drivers, the accelerator verdict with its reason, the guest kernel and initramfs.
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/guest/wire.js';
import { hyper } from '../harness/processes.js';
import { requireGuest } from '../harness/guest.js';

describe('hyper info', () => {
  it('reports drivers, accelerator (with why), kernel and agent, as text and JSON', async () => {
    requireGuest();
    const json = await hyper(['info', '-o', 'json'], { HYPER_NATS: '' });
    expect(json.exitCode).toBe(0);
    const info = JSON.parse(json.stdout);
    expect(info).toMatchObject({ drivers: expect.arrayContaining(['hollow']), agentProtocol: PROTOCOL_VERSION, accelerator: { accel: expect.stringMatching(/^(kvm|tcg)$/), reason: expect.any(String) } });
    expect(info.kernel.bytes).toBeGreaterThan(1_000_000);
    expect(info.kernel.options).toBeGreaterThan(100);
    expect(info.initramfs.bytes).toBeLessThan(512 * 1024);
    const text = await hyper(['info']);
    expect(text.stdout).toMatch(/^accelerator: {2}(kvm|tcg) — .+/m);
  });
});
