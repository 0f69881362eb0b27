// The Docker API's image endpoints over this host's image store (images live per host, as with hyper pull): list,
// inspect, pull with Docker's JSON progress lines, remove.
import type { ServerResponse } from 'node:http';
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

  async remove(ref: string): Promise<unknown[]> {
    if (!this.store.find(ref)) throw new ApiError(404, `No such image: ${ref}`);
    const done = await this.store.remove(ref);
    return done.map((d) => (d.startsWith('untagged ') ? { Untagged: d.slice(9) } : { Deleted: d.replace(/^deleted /, '') }));
  }
}
