// Test harness: builds OCI images with umoci on top of the busybox image (scripts/build-busybox-image.sh) and pushes them with skopeo.
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

export interface ImageConfigFlags { clearCmd?: boolean; entrypoint?: string[]; cmd?: string[]; env?: string[]; workdir?: string; user?: string; architecture?: string }

/** An OCI layout under `dir` holding busybox:latest; derive more images from it with `derive`. */
export class TestImages {
  readonly layout: string;

  constructor(private readonly dir: string) {
    this.layout = join(dir, 'oci');
    mkdirSync(dir, { recursive: true });
    const tar = join(dir, 'busybox.tar');
    run(join(root, 'scripts', 'build-busybox-image.sh'), [tar, 'busybox:latest']);
    mkdirSync(this.layout, { recursive: true });
    run('tar', ['-xf', tar, '-C', this.layout]);
  }

  /** A new tag from `base` plus one layer per function (each edits the unpacked rootfs), then config changes. */
  derive(tag: string, layers: ((rootfs: string) => void)[], config: ImageConfigFlags = {}, base = 'busybox:latest'): string {
    let from = base;
    layers.forEach((edit, i) => {
      const bundle = join(this.dir, `bundle-${tag.replace(/\W/g, '_')}-${i}`);
      run('umoci', ['unpack', '--image', `${this.layout}:${from}`, bundle]);
      edit(join(bundle, 'rootfs'));
      run('umoci', ['repack', '--image', `${this.layout}:${tag}`, bundle]);
      from = tag;
    });
    if (from !== tag) run('umoci', ['tag', '--image', `${this.layout}:${from}`, tag]);
    const flags: string[] = [];
    for (const e of config.entrypoint ?? []) flags.push('--config.entrypoint', e);
    for (const c of config.cmd ?? []) flags.push('--config.cmd', c);
    for (const e of config.env ?? []) flags.push('--config.env', e);
    if (config.workdir) flags.push('--config.workingdir', config.workdir);
    if (config.user) flags.push('--config.user', config.user);
    if (config.architecture) flags.push('--architecture', config.architecture);
    if (config.clearCmd) flags.push('--clear=config.cmd');
    if (flags.length) run('umoci', ['config', '--image', `${this.layout}:${tag}`, ...flags]);
    return tag;
  }

  /** A multi-platform index `tag` over existing tags (each tag's config must name its architecture). */
  index(tag: string, members: { tag: string; architecture: string }[]): string {
    const index = JSON.parse(readFileSync(join(this.layout, 'index.json'), 'utf8'));
    const manifests = members.map((m) => {
      const d = index.manifests.find((x: { annotations?: Record<string, string> }) => x.annotations?.['org.opencontainers.image.ref.name'] === m.tag);
      return { mediaType: d.mediaType, digest: d.digest, size: d.size, platform: { architecture: m.architecture, os: 'linux' } };
    });
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
    const hex = createHash('sha256').update(body).digest('hex');
    writeFileSync(join(this.layout, 'blobs', 'sha256', hex), body);
    index.manifests.push({ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${hex}`, size: body.length, annotations: { 'org.opencontainers.image.ref.name': tag } });
    writeFileSync(join(this.layout, 'index.json'), JSON.stringify(index));
    return tag;
  }

  /** Pushes a tag to a registry (plain HTTP); `all` copies every platform of an index. Async: a token server may run in this process. */
  async push(tag: string, dest: string, o: { creds?: string; all?: boolean } = {}): Promise<void> {
    await execa('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...(o.all ? ['--all'] : []), ...(o.creds ? ['--dest-creds', o.creds] : []), `oci:${this.layout}:${tag}`, `docker://${dest}`]);
  }

  /** Writes a tag as an archive: docker-archive (as `docker save`) or oci-archive. */
  archive(tag: string, file: string, format: 'docker-archive' | 'oci-archive', name: string): string {
    run('skopeo', ['copy', '--quiet', `oci:${this.layout}:${tag}`, `${format}:${file}:${name}`]);
    return file;
  }
}
