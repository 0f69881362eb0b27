// Cluster work before local work: a boot waits while the daemon holds a backlog of intents, until it clears or for a bounded time.
import { describe, expect, it } from 'vitest';
import { ClusterFirst } from '../../src/actors/cluster-first.js';

describe('ClusterFirst', () => {
  it('lets a boot go at once without a backlog (a few intents in hand are none)', () => {
    const g = new ClusterFirst(64, 2_000);
    expect(g.turn()).toBeUndefined();
    g.holding(64);
    expect(g.turn()).toBeUndefined();
  });

  it('holds boots while the backlog lasts and lets them all go when it clears', async () => {
    const g = new ClusterFirst(64, 60_000);
    g.holding(1_000);
    const gone: number[] = [];
    const waits = [1, 2, 3].map((i) => g.turn()!.then(() => gone.push(i)));
    g.holding(500);
    await new Promise((r) => setTimeout(r, 20));
    expect(gone).toEqual([]);
    g.holding(10);
    await Promise.all(waits);
    expect(gone.sort()).toEqual([1, 2, 3]);
  });

  it('never holds a boot longer than its bound, however long the backlog lasts', async () => {
    const g = new ClusterFirst(64, 50);
    g.holding(1_000);
    const t0 = performance.now();
    await g.turn();
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(45);
    expect(waited).toBeLessThan(1_000);
  });
});
