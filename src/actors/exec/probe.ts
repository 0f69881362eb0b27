// Answers `hyper stats` and `hyper top` for a pod on this host: one read from its guest agent, replied at once (no session,
// no fact: reading what a pod uses changes nothing). Failures come back as docker-style errors naming the pod.
import type { GuestChannel } from '../../drivers/driver.js';
import { EXIT, type ProbeRequest, type StatsReply, type TopReply } from '../../exec/protocol.js';

export async function answerProbe(req: ProbeRequest, channel: GuestChannel, pod: string): Promise<StatsReply | TopReply> {
  try {
    if (req.kind === 'stats') return { ok: true, stats: await channel.stats() };
    return { ok: true, list: await channel.processes(req.container) };
  } catch (err) {
    return { ok: false, code: EXIT.HYPER, error: `${req.kind === 'stats' ? 'stats' : 'processes'} of pod ${pod}: ${(err as Error).message}` };
  }
}
