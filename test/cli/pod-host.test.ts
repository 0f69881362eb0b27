// A pod whose host cannot answer: exec, cp, top, stats and attach say what happened to the host (its hyperd stopped and
// left its VMs, or it was lost) from the folded view, and a daemon that died without a word is reported at once rather
// than after a request's timeout. The view is folded from a recorded log; the dead daemon is a real hyperd (hollow).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostProblem } from '../../src/cli/pod-host.js';
import { decodeRecord } from '../../src/events/store/event-store.js';
import { ClusterView } from '../../src/model/cluster-view.js';
import { startTestNats } from '../harness/nats.js';
import { hyper, startHyperd } from '../harness/processes.js';
import { podState } from '../harness/qemu.js';

const lines = readFileSync(new URL('../fixtures/hyper-0.7.0-lifecycle.events.jsonl', import.meta.url), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; subject: string; payload: string });

describe('hostProblem', () => {
  it('nothing while the host is up; its hyperd stopped (host.left) named with what to do', () => {
    const v = new ClusterView();
    for (const l of lines.slice(0, 7)) v.apply(decodeRecord(l.seq, l.subject, l.payload), true); // web runs on rec-h1
    const web = [...v.pods.values()].find((p) => p.context.name === 'web')!;
    expect(web.state).toBe('running');
    expect(hostProblem(v, web, 'exec')).toBeNull();
    const left = lines.find((l) => l.payload.includes('"host.left"'))!;
    v.apply(decodeRecord(8, left.subject, left.payload), false);
    expect(hostProblem(v, web, 'exec')).toBe('pod web is on host rec-h1, whose hyperd has stopped (its VM runs on without it): start hyperd on rec-h1 again to exec');
    const elsewhere = { ...web, context: { ...web.context, host: 'nowhere' } };
    expect(hostProblem(v, elsewhere, 'copy')).toBeNull(); // a tenant's view has no hosts: the request finds out
  });
});

describe('a pod whose hyperd was killed (no word in the log)', () => {
  it('exec, top and cp fail at once, naming the host and what to check', async () => {
    const t = await startTestNats();
    try {
      const env = { HYPER_NATS: t.server.url };
      const d = startHyperd(['--nats', t.server.url, '--host-id', 'gone-h1', '--data-dir', join(t.dir, 'd'), '--cpus', '8', '--memory', '4096']);
      await d.ready;
      expect((await hyper(['run', '-d', '--name', 'orphan', 'busybox', 'sleep', '1000'], env)).exitCode).toBe(0);
      for (let i = 0; i < 40 && (await podState('orphan', env)).state !== 'running'; i++) await new Promise((r) => setTimeout(r, 100));
      await d.stop('SIGKILL');
      const started = Date.now();
      const exec = await hyper(['exec', 'orphan', 'true'], env);
      expect(exec.exitCode).toBe(125);
      expect(exec.stderr).toMatch(/^hyper: host gone-h1, which runs pod \w+, did not answer \(.*\): is its hyperd running\? hyper hosts shows its lease$/);
      const top = await hyper(['top', 'orphan'], env);
      expect(top.exitCode).toBe(1);
      expect(top.stderr).toContain('host gone-h1, which runs pod');
      const cp = await hyper(['cp', 'orphan:/etc/passwd', t.dir], env);
      expect(cp.exitCode).toBe(1);
      expect(cp.stderr).toContain('did not answer');
      expect(Date.now() - started).toBeLessThan(10_000); // nobody listens: NATS says so at once, no 15 s timeout
    } finally {
      t.close();
    }
  }, 60_000);
});
