// Reads and re-tags an OCI image layout on disk (index.json, content-addressed blobs): the shared blob store under the image store.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ImageError } from '../errors.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}
interface Index { schemaVersion: number; manifests: Descriptor[]; [k: string]: unknown }

export interface ResolvedImage {
  manifestDigest: string;
  configDigest: string;
  /** The image config blob as JSON (architecture, os, config: {Entrypoint, Cmd, …}, rootfs, history). */
  config: { architecture?: string; os?: string; created?: string; config?: unknown; rootfs?: { diff_ids?: string[] } };
  layers: Descriptor[];
}

/** This host's platform as OCI names it. */
export function hostPlatform(): { architecture: string; os: string } {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { architecture: arch[process.arch] ?? process.arch, os: 'linux' };
}

export function readIndex(layout: string): Index {
  const file = join(layout, 'index.json');
  if (!existsSync(file)) return { schemaVersion: 2, manifests: [] };
  return JSON.parse(readFileSync(file, 'utf8')) as Index;
}

export function writeIndex(layout: string, index: Index): void {
  const file = join(layout, 'index.json');
  writeFileSync(`${file}.tmp`, JSON.stringify(index));
  renameSync(`${file}.tmp`, file);
}

export function blobPath(layout: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  if (alg !== 'sha256' || !/^[a-f0-9]{64}$/.test(hex ?? '')) throw new ImageError('bad-image', `unsupported or malformed digest "${digest}" in ${layout}`);
  return join(layout, 'blobs', alg, hex);
}

function readJson<T>(layout: string, digest: string, what: string): T {
  try {
    return JSON.parse(readFileSync(blobPath(layout, digest), 'utf8')) as T;
  } catch (err) {
    throw new ImageError('bad-image', `cannot read the ${what} ${digest} from ${layout}: ${(err as Error).message}`);
  }
}

/** Follows a tag (through a multi-platform index, picking this host's platform) to its manifest, config and layers. */
export function resolveTag(layout: string, tag: string): ResolvedImage {
  const desc = readIndex(layout).manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  if (!desc) throw new ImageError('no-image', `no tag "${tag}" in the OCI layout ${layout}`);
  return resolveDescriptor(layout, desc);
}

function resolveDescriptor(layout: string, desc: Descriptor): ResolvedImage {
  if (INDEX_TYPES.has(desc.mediaType)) {
    const index = readJson<Index>(layout, desc.digest, 'image index');
    const want = hostPlatform();
    const pick = index.manifests.find((m) => m.platform?.architecture === want.architecture && m.platform?.os === want.os);
    if (!pick) {
      const have = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : '?')).join(', ');
      throw new ImageError('no-platform', `the image has no ${want.os}/${want.architecture} variant (it has: ${have || 'none'})`);
    }
    return resolveDescriptor(layout, pick);
  }
  const manifest = readJson<{ config: Descriptor; layers: Descriptor[] }>(layout, desc.digest, 'image manifest');
  return {
    manifestDigest: desc.digest,
    configDigest: manifest.config.digest,
    config: readJson(layout, manifest.config.digest, 'image config'),
    layers: manifest.layers ?? [],
  };
}

/** Points tag `to` at what `from` names (replacing any old `to`) and drops `from`. */
export function retag(layout: string, from: string, to: string): void {
  const index = readIndex(layout);
  const desc = index.manifests.find((m) => m.annotations?.[REF_NAME] === from);
  if (!desc) throw new ImageError('no-image', `no tag "${from}" in the OCI layout ${layout}`);
  index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== to && m !== desc);
  index.manifests.push({ ...desc, annotations: { ...desc.annotations, [REF_NAME]: to } });
  writeIndex(layout, index);
}

export function untag(layout: string, tag: string): void {
  const index = readIndex(layout);
  index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag);
  writeIndex(layout, index);
}

/** OCI ChainID of the layer stack: what identifies an unpacked root filesystem, whatever the image config says around it. */
export function chainId(diffIds: string[]): string {
  return diffIds.reduce((chain, diff) => (chain ? `sha256:${createHash('sha256').update(`${chain} ${diff}`).digest('hex')}` : diff), '');
}
