// The public surface of event schemas: the union of all events, a parser with field-path errors, and the event builder.
import { z } from 'zod';
import { ValidationError } from '../../errors.js';
import { dataForWrite, readsVersion, upcast, writesVersion } from './versions.js';
import { podEventSchemas, type PodEvent, type PodEventType, type PodEventOf } from './pod-events.js';
import { hostEventSchemas, type HostEvent } from './host-events.js';
import { tenantEventSchemas, type TenantEvent } from './tenant-events.js';
import { compile } from './fast-check.js';

export { PodSpec, ContainerSpec, RestartPolicy, type PodSpecInput } from './pod-spec.js';
export { Capacity } from './host-events.js';
export { TenantPolicy } from './tenant-events.js';
export { idToken, tenantName, EVENT_VERSION } from './envelope.js';
export { mayWrite, readsVersion, writesVersion, versionToWrite, EVENT_VERSIONS } from './versions.js';
export type { PodEvent, PodEventType, PodEventOf, HostEvent, TenantEvent };

export const HyperEvent = z.discriminatedUnion('type', [...podEventSchemas, ...hostEventSchemas, ...tenantEventSchemas]);
export type HyperEvent = PodEvent | HostEvent | TenantEvent;
export type HyperEventType = HyperEvent['type'];

export function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

const KNOWN_TYPES = new Set<string>([...podEventSchemas, ...hostEventSchemas, ...tenantEventSchemas].map((s) => s.shape.type.value));

/** The compiled checks of the event types whose schemas compile (fast-check.ts), by type. */
const FAST = new Map<string, (v: unknown) => boolean>();
for (const s of [...podEventSchemas, ...hostEventSchemas, ...tenantEventSchemas]) {
  const c = compile(s as unknown as z.ZodType);
  if (c) FAST.set(s.shape.type.value, c);
}
/** Which types replay checks without zod (for tests and benchmarks). */
export const FAST_CHECKED: ReadonlySet<string> = new Set(FAST.keys());
/** Whether the compiled check alone accepts this (current-version) event; false also for types it does not check. */
export const fastValid = (raw: unknown): boolean => FAST.get((raw as { type?: string } | null)?.type ?? '')?.(raw) ?? false;

/** An event of a type, or of a version of its type, that this build does not know: it was written by a newer hyper. */
export interface Newer { type: string; v: number; reads: number | null }

export type ParsedEvent = { ok: true; event: HyperEvent } | { ok: false; issues: { path: string; message: string }[]; newer?: Newer };

/** Validates anything as an event, older versions of its type upcast to the one this build reads (versions.ts). */
export function safeParseEvent(raw: unknown): ParsedEvent {
  const type = (raw as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && !KNOWN_TYPES.has(type)) {
    const v = Number((raw as { v?: unknown }).v) || 0;
    return { ok: false, newer: { type, v, reads: null }, issues: [{ path: 'type', message: `unknown event type "${type}" (this hyper knows ${KNOWN_TYPES.size}): written by a newer hyper, or by a client that is not hyper` }] };
  }
  const u = upcast(raw);
  if (!u.ok) return { ok: false, newer: u.newer, issues: [{ path: 'v', message: `${u.newer.type} version ${u.newer.v} is newer than this hyper reads (up to ${u.newer.reads}): written by a newer hyper — upgrade this one` }] };
  // most stored events pass the compiled check, which zod would return unchanged; the rest (and every error) are zod's
  const fast = FAST.get(typeof type === 'string' ? type : '');
  if (fast && fast(u.raw)) return { ok: true, event: u.raw as HyperEvent };
  const r = HyperEvent.safeParse(u.raw);
  return r.success ? { ok: true, event: r.data as HyperEvent } : { ok: false, issues: issuesOf(r.error) };
}

/** Validates anything as an event; throws ValidationError naming each bad field. */
export function parseEvent(raw: unknown): HyperEvent {
  const r = safeParseEvent(raw);
  if (!r.ok) throw new ValidationError('event', r.issues);
  return r.event;
}

type Meta = { id: string; at: number; by: string; causation?: string; correlation?: string };

/**
 * Builds a pod event; the data is validated when it is appended. `tenant` is the pod's (null: a pod created before 0.3,
 * whose events keep the old subject layout and carry no tenant).
 */
export function podEvent<T extends PodEventType>(type: T, pod: string, data: z.input<Extract<(typeof podEventSchemas)[number], { shape: { type: z.ZodLiteral<T> } }>>['data'], meta: Meta & { tenant?: string | null; v?: number }): PodEventOf<T> {
  // built field by field: rest-and-spread over metas of many shapes was 3% of a busy daemon's CPU
  const e: Record<string, unknown> = { id: meta.id, at: meta.at, by: meta.by };
  if (meta.causation !== undefined) e.causation = meta.causation;
  if (meta.correlation !== undefined) e.correlation = meta.correlation;
  // data comes in the shape this build reads; an older version written (the type's default, or meta.v) gets its shape
  const v = meta.v ?? writesVersion(type);
  e.v = v;
  e.type = type;
  e.pod = pod;
  if (meta.tenant) e.tenant = meta.tenant;
  e.data = v >= readsVersion(type) ? data : dataForWrite(type, data as Record<string, unknown>, v);
  return e as unknown as PodEventOf<T>;
}

export function tenantEvent<T extends TenantEvent['type']>(type: T, tenant: string, data: z.input<Extract<(typeof tenantEventSchemas)[number], { shape: { type: z.ZodLiteral<T> } }>>['data'], meta: Meta): Extract<TenantEvent, { type: T }> {
  return { ...meta, v: writesVersion(type), type, tenant, data } as unknown as Extract<TenantEvent, { type: T }>;
}

export function hostEvent<T extends HostEvent['type']>(type: T, host: string, data: Extract<HostEvent, { type: T }>['data'], meta: Meta): Extract<HostEvent, { type: T }> {
  return { ...meta, v: writesVersion(type), type, host, data: dataForWrite(type, data) } as Extract<HostEvent, { type: T }>;
}

export function isPodEvent(e: HyperEvent): e is PodEvent {
  return 'pod' in e;
}
