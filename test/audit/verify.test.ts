// refold against stored snapshots read part by part (format 7's blocks no earlier snapshot held): only those pods are
// compared, the pod count of the whole is checked, and a block's summary (what `state --at` reads) that says otherwise
// than the refold is named.
import { describe, expect, it } from 'vitest';
import { refold, type StoredSnapshot } from '../../src/audit/verify.js';
import { ClusterView } from '../../src/model/cluster-view.js';
import { podSubject } from '../../src/events/schemas/subjects.js';
import type { Record_ } from '../../src/model/record.js';
import { hostJoined, podLifecycle } from '../../bench/lib/dataset.js';
import { encodeParts, summaryPods } from '../../src/events/store/snapshot-codec.js';

function log(): Record_[] {
  const out: Record_[] = [];
  const add = (e: ReturnType<typeof hostJoined>) => out.push({ ok: true, seq: out.length + 1, subject: 'pod' in e ? podSubject({ pod: e.pod as string, tenant: null }) : 'hyper.host.h1', event: e } as Record_);
  add(hostJoined('h1', 1_000));
  for (let i = 0; i < 3; i++) for (const e of podLifecycle(`p${i}`, 'h1', 2_000 + i)) add(e as ReturnType<typeof hostJoined>);
  return out;
}

describe('refold with snapshots stored in parts', () => {
  const records = log();
  const view = new ClusterView();
  for (const r of records) view.apply(r);
  const whole = view.toSnapshot();
  // pod i's summary as format 7 stores it
  const asSummary = (i: number) => summaryPods(encodeParts({ ...whole, pods: [whole.pods[i]] }).blocks[0]!.summary);
  const part = (summaries = asSummary(1), total = 3): StoredSnapshot => ({ source: 'snapshot@end', seq: whole.seq, load: async () => ({ snapshot: { ...whole, pods: [whole.pods[1]] }, part: { ranges: [[1, 2]], total, summaries } }) });

  it('compares only the pods of the part, as the refold has them at those positions', async () => {
    const r = await refold([records], { firstRetained: 1, snapshots: [part()] });
    expect(r.divergences).toEqual([]);
    expect(r.snapshots).toEqual([{ seq: whole.seq, ok: true }]);
  });

  it('names a summary that says otherwise than the refold, and a whole of another size', async () => {
    const lying = asSummary(1);
    lying[0].state = 'running';
    const r = await refold([records], { firstRetained: 1, snapshots: [part(lying, 4)] });
    expect(r.divergences).toContainEqual({ source: 'snapshot@end summary', entity: 'pod p1', seq: whole.seq, field: 'state', expected: whole.pods[1].state, found: 'running' });
    expect(r.divergences).toContainEqual({ source: 'snapshot@end', entity: 'view', seq: whole.seq, field: 'pods', expected: 3, found: 4 });
    expect(r.snapshots).toEqual([{ seq: whole.seq, ok: false }]);
  });
});
