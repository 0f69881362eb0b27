// A host's named volumes: one ext4 disk image per volume and tenant (DATA_DIR/volumes/<tenant>/<name>.img, sparse, made
// with mkfs.ext4), attached to a pod's VM as a virtio-blk disk and mounted in its containers; they outlive every pod.
// Like images, they live on the host whose data dir holds them.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HyperError } from '../errors.js';

const run = promisify(execFile);

export class VolumeError extends HyperError {
  constructor(message: string) {
    super('volume', message);
  }
}

export const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const DEFAULT_VOLUME_MB = 1024;

/** A volume size as docker and hyper take it ("512M", "10G", "1T", or MB alone): MB. */
export function parseVolumeSize(v: string, flag = '--size'): number {
  const m = /^(\d+)\s*([mMgGtT]?)[bB]?$/.exec(v.trim());
  if (!m) throw new VolumeError(`${flag} ${v}: give a size such as 512M, 10G or 1T`);
  const n = Number(m[1]);
  const unit = m[2].toLowerCase();
  return unit === 'g' ? n * 1024 : unit === 't' ? n * 1024 * 1024 : n;
}

export interface Volume {
  name: string;
  tenant: string;
  sizeMb: number;
  createdAt: string;
  /** The disk image. */
  path: string;
  /** Bytes the sparse image really takes on the host. */
  usedBytes: number;
}

export class VolumeStore {
  private readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'volumes');
  }

  private dir(tenant: string): string {
    return join(this.root, tenant);
  }

  get(tenant: string, name: string): Volume | null {
    const meta = join(this.dir(tenant), `${name}.json`);
    if (!VOLUME_NAME.test(name) || !existsSync(meta)) return null;
    const m = JSON.parse(readFileSync(meta, 'utf8')) as { name: string; sizeMb: number; createdAt: string };
    const path = join(this.dir(tenant), `${name}.img`);
    return { ...m, tenant, path, usedBytes: existsSync(path) ? statSync(path).blocks * 512 : 0 };
  }

  list(tenant: string): Volume[] {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir(tenant)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
    } catch {}
    return names.map((n) => this.get(tenant, n)).filter((v): v is Volume => v !== null).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A new empty ext4 volume (sparse: it takes room only as it fills); an existing name is an error. */
  async create(tenant: string, name: string, sizeMb = DEFAULT_VOLUME_MB): Promise<Volume> {
    if (!VOLUME_NAME.test(name)) throw new VolumeError(`volume name "${name}": use letters, digits, _ . - (starting with a letter or digit), at most 128`);
    if (!Number.isInteger(sizeMb) || sizeMb < 8 || sizeMb > 16 * 1024 * 1024) throw new VolumeError(`volume size ${sizeMb} MB: must be a whole number of MB from 8 to 16 TB`);
    if (this.get(tenant, name)) throw new VolumeError(`volume ${name} already exists`);
    const dir = this.dir(tenant);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${name}.img.tmp`);
    writeFileSync(tmp, '');
    truncateSync(tmp, sizeMb * 1024 * 1024);
    try {
      await run('mkfs.ext4', ['-q', '-F', '-L', name.slice(0, 16), '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', tmp]);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new VolumeError(`mkfs.ext4 of volume ${name} failed: ${((err as { stderr?: string }).stderr || (err as Error).message).trim()} (install e2fsprogs)`);
    }
    renameSync(tmp, join(dir, `${name}.img`));
    writeFileSync(join(dir, `${name}.json`), JSON.stringify({ name, sizeMb, createdAt: new Date().toISOString() }) + '\n');
    return this.get(tenant, name)!;
  }

  /** The volume, made with the default size if it does not exist yet (docker run -v NAME:/path does the same). */
  async ensure(tenant: string, name: string): Promise<Volume> {
    return this.get(tenant, name) ?? this.create(tenant, name).catch((err) => {
      const v = this.get(tenant, name); // another pod made it meanwhile
      if (v) return v;
      throw err;
    });
  }

  remove(tenant: string, name: string): void {
    if (!this.get(tenant, name)) throw new VolumeError(`no volume ${name} — list them with: hyper volume ls`);
    rmSync(join(this.dir(tenant), `${name}.img`), { force: true });
    rmSync(join(this.dir(tenant), `${name}.json`), { force: true });
  }
}
