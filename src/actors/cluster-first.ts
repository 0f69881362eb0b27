// Cluster work before local work: while this daemon holds a backlog of intents to accept, its pods wait a moment before
// booting, so a burst is accepted and placed at full speed (placements reach every host) instead of trickling in behind
// the VMs of the pods already placed here. The wait is bounded, so no pod starves behind a sustained flood.

export class ClusterFirst {
  private inHand = 0;
  private waiters: (() => void)[] = [];

  constructor(
    /** Intents in hand up to this are no backlog: at a steady rate a few are always in flight. */
    private readonly backlog = 64,
    /** The longest a pod's boot waits for the backlog to clear. */
    private readonly maxWaitMs = 2_000,
  ) {}

  /** The acceptor says how many intents it holds now. */
  holding(n: number): void {
    this.inHand = n;
    if (n <= this.backlog && this.waiters.length) {
      const w = this.waiters;
      this.waiters = [];
      for (const r of w) r();
    }
  }

  /** Nothing when there is no backlog; else a promise resolved once it is cleared, or after maxWaitMs. */
  turn(): Promise<void> | undefined {
    if (this.inHand <= this.backlog) return undefined;
    return new Promise<void>((resolve) => {
      const go = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== go);
        resolve();
      }, this.maxWaitMs);
      this.waiters.push(go);
    });
  }
}
