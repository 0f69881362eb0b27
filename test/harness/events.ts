// Test helpers that build valid pod events with deterministic ids and times.
import { parseEvent, podEvent, type PodEvent, type PodEventType, type PodSpecInput, PodSpec } from '../../src/events/schemas/mod.js';

let n = 0;
export function ev<T extends PodEventType>(type: T, data: Parameters<typeof podEvent<T>>[2], pod = 'p1', at = 1_000 + n, by = 'test'): PodEvent {
  n++;
  return parseEvent(podEvent(type, pod, data, { id: `${pod}.${type}.${n}`, at, by })) as PodEvent;
}

export function spec(input: Partial<PodSpecInput> = {}): PodSpec {
  return PodSpec.parse({ containers: [{ name: 'main', image: 'busybox' }], ...input });
}
