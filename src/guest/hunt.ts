// Finding the first whole frame in a channel that may start mid-frame: after a host's disconnect, QEMU and the agent
// can still hold the tail of frames meant for it. The new host looks for the reply to its own resync request.
import { decodeFields, FRAME_HEADER, MAX_FRAME, MSG } from './wire.js';

/**
 * Discards bytes until a frame of type OK or ERROR whose id is one of the expected resync ids and whose body is valid TLV;
 * from there on the stream is framed normally. Resync ids are random 32-bit numbers at or above 2^31, so a false match
 * within torn output is negligible (and it must also carry a plausible length, a reply type and a well-formed body).
 */
export class ResyncHunter {
  private buf = Buffer.alloc(0);
  private readonly ids: Buffer[] = [];
  hunting = true;

  /** A resync request with this id was sent: its reply ends the hunt. */
  expect(id: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(id >>> 0);
    this.ids.push(b);
  }

  /** Feeds bytes; returns the stream from the found frame on (the hunt is over), or null while still hunting. */
  push(chunk: Uint8Array): Buffer | null {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    let from = 5; // the id sits 5 bytes into a frame
    for (;;) {
      let pos = -1;
      for (const id of this.ids) {
        const p = this.buf.indexOf(id, from);
        if (p >= 0 && (pos < 0 || p < pos)) pos = p;
      }
      if (pos < 0) {
        // keep what could be the start of a header whose id has not fully arrived
        this.buf = this.buf.subarray(Math.max(0, this.buf.length - (FRAME_HEADER - 1)));
        return null;
      }
      const start = pos - 5;
      const len = this.buf.readUInt32BE(start);
      const type = this.buf[start + 4];
      if ((type !== MSG.OK && type !== MSG.ERROR) || len < 5 || len > MAX_FRAME) {
        from = pos + 1;
        continue;
      }
      if (this.buf.length < start + 4 + len) {
        this.buf = this.buf.subarray(start); // a candidate whose end has not arrived: wait for it
        return null;
      }
      try {
        decodeFields(this.buf.subarray(start + FRAME_HEADER, start + 4 + len));
      } catch {
        from = pos + 1;
        continue;
      }
      this.hunting = false;
      const rest = this.buf.subarray(start);
      this.buf = Buffer.alloc(0);
      return rest;
    }
  }
}
