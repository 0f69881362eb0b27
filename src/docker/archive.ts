// docker cp through the Engine API's archive endpoints: GET (a tar of a path in the container, its stat in the
// X-Docker-Container-Path-Stat header), HEAD (the stat alone) and PUT (a tar extracted into a directory). The tar streams
// are made and read in the guest by the agent's own tools, through the same copy session hyper cp opens with the pod's host.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, Writable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { addressOf, DEFAULT_TENANT } from '../events/schemas/subjects.js';
import { execSession } from '../cli/exec-client.js';
import { Collect, type Control } from '../cli/session-io.js';
import { discard, ended } from './streams.js';
import type { PodRecord } from '../model/cluster-view.js';
import { ApiError } from './lifecycle.js';

/** Go's os.FileMode type bits, which the docker CLI reads from the stat. */
const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;

export interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

const field = (b: Buffer, at: number, len: number) => b.subarray(at, at + len).toString('latin1').replace(/\0.*$/s, '');
const octal = (b: Buffer, at: number, len: number) => parseInt(field(b, at, len).trim() || '0', 8);

/**
 * Pure: the stat of a tar stream's first entry (ustar, with a pax header before it), or null while more bytes are needed.
 * Throws on a stream that is not tar.
 */
export function firstEntryStat(b: Buffer): PathStat | null {
  let at = 0;
  const pax: Record<string, string> = {};
  for (;;) {
    if (b.length < at + 512) return null;
    const type = String.fromCharCode(b[at + 156] || 48);
    const size = octal(b, at + 124, 12);
    if (type === 'x' || type === 'L') {
      const blocks = Math.ceil(size / 512) * 512;
      if (b.length < at + 512 + blocks) return null;
      const data = b.subarray(at + 512, at + 512 + size).toString('utf8');
      if (type === 'L') pax.path = data.replace(/\0.*$/s, '');
      else for (const rec of data.split('\n')) {
        const m = /^\d+ ([^=]+)=(.*)$/s.exec(rec);
        if (m) pax[m[1]] = m[2];
      }
      at += 512 + blocks;
      continue;
    }
    if (field(b, at + 257, 5) !== 'ustar') throw new Error('not a tar stream');
    const prefix = field(b, at + 345, 155);
    const name = (pax.path ?? (prefix ? `${prefix}/${field(b, at, 100)}` : field(b, at, 100))).replace(/\/+$/, '');
    const perm = octal(b, at + 100, 8) & 0o7777;
    const mode = perm + (type === '5' ? MODE_DIR : type === '2' ? MODE_SYMLINK : 0);
    return {
      name: name.split('/').pop() || '/',
      size: Number(pax.size ?? size),
      mode,
      mtime: new Date(octal(b, at + 136, 12) * 1000).toISOString(),
      linkTarget: pax.linkpath ?? field(b, at + 157, 100),
    };
  }
}

export const statHeader = (s: PathStat) => Buffer.from(JSON.stringify(s)).toString('base64');

function session(nc: NatsConnection, rec: PodRecord, container: string, direction: 'from' | 'to', path: string, stdout: Writable, stderr: Writable, stdin: NodeJS.ReadableStream, onControl: (c: Control) => void = () => {}) {
  if (rec.state !== 'running' || !rec.context.host) throw new ApiError(409, `Container ${rec.context.id} is not running: hyper copies files through the running container's guest (docker cp of a stopped container is not served)`);
  if (!path.startsWith('/')) throw new ApiError(400, `path ${path}: give an absolute path in the container`);
  return execSession(nc, {
    host: rec.context.host,
    at: addressOf(rec.context),
    tenant: rec.context.tenant ?? DEFAULT_TENANT,
    request: { kind: 'copy', container, direction, path, by: 'docker-api' },
    stdout, stderr, stdin,
    remote: { tty: false, onControl },
  });
}

/**
 * GET (or HEAD) /containers/ID/archive?path=: the tar goes out once its first entry says what the path is (its stat in the
 * header); a path that is not there is a 404 with the tool's words.
 */
export async function getArchive(nc: NatsConnection, rec: PodRecord, container: string, path: string, res: ServerResponse, headOnly: boolean): Promise<void> {
  let head = Buffer.alloc(0);
  let started = false;
  let cut = () => {};
  const err = new Collect();
  const out = new Writable({
    write(chunk: Buffer, _e, cb) {
      if (started) return headOnly ? cb() : void res.write(chunk, () => cb());
      head = Buffer.concat([head, chunk]);
      let st: PathStat | null;
      try {
        st = firstEntryStat(head);
      } catch {
        return cb(new Error('the guest sent something that is not a tar stream'));
      }
      if (!st) return cb();
      started = true;
      res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': statHeader(st) });
      if (headOnly) {
        res.end();
        cut();
        return cb();
      }
      res.write(head, () => cb());
    },
  });
  const stdin = Readable.from([]);
  // HEAD wants the stat alone: the tool is stopped once the first entry has come
  const code = await session(nc, rec, container, 'from', path, out, err, stdin, (c) => (cut = () => c('signal', { signal: 9 })));
  // the tar's last chunks may still be queued behind a slow write to the response
  await ended(out);
  if (!started) {
    const why = err.text.trim() || `the copy of ${path} ended with code ${code}`;
    throw new ApiError(/No such file|not found|ENOENT/i.test(why) ? 404 : 500, `Could not find the file ${path} in container ${rec.context.name ?? rec.context.id}: ${why}`);
  }
  if (!res.writableEnded) res.end();
}

/** PUT /containers/ID/archive?path=DIR: the request's tar extracted into DIR, which must be a directory of the container. */
export async function putArchive(nc: NatsConnection, rec: PodRecord, container: string, path: string, req: IncomingMessage): Promise<void> {
  const err = new Collect();
  const code = await session(nc, rec, container, 'to', path, discard(), err, req);
  if (code !== 0) {
    const why = err.text.trim() || `the copy into ${path} ended with code ${code}`;
    throw new ApiError(/No such file|not a directory/i.test(why) ? 404 : 400, `copying into ${path} in container ${rec.context.name ?? rec.context.id} failed: ${why}`);
  }
}
