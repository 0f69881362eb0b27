// Exactly-once output on the host: per (process, stream) the offset stored so far; a chunk is cut to the bytes beyond it.
import { ProtocolError } from './wire.js';

const STREAM_NAME = { 1: 'stdout', 2: 'stderr' } as const;

/**
 * After a reconnect the agent sends again everything not acknowledged, which may overlap what the host already
 * stored. accept() returns only the new bytes; a chunk that starts beyond the stored offset means bytes were lost.
 */
export class OutputCursor {
  private readonly stored = new Map<string, number>();

  private static key(process: string, stream: 1 | 2): string {
    return `${stream}:${process}`;
  }

  /** The offset up to which this stream is stored (0 if nothing is). */
  get(process: string, stream: 1 | 2): number {
    return this.stored.get(OutputCursor.key(process, stream)) ?? 0;
  }

  set(process: string, stream: 1 | 2, offset: number): void {
    this.stored.set(OutputCursor.key(process, stream), offset);
  }

  /** Forgets a released process (its name may be used again). */
  forget(process: string): void {
    this.stored.delete(OutputCursor.key(process, 1));
    this.stored.delete(OutputCursor.key(process, 2));
  }

  /** The part of data (starting at offset) beyond what is stored, advancing the stored offset; null if all of it is stored. */
  accept(process: string, stream: 1 | 2, offset: number, data: Uint8Array): Uint8Array | null {
    const have = this.get(process, stream);
    if (offset > have) {
      throw new ProtocolError(`output of ${process} (${STREAM_NAME[stream]}) has a gap: a chunk starts at offset ${offset}, but only ${have} bytes are stored`);
    }
    const end = offset + data.length;
    if (end <= have) return null;
    this.set(process, stream, end);
    return data.subarray(have - offset);
  }
}
