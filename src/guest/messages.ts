// Typed messages from the guest agent: TLV fields mapped to objects and validated with zod, so the host never acts on a malformed one.
import { z } from 'zod';
import { decodeFields, MSG, ProtocolError, TAG, type Frame } from './wire.js';

const byTag = Object.fromEntries(Object.entries(TAG).map(([k, v]) => [v, k])) as Record<number, keyof typeof TAG>;

function fieldsOf(body: Buffer): Partial<Record<keyof typeof TAG, Buffer[]>> {
  const out: Partial<Record<keyof typeof TAG, Buffer[]>> = {};
  for (const f of decodeFields(body)) {
    const name = byTag[f.tag];
    if (name) (out[name] ??= []).push(f.value); // unknown tags are ignored, as the protocol says
  }
  return out;
}

// above 2^53 a u64 is no longer exact as a number: NaN makes zod refuse it rather than act on a rounded offset
const u64 = (b: Buffer | undefined) => {
  if (!b || b.length !== 8) return undefined;
  const v = b.readBigUInt64BE();
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Number.NaN;
};
const str = (b: Buffer | undefined) => b?.toString('utf8');

const name = z.string().min(1).max(127);
const count = z.number().int().nonnegative();
const position = z.object({ sent: count, acked: count }).refine((p) => p.acked <= p.sent, 'acked is beyond sent');

/** One process as a RESYNC reply lists it. */
export const ProcessEntry = z
  .object({
    process: name,
    container: name,
    main: z.boolean(),
    pid: count,
    state: z.enum(['running', 'exited']),
    exitCode: z.number().int().min(0).max(255).optional(),
    exitedAtMs: count.optional(),
    out: position,
    err: position,
  })
  .refine((e) => (e.state === 'exited') === (e.exitCode !== undefined), 'an exit code comes with state exited, and only then');
export type ProcessEntry = z.infer<typeof ProcessEntry>;

/** One process of a container as a PS reply lists it. */
export const PsEntry = z.object({
  pid: count,
  ppid: count,
  uid: count,
  container: name,
  cpuMs: count,
  rss: count,
  startedAtMs: count,
  command: z.string().max(4096),
});
export type PsEntry = z.infer<typeof PsEntry>;

export const AgentMessage = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ready'), id: z.literal(0), version: z.number().int(), build: z.string().optional(), bootId: z.string().optional() }),
  z.object({ kind: z.literal('output'), id: z.literal(0), process: name, stream: z.union([z.literal(1), z.literal(2)]), offset: count, data: z.instanceof(Buffer) }),
  z.object({ kind: z.literal('exit'), id: z.literal(0), process: name, exitCode: z.number().int().min(0).max(255), timeMs: count.optional(), reason: z.string().max(200).optional() }),
  z.object({
    kind: z.literal('ok'), id: z.number().int().positive(),
    version: z.number().int().optional(), pid: z.number().int().optional(),
    memTotal: z.number().optional(), memAvailable: z.number().optional(), uptimeMs: z.number().optional(), processes: z.number().optional(),
    cpuMs: count.optional(), cpuTotalMs: count.optional(), cpus: count.optional(), timeMs: count.optional(),
    build: z.string().optional(), bootId: z.string().optional(), entries: z.array(ProcessEntry).optional(), ps: z.array(PsEntry).optional(),
  }),
  z.object({ kind: z.literal('error'), id: z.number().int().nonnegative(), error: z.number().int(), message: z.string(), errno: z.number().int().optional() }),
]);
export type AgentMessage = z.infer<typeof AgentMessage>;

/**
 * One ENTRY of a RESYNC reply. Its fields are read in order: SENT and ACKED belong to the STREAM before them.
 * Anything odd is left for zod to refuse (or thrown as ProtocolError where order makes it meaningless).
 */
function decodeEntry(body: Buffer): Record<string, unknown> {
  const e: Record<string, unknown> = {};
  const streams: Record<number, Record<string, unknown>> = {};
  let stream: Record<string, unknown> | null = null;
  const first = (key: string, v: unknown) => { if (!(key in e)) e[key] = v; };
  for (const f of decodeFields(body)) {
    switch (byTag[f.tag]) {
      case 'PROCESS': first('process', str(f.value)); break;
      case 'CONTAINER': first('container', str(f.value)); break;
      case 'MAIN': { const v = u64(f.value); first('main', v === 1 ? true : v === 0 ? false : v); break; }
      case 'PID': first('pid', u64(f.value)); break;
      case 'STATE': first('state', str(f.value)); break;
      case 'EXIT_CODE': first('exitCode', u64(f.value)); break;
      case 'TIME_MS': first('exitedAtMs', u64(f.value)); break;
      case 'STREAM': {
        const s = u64(f.value);
        if ((s !== 1 && s !== 2) || streams[s]) throw new ProtocolError(`resync entry has a bad or repeated STREAM ${s}`);
        stream = streams[s] = {};
        break;
      }
      case 'SENT':
      case 'ACKED':
        if (!stream) throw new ProtocolError(`resync entry has ${byTag[f.tag]} before any STREAM`);
        stream[byTag[f.tag] === 'SENT' ? 'sent' : 'acked'] = u64(f.value);
        break;
    }
  }
  e.out = streams[1];
  e.err = streams[2];
  return e;
}

/** One PS_ENTRY of a PS reply (each field once; zod refuses what is missing or odd). */
function decodePsEntry(body: Buffer): Record<string, unknown> {
  const f = fieldsOf(body);
  const n = (k: keyof typeof TAG) => u64(f[k]?.[0]);
  const e: Record<string, unknown> = {
    pid: n('PID'), ppid: n('PPID'), uid: n('UID'), container: str(f.CONTAINER?.[0]), cpuMs: n('CPU_MS'), rss: n('RSS'),
    startedAtMs: n('TIME_MS'), command: str(f.COMMAND?.[0]),
  };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return e;
}

/** Decodes one frame from the agent; throws ProtocolError (only) when it is not a valid agent message. */
export function decodeAgentMessage(frame: Frame): AgentMessage {
  const f = fieldsOf(frame.body);
  const one = (k: keyof typeof TAG) => f[k]?.[0];
  let raw: Record<string, unknown>;
  switch (frame.type) {
    case MSG.READY: raw = { kind: 'ready', id: frame.id, version: u64(one('VERSION')), build: str(one('MESSAGE')), bootId: str(one('BOOT_ID')) }; break;
    case MSG.OUTPUT:
      raw = { kind: 'output', id: frame.id, process: str(one('PROCESS')), stream: u64(one('STREAM')), offset: u64(one('OFFSET')), data: one('DATA') };
      break;
    case MSG.EXIT: raw = { kind: 'exit', id: frame.id, process: str(one('PROCESS')), exitCode: u64(one('EXIT_CODE')), timeMs: u64(one('TIME_MS')), reason: str(one('MESSAGE')) }; break;
    case MSG.OK:
      raw = {
        kind: 'ok', id: frame.id, version: u64(one('VERSION')), pid: u64(one('PID')),
        memTotal: u64(one('MEM_TOTAL')), memAvailable: u64(one('MEM_AVAILABLE')), uptimeMs: u64(one('UPTIME_MS')), processes: u64(one('PROCESSES')),
        cpuMs: u64(one('CPU_MS')), cpuTotalMs: u64(one('CPU_TOTAL_MS')), cpus: u64(one('CPUS')), timeMs: u64(one('TIME_MS')),
        build: str(one('MESSAGE')), bootId: str(one('BOOT_ID')), entries: f.ENTRY?.map(decodeEntry), ps: f.PS_ENTRY?.map(decodePsEntry),
      };
      break;
    case MSG.ERROR: raw = { kind: 'error', id: frame.id, error: u64(one('ERROR')), message: str(one('MESSAGE')), errno: u64(one('ERRNO')) }; break;
    default: throw new ProtocolError(`unknown message type ${frame.type} from the guest agent`);
  }
  for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
  for (const e of (raw.entries as Record<string, unknown>[] | undefined) ?? []) for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  const r = AgentMessage.safeParse(raw);
  if (!r.success) throw new ProtocolError(`malformed ${raw.kind} message from the guest agent: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}
