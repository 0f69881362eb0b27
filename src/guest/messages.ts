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

const u64 = (b: Buffer | undefined) => (b && b.length === 8 ? Number(b.readBigUInt64BE()) : undefined);
const str = (b: Buffer | undefined) => b?.toString('utf8');

const process = z.string().min(1).max(127);
export const AgentMessage = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ready'), id: z.literal(0), version: z.number().int(), build: z.string().optional() }),
  z.object({ kind: z.literal('output'), id: z.literal(0), process, stream: z.union([z.literal(1), z.literal(2)]), data: z.instanceof(Buffer) }),
  z.object({ kind: z.literal('exit'), id: z.literal(0), process, exitCode: z.number().int().min(0).max(255) }),
  z.object({
    kind: z.literal('ok'), id: z.number().int().positive(),
    version: z.number().int().optional(), pid: z.number().int().optional(),
    memTotal: z.number().optional(), memAvailable: z.number().optional(), uptimeMs: z.number().optional(), processes: z.number().optional(),
  }),
  z.object({ kind: z.literal('error'), id: z.number().int().nonnegative(), error: z.number().int(), message: z.string(), errno: z.number().int().optional() }),
]);
export type AgentMessage = z.infer<typeof AgentMessage>;

/** Decodes one frame from the agent; throws ProtocolError (only) when it is not a valid agent message. */
export function decodeAgentMessage(frame: Frame): AgentMessage {
  const f = fieldsOf(frame.body);
  const one = (k: keyof typeof TAG) => f[k]?.[0];
  let raw: Record<string, unknown>;
  switch (frame.type) {
    case MSG.READY: raw = { kind: 'ready', id: frame.id, version: u64(one('VERSION')), build: str(one('MESSAGE')) }; break;
    case MSG.OUTPUT: raw = { kind: 'output', id: frame.id, process: str(one('PROCESS')), stream: u64(one('STREAM')), data: one('DATA') }; break;
    case MSG.EXIT: raw = { kind: 'exit', id: frame.id, process: str(one('PROCESS')), exitCode: u64(one('EXIT_CODE')) }; break;
    case MSG.OK:
      raw = {
        kind: 'ok', id: frame.id, version: u64(one('VERSION')), pid: u64(one('PID')),
        memTotal: u64(one('MEM_TOTAL')), memAvailable: u64(one('MEM_AVAILABLE')), uptimeMs: u64(one('UPTIME_MS')), processes: u64(one('PROCESSES')),
      };
      break;
    case MSG.ERROR: raw = { kind: 'error', id: frame.id, error: u64(one('ERROR')), message: str(one('MESSAGE')), errno: u64(one('ERRNO')) }; break;
    default: throw new ProtocolError(`unknown message type ${frame.type} from the guest agent`);
  }
  for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
  const r = AgentMessage.safeParse(raw);
  if (!r.success) throw new ProtocolError(`malformed ${raw.kind} message from the guest agent: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}
