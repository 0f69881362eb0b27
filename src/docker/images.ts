// The Docker API's image endpoints over this host's image store (images live per host, as with hyper pull): list,
// inspect, pull with Docker's JSON progress lines, tag, save and load (docker-archive tarballs), remove.
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ImageStore, type StoredImage } from '../images/store.js';
import { familiar, parseRef } from '../images/reference.js';
import { ApiError } from './lifecycle.js';

const tagsOf = (i: StoredImage) => i.repoTags.map((t) => familiar(parseRef(t)));

export class DockerImages {
  constructor(private readonly store: ImageStore) {}

  list(): unknown[] {
    return this.store.list().map((i) => ({
      Id: i.id,
      ParentId: '',
      RepoTags: tagsOf(i),
      RepoDigests: i.repoDigests,
      Created: i.created ? Math.floor(Date.parse(i.created) / 1000) : 0,
      Size: i.diskBytes,
      SharedSize: -1,
      Labels: null,
      Containers: -1,
    }));
  }

  inspect(ref: string): unknown {
    const i = this.store.find(ref);
    if (!i) throw new ApiError(404, `No such image: ${ref}`);
    return {
      Id: i.id,
      RepoTags: tagsOf(i),
      RepoDigests: i.repoDigests,
      Created: i.created ?? '',
      Architecture: i.architecture ?? '',
      Os: i.os ?? 'linux',
      Size: i.diskBytes,
      Config: { Env: i.config.Env ?? [], Cmd: i.config.Cmd ?? null, Entrypoint: i.config.Entrypoint ?? null, WorkingDir: i.config.WorkingDir ?? '', User: i.config.User ?? '' },
      RootFS: { Type: 'layers', Layers: [] },
      Metadata: { LastTagTime: i.addedAt },
    };
  }

  /** POST /images/create?fromImage=&tag=: the pull, as JSON progress lines; an error after the status went out is a line too. */
  async pull(fromImage: string, tag: string | null, res: ServerResponse): Promise<void> {
    const ref = tag && !fromImage.includes('@') ? `${fromImage}:${tag}` : fromImage;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const line = (o: object) => res.write(JSON.stringify(o) + '\r\n');
    try {
      const r = await this.store.pull(ref, { policy: 'always', onProgress: (status) => line({ status }) });
      line({ status: `Digest: ${r.image.repoDigests[0]?.split('@')[1] ?? r.image.id}` });
      line({ status: r.pulled ? `Status: Downloaded newer image for ${familiar(parseRef(ref))}` : `Status: Image is up to date for ${familiar(parseRef(ref))}` });
    } catch (err) {
      const message = (err as Error).message;
      line({ errorDetail: { message }, error: message });
    }
    res.end();
  }

  /** POST /images/NAME/tag?repo=&tag= */
  async tag(ref: string, repo: string | null, tag: string | null): Promise<void> {
    if (!repo) throw new ApiError(400, 'repo: give the new name (docker tag IMAGE NAME[:TAG])');
    if (!this.store.find(ref)) throw new ApiError(404, `No such image: ${ref}`);
    const name = tag ? `${repo}:${tag}` : repo;
    try {
      parseRef(name);
    } catch (err) {
      throw new ApiError(400, `invalid reference format: ${name}: ${(err as Error).message}`);
    }
    await this.store.addTag(ref, name);
  }

  /** GET /images/get?names=… or /images/NAME/get: one image as a docker-archive tarball (docker save). */
  async save(names: string[], res: ServerResponse): Promise<void> {
    if (names.length !== 1) throw new ApiError(501, `docker save of ${names.length} images in one archive is not served by hyperd: save them one at a time`);
    if (!this.store.find(names[0])) throw new ApiError(404, `No such image: ${names[0]}`);
    const dir = mkdtempSync(join(tmpdir(), 'hyper-save-'));
    try {
      const file = join(dir, 'image.tar');
      await this.store.save(names[0], file);
      res.writeHead(200, { 'Content-Type': 'application/x-tar' });
      await pipeline(createReadStream(file), res);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** POST /images/load: a docker save (or OCI) tarball in the body, loaded into the store; its result as a JSON line. */
  async load(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'hyper-load-'));
    try {
      const file = join(dir, 'image.tar');
      await pipeline(req, createWriteStream(file));
      let loaded;
      try {
        loaded = await this.store.load(file);
      } catch (err) {
        throw new ApiError(400, `the archive could not be loaded: ${(err as Error).message}`);
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      for (const r of loaded) {
        const tags = tagsOf(r.image);
        res.write(JSON.stringify({ stream: tags.length ? tags.map((t) => `Loaded image: ${t}\n`).join('') : `Loaded image ID: ${r.image.id}\n` }) + '\r\n');
      }
      res.end();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async remove(ref: string): Promise<unknown[]> {
    if (!this.store.find(ref)) throw new ApiError(404, `No such image: ${ref}`);
    const done = await this.store.remove(ref);
    return done.map((d) => (d.startsWith('untagged ') ? { Untagged: d.slice(9) } : { Deleted: d.replace(/^deleted /, '') }));
  }
}
