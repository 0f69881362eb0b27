// The Docker API's volume endpoints over this host's named volumes (ext4 disks that outlive pods, per host as images are):
// docker volume ls, create (a name, or a generated one; DriverOpts size), inspect and rm (refused while a pod uses it).
import { randomBytes } from 'node:crypto';
import type { ClusterView } from '../model/cluster-view.js';
import { DEFAULT_TENANT } from '../events/schemas/subjects.js';
import { volumeUsers } from '../volumes/claims.js';
import { DEFAULT_VOLUME_MB, VolumeError, parseVolumeSize, type Volume, type VolumeStore } from '../volumes/store.js';
import { ApiError } from './lifecycle.js';

interface CreateVolumeBody { Name?: string; Driver?: string; DriverOpts?: Record<string, string> | null; Labels?: Record<string, string> | null }

/** docker's size option: MB, the default without one. */
function sizeMb(v: string | undefined): number {
  if (v === undefined) return DEFAULT_VOLUME_MB;
  try {
    return parseVolumeSize(v, 'DriverOpts.size');
  } catch (err) {
    throw new ApiError(400, (err as Error).message);
  }
}

export class DockerVolumes {
  constructor(private readonly store: VolumeStore, private readonly view: ClusterView) {}

  private shape(v: Volume, users: Map<string, string[]>): unknown {
    return {
      Name: v.name,
      Driver: 'local',
      Mountpoint: v.path,
      CreatedAt: v.createdAt,
      Labels: {},
      Scope: 'local',
      Options: { size: `${v.sizeMb}m`, type: 'ext4' },
      UsageData: { Size: v.usedBytes, RefCount: users.get(v.name)?.length ?? 0 },
    };
  }

  list(): unknown {
    const users = volumeUsers(this.view, DEFAULT_TENANT);
    return { Volumes: this.store.list(DEFAULT_TENANT).map((v) => this.shape(v, users)), Warnings: [] };
  }

  inspect(name: string): unknown {
    const v = this.store.get(DEFAULT_TENANT, name);
    if (!v) throw new ApiError(404, `get ${name}: no such volume`);
    return this.shape(v, volumeUsers(this.view, DEFAULT_TENANT));
  }

  async create(body: CreateVolumeBody): Promise<unknown> {
    if (body.Driver && body.Driver !== 'local') throw new ApiError(400, `Driver ${body.Driver}: hyper's volumes are its own ext4 disks (driver local)`);
    const opts = body.DriverOpts ?? {};
    const unknown = Object.keys(opts).filter((k) => k !== 'size');
    if (unknown.length) throw new ApiError(400, `DriverOpts ${unknown.join(', ')}: not supported (hyper's volumes take size only, e.g. --opt size=10G)`);
    const name = body.Name || randomBytes(32).toString('hex');
    // docker answers an existing name with that volume
    const had = this.store.get(DEFAULT_TENANT, name);
    if (had) return this.shape(had, volumeUsers(this.view, DEFAULT_TENANT));
    try {
      return this.shape(await this.store.create(DEFAULT_TENANT, name, sizeMb(opts.size)), new Map());
    } catch (err) {
      if (err instanceof VolumeError) throw new ApiError(400, err.message);
      throw err;
    }
  }

  remove(name: string, force: boolean): void {
    if (!this.store.get(DEFAULT_TENANT, name)) {
      if (force) return;
      throw new ApiError(404, `get ${name}: no such volume`);
    }
    const users = volumeUsers(this.view, DEFAULT_TENANT).get(name);
    if (users?.length) throw new ApiError(409, `remove ${name}: volume is in use - [${users.join(', ')}]`);
    this.store.remove(DEFAULT_TENANT, name);
  }
}
