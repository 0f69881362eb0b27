// Event and spec schemas: strict (unknown fields refused by name), versioned, and errors that name the field path.
import { describe, expect, it } from 'vitest';
import { parseEvent, PodSpec, safeParseEvent } from '../../src/events/schemas/mod.js';
import { ValidationError } from '../../src/errors.js';
import { ev, spec } from '../harness/events.js';

describe('event schemas', () => {
  it('accepts a valid event and applies defaults', () => {
    const e = parseEvent({ id: 'x', v: 1, at: 1, by: 'me', type: 'pod.stop.requested', pod: 'p1', data: {} });
    expect(e).toMatchObject({ type: 'pod.stop.requested', data: { graceMs: 10_000 } });
  });

  it('refuses unknown fields, unknown types, other versions and bad subject tokens, naming the path', () => {
    const base = ev('pod.start.requested', {});
    const cases: [unknown, string][] = [
      [{ ...base, extra: 1 }, ''],
      [{ ...base, data: { surprise: true } }, 'data'],
      [{ ...base, type: 'pod.exploded' }, 'type'],
      [{ ...base, v: 2 }, 'v'],
      [{ ...base, pod: 'a.b' }, 'pod'],
      [{ ...ev('container.exited', { container: 'c', exitCode: 1 }), data: { container: 'c', exitCode: 300 } }, 'data.exitCode'],
    ];
    for (const [raw, path] of cases) {
      const r = safeParseEvent(raw);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map((i) => i.path)).toContain(path);
    }
    expect(() => parseEvent({ nonsense: true })).toThrow(ValidationError);
  });
});

describe('pod spec', () => {
  it('fills defaults', () => {
    expect(spec()).toMatchObject({ resources: { cpus: 1, memoryMb: 256 }, restartPolicy: 'never', labels: {} });
  });

  it('names the field and the reason of each problem', () => {
    const r = PodSpec.safeParse({ name: '_bad name', containers: [{ name: 'a', image: '' }, { name: 'a', image: 'x', env: { '1X': 'v' } }], resources: { cpus: 0.5 }, restartPolicy: 'sometimes' });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['name', 'containers.0.image', 'containers.1.env.1X', 'resources.cpus', 'restartPolicy']));
  });

  it("takes docker's container names (compose's proj_web_1) as pod names", () => {
    for (const name of ['proj_web_1', 'Web.2', 'a']) expect(PodSpec.safeParse({ name, containers: [{ name: 'a', image: 'x' }] }).success).toBe(true);
    for (const name of ['-a', '.a', 'a b', 'a/b', 'x'.repeat(129)]) expect(PodSpec.safeParse({ name, containers: [{ name: 'a', image: 'x' }] }).success).toBe(false);
  });

  it('refuses duplicate container names', () => {
    const r = PodSpec.safeParse({ containers: [{ name: 'a', image: 'x' }, { name: 'a', image: 'y' }] });
    expect(r.error?.issues).toEqual([expect.objectContaining({ path: ['containers', 1, 'name'], message: 'duplicate container name "a"' })]);
  });

  it('refuses a pod without containers', () => {
    expect(PodSpec.safeParse({ containers: [] }).error?.issues[0].message).toMatch(/at least one container/);
  });
});
