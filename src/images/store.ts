// The host's image store, keyed by image id (the config digest): blobs in one shared OCI layout (skopeo dedups layers), each
// image's root filesystem unpacked once by umoci and converted once into a read-only EROFS image that every pod using it shares.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ImageError } from '../errors.js';
import { ImageConfig } from './image-config.js';
import { chainId, hostPlatform, resolveTag, retag, untag } from './oci-layout.js';
import { canonical, familiar, parseRef, repository, type ImageRef } from './reference.js';
import { runTool } from './tools.js';
import { withLock } from './lock.js';
import { archiveEntries } from './archive.js';

export const StoredImage = z.object({
  id: z.string(),
  repoTags: z.array(z.string()),
  repoDigests: z.array(z.string()),
  architecture: z.string().optional(),
  os: z.string().optional(),
  created: z.string().optional(),
  config: ImageConfig,
  layers: z.number().int(),
  /** EROFS image of the root filesystem, relative to the store; named by the layers' ChainID, so images that differ only in config share it. */
  disk: z.string(),
  diskBytes: z.number().int(),
  addedAt: z.string(),
});
export type StoredImage = z.infer<typeof StoredImage>;
const Db = z.object({ version: z.literal(1), images: z.record(z.string(), StoredImage) });
type Db = z.infer<typeof Db>;

export interface PullOptions {
  /** Plain HTTP or unverified TLS for this registry. */
  insecure?: boolean;
  /** `missing` (default for runs): use the local image if there is one; `always`: ask the registry for the tag's current digest. */
  policy?: 'missing' | 'always';
  /** Let skopeo draw its progress bars on the terminal. */
  tty?: boolean;
  /** A containers-auth.json / Docker config.json to read credentials from (default: skopeo's usual places). */
  authfile?: string;
  onProgress?: (message: string) => void;
}

export interface PullResult { image: StoredImage; pulled: boolean; converted: boolean }

/** Registries on loopback speak plain HTTP unless told otherwise, as Docker assumes for 127.0.0.0/8. */
export function isLoopback(domain: string): boolean {
  const host = domain.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export class ImageStore {
  readonly root: string;
  readonly layout: string;
  private readonly inflight = new Map<string, Promise<PullResult>>();

  constructor(dataDir: string, private readonly opts: { insecureRegistries?: string[] } = {}) {
    this.root = join(dataDir, 'images');
    this.layout = join(this.root, 'oci');
  }

  private get dbFile() {
    return join(this.root, 'db.json');
  }

  private readDb(): Db {
    if (!existsSync(this.dbFile)) return { version: 1, images: {} };
    const r = Db.safeParse(JSON.parse(readFileSync(this.dbFile, 'utf8')));
    if (!r.success) throw new ImageError('bad-store', `the image store index ${this.dbFile} is unreadable: ${r.error.issues[0]?.message} — move it away and pull again`);
    return r.data;
  }

  private writeDb(db: Db): void {
    writeFileSync(`${this.dbFile}.tmp`, JSON.stringify(db, null, 1));
    renameSync(`${this.dbFile}.tmp`, this.dbFile);
  }

  /** Every writer holds the lock; the store's directories appear with its first writer, so reading commands create nothing. */
  private lock<T>(fn: () => Promise<T>, onProgress?: (message: string) => void): Promise<T> {
    for (const d of ['oci', 'erofs', 'tmp']) mkdirSync(join(this.root, d), { recursive: true });
    return withLock(join(this.root, 'lock'), fn, () => onProgress?.(`waiting for another pull, load or rmi on ${this.root}`));
  }

  list(): StoredImage[] {
    return Object.values(this.readDb().images).sort((a, b) => b.addedAt.localeCompare(a.addedAt));
  }

  /** The image a reference or an id (full or ≥ 4 hex digits) names, or undefined. */
  find(refOrId: string): StoredImage | undefined {
    const images = this.list();
    const hex = /^(?:sha256:)?([a-f0-9]{4,64})$/.exec(refOrId)?.[1];
    if (hex) {
      const byId = images.filter((i) => i.id.slice(7).startsWith(hex));
      if (byId.length === 1) return byId[0];
      if (byId.length > 1) throw new ImageError('ambiguous', `"${refOrId}" matches ${byId.length} images — give more digits of the id`);
    }
    const r = parseRef(refOrId);
    if (r.digest) return images.find((i) => i.repoDigests.includes(`${repository(r)}@${r.digest}`) || i.id === r.digest);
    const name = canonical(r);
    return images.find((i) => i.repoTags.includes(name));
  }

  /** The image for a pod's container; the message says how to get it when it is missing. */
  get(ref: string): StoredImage & { diskPath: string } {
    const image = this.find(ref);
    if (!image) throw new ImageError('no-image', `no image "${ref}" in the local store ${this.root} — pull it with: hyper pull ${ref}`);
    return { ...image, diskPath: join(this.root, image.disk) };
  }

  insecureFor(r: ImageRef, o: PullOptions): boolean {
    return Boolean(o.insecure) || isLoopback(r.domain) || (this.opts.insecureRegistries ?? []).includes(r.domain);
  }

  /** Makes sure the image is here, pulling it once however many pods ask at the same time. */
  ensure(ref: string, o: PullOptions = {}): Promise<PullResult> {
    const key = canonical(parseRef(ref));
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.pull(ref, { policy: 'missing', ...o }).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  async pull(ref: string, o: PullOptions = {}): Promise<PullResult> {
    const r = parseRef(ref);
    const name = canonical(r);
    const shown = familiar(r);
    if (o.policy !== 'always') {
      const have = this.find(ref);
      if (have) return { image: have, pulled: false, converted: false };
    }
    const tls = `--tls-verify=${!this.insecureFor(r, o)}`;
    const auth = o.authfile ? ['--authfile', o.authfile] : [];
    o.onProgress?.(`resolving ${shown}`);
    // registries take a tag or a digest, not both: a digest names the content exactly
    const remote = r.digest ? `${repository(r)}@${r.digest}` : name;
    const raw = await runTool('skopeo', ['inspect', '--raw', '--retry-times', '1', tls, ...auth, `docker://${remote}`], `look up ${shown}`);
    const repoDigest = `${repository(r)}@sha256:${createHash('sha256').update(raw).digest('hex')}`;
    return this.lock(async () => {
      const known = this.list().find((i) => i.repoDigests.includes(repoDigest));
      if (known) {
        o.onProgress?.(`${shown} is up to date (${repoDigest.split('@')[1]})`);
        return { image: this.tag(known.id, r.digest ? [] : [name], [repoDigest]), pulled: false, converted: false };
      }
      const tmp = `tmp-${randomBytes(6).toString('hex')}`;
      o.onProgress?.(`pulling ${shown}`);
      try {
        await runTool('skopeo', ['copy', ...(o.tty ? [] : ['--quiet']), '--retry-times', '2', `--src-${tls.slice(2)}`, ...(o.authfile ? ['--src-authfile', o.authfile] : []), `docker://${remote}`, `oci:${this.layout}:${tmp}`], `pull ${shown}`, { inherit: o.tty });
        return await this.adopt(tmp, r.digest ? [] : [name], [repoDigest], o);
      } finally {
        untag(this.layout, tmp);
      }
    }, o.onProgress);
  }

  /** Loads every image of a `docker save` archive, an OCI archive or an OCI layout directory. */
  async load(path: string, o: PullOptions = {}): Promise<PullResult[]> {
    if (!existsSync(path)) throw new ImageError('no-file', `cannot load ${path}: no such file or directory`);
    const entries = await archiveEntries(path);
    const results: PullResult[] = [];
    await this.lock(async () => {
      for (const e of entries) {
        const tmp = `tmp-${randomBytes(6).toString('hex')}`;
        o.onProgress?.(`loading ${e.names.map((n) => familiar(parseRef(n))).join(', ') || 'an untagged image'} from ${path}`);
        try {
          await runTool('skopeo', ['copy', '--quiet', e.source, `oci:${this.layout}:${tmp}`], `load ${path}`);
          results.push(await this.adopt(tmp, e.names.map((n) => canonical(parseRef(n))), [], o));
        } finally {
          untag(this.layout, tmp);
        }
      }
    }, o.onProgress);
    return results;
  }

  /** Writes one image as a `docker load`-able archive (default) or an OCI archive. */
  async save(refOrId: string, out: string, format: 'docker-archive' | 'oci-archive' = 'docker-archive'): Promise<void> {
    const image = this.get(refOrId);
    // the archive names the image as asked for when that is one of its tags, else by its first tag
    const asked = image.repoTags.find((t) => { try { return t === canonical(parseRef(refOrId)); } catch { return false; } });
    const tag = asked ?? image.repoTags[0];
    const name = tag ? familiar(parseRef(tag)) : undefined;
    rmSync(out, { force: true });
    const dest = format === 'oci-archive' ? `oci-archive:${out}${name ? `:${name}` : ''}` : `docker-archive:${out}${name ? `:${name}` : ''}`;
    await runTool('skopeo', ['copy', '--quiet', `oci:${this.layout}:${image.id.slice(7)}`, dest], `save ${refOrId} to ${out}`);
  }

  /** Gives an image one more name (docker tag): the name moves off any other image that had it. */
  async addTag(refOrId: string, name: string): Promise<StoredImage> {
    return this.lock(async () => {
      const image = this.find(refOrId);
      if (!image) throw new ImageError('no-image', `no image "${refOrId}" in the local store — hyper images lists them`);
      return this.tag(image.id, [canonical(parseRef(name))], []);
    });
  }

  /** Untags a reference; deletes the image (EROFS image, layout entry, unshared blobs) when no tag is left or it is named by id. */
  async remove(refOrId: string): Promise<string[]> {
    return this.lock(async () => {
      const image = this.find(refOrId);
      if (!image) throw new ImageError('no-image', `no image "${refOrId}" in the local store — hyper images lists them`);
      const db = this.readDb();
      const done: string[] = [];
      const byId = image.id.slice(7).startsWith(refOrId.replace(/^sha256:/, ''));
      if (!byId && image.repoTags.length > 1) {
        const name = canonical(parseRef(refOrId));
        db.images[image.id].repoTags = image.repoTags.filter((t) => t !== name);
        this.writeDb(db);
        return [`untagged ${familiar(parseRef(name))}`];
      }
      for (const t of image.repoTags) done.push(`untagged ${familiar(parseRef(t))}`);
      delete db.images[image.id];
      this.writeDb(db);
      untag(this.layout, image.id.slice(7));
      if (!Object.values(db.images).some((i) => i.disk === image.disk)) rmSync(join(this.root, image.disk), { force: true });
      await runTool('umoci', ['gc', '--layout', this.layout], 'delete unused layers');
      done.push(`deleted ${image.id}`);
      return done;
    });
  }

  /** Bytes used: shared blobs and EROFS images. */
  usage(): { images: number; blobBytes: number; diskBytes: number } {
    const sum = (dir: string) => (existsSync(dir) ? readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0) : 0);
    return { images: this.list().length, blobBytes: sum(join(this.layout, 'blobs', 'sha256')), diskBytes: sum(join(this.root, 'erofs')) };
  }

  /** Gives `tags` to image `id`, taking them from any other image (which keeps its id, untagged, as Docker's <none>). */
  private tag(id: string, tags: string[], repoDigests: string[]): StoredImage {
    const db = this.readDb();
    for (const other of Object.values(db.images)) if (other.id !== id) other.repoTags = other.repoTags.filter((t) => !tags.includes(t));
    const image = db.images[id];
    image.repoTags = [...new Set([...image.repoTags, ...tags])];
    image.repoDigests = [...new Set([...image.repoDigests, ...repoDigests])];
    this.writeDb(db);
    return image;
  }

  /** Takes a freshly copied layout tag into the store: keyed by config digest; unpacked and converted only if the id is new. */
  private async adopt(tmp: string, tags: string[], repoDigests: string[], o: PullOptions): Promise<PullResult> {
    const res = resolveTag(this.layout, tmp);
    const want = hostPlatform();
    if ((res.config.architecture && res.config.architecture !== want.architecture) || (res.config.os && res.config.os !== want.os)) {
      throw new ImageError('no-platform', `the image is for ${res.config.os}/${res.config.architecture}; this host runs ${want.os}/${want.architecture}`);
    }
    const id = res.configDigest;
    const hex = id.slice(7);
    const db = this.readDb();
    if (db.images[id]) {
      retag(this.layout, tmp, hex);
      return { image: this.tag(id, tags, repoDigests), pulled: true, converted: false };
    }
    retag(this.layout, tmp, hex);
    const diffIds = res.config.rootfs?.diff_ids ?? [];
    const chain = (diffIds.length ? chainId(diffIds) : id).slice(7);
    const disk = join('erofs', `${chain}.erofs`);
    let converted = false;
    if (!existsSync(join(this.root, disk))) {
      const rootfs = join(this.root, 'tmp', hex);
      rmSync(rootfs, { recursive: true, force: true });
      try {
        o.onProgress?.(`unpacking ${res.layers.length} layer${res.layers.length === 1 ? '' : 's'} of ${hex.slice(0, 12)}`);
        const rootless = process.getuid?.() !== 0 ? ['--rootless'] : [];
        await runTool('umoci', ['raw', 'unpack', ...rootless, '--image', `${this.layout}:${hex}`, rootfs], `unpack image ${hex.slice(0, 12)}`);
        o.onProgress?.(`converting ${hex.slice(0, 12)} to a read-only EROFS image`);
        await runTool('mkfs.erofs', ['--quiet', '--preserve-mtime', `${join(this.root, disk)}.tmp`, rootfs], `convert image ${hex.slice(0, 12)} to EROFS`);
        renameSync(`${join(this.root, disk)}.tmp`, join(this.root, disk));
        converted = true;
      } finally {
        rmSync(rootfs, { recursive: true, force: true });
      }
    }
    const c = res.config;
    const cfg = ImageConfig.safeParse(c.config ?? {});
    if (!cfg.success) throw new ImageError('bad-image', `image ${hex.slice(0, 12)} has an invalid config: ${cfg.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    db.images[id] = {
      id, repoTags: [], repoDigests: [], architecture: c.architecture, os: c.os, created: c.created, config: cfg.data,
      layers: res.layers.length, disk, diskBytes: statSync(join(this.root, disk)).size, addedAt: new Date().toISOString(),
    };
    this.writeDb(db);
    return { image: this.tag(id, tags, repoDigests), pulled: true, converted };
  }
}
