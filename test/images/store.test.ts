// The image store against a real registry (docker-registry on loopback) and the real tools: pull by tag, digest and through a
// multi-platform index; whiteouts; load/save round trips; rmi; nothing pulled or converted twice; clear errors that change nothing.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../src/images/store.js';
import { tempDir } from '../harness/nats.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { TestImages } from '../harness/images.js';

let dir: string;
let reg: TestRegistry;
let imgs: TestImages;
const blobGets = () => reg.requests().filter((l) => /GET \/v2\/\S+\/blobs\//.test(l)).length;

/** Lists a path inside an EROFS image (dump.erofs reads it without mounting). */
function erofsHas(disk: string, path: string): boolean {
  // dump.erofs exits 0 either way; only a found path prints its "File : …" block
  return execFileSync('dump.erofs', [`--path=${path}`, disk], { stdio: 'pipe' }).toString().includes('File : ');
}

beforeAll(async () => {
  dir = tempDir('hyper-images-');
  reg = await startRegistry(join(dir, 'registry'));
  imgs = new TestImages(join(dir, 'build'));
  imgs.derive('greeter:1', [], { entrypoint: ['/bin/sh', '-c'], cmd: ['echo $GREETING'], env: ['GREETING=hi'], workdir: '/tmp', user: 'nobody' });
  imgs.derive('layers:1', [
    (r) => { mkdirSync(join(r, 'data')); writeFileSync(join(r, 'data', 'gone'), 'x'); writeFileSync(join(r, 'etc', 'motd'), 'old'); },
    (r) => { rmSync(join(r, 'data', 'gone')); writeFileSync(join(r, 'etc', 'motd'), 'new'); writeFileSync(join(r, 'data', 'kept'), 'k'); },
  ]);
  imgs.derive('arm:1', [(r) => writeFileSync(join(r, 'ARCH'), 'arm64')], { architecture: 'arm64' });
  imgs.index('multi:1', [{ tag: 'busybox:latest', architecture: 'amd64' }, { tag: 'arm:1', architecture: 'arm64' }]);
  await imgs.push('busybox:latest', `${reg.host}/lib/busybox:1`);
  await imgs.push('greeter:1', `${reg.host}/greeter:1`);
  await imgs.push('layers:1', `${reg.host}/layers:1`);
  await imgs.push('arm:1', `${reg.host}/armonly:1`);
  await imgs.push('multi:1', `${reg.host}/multi:1`, { all: true });
}, 60_000);

afterAll(async () => {
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('ImageStore', () => {
  it('pulls by tag, converts once to EROFS, keeps the image config, and never pulls or converts the same image twice', async () => {
    const store = new ImageStore(join(dir, 'd1'));
    const first = await store.pull(`${reg.host}/greeter:1`);
    expect(first).toMatchObject({ pulled: true, converted: true });
    expect(first.image.config).toEqual({ Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo $GREETING'], Env: expect.arrayContaining(['GREETING=hi']), WorkingDir: '/tmp', User: 'nobody' });
    expect(first.image.repoTags).toEqual([`${reg.host}/greeter:1`]);
    const disk = store.get(`${reg.host}/greeter:1`).diskPath;
    expect(erofsHas(disk, '/bin/busybox')).toBe(true);
    const converted = statSync(disk).mtimeMs;
    const blobs = blobGets();

    // a run (policy missing) does not even ask the registry; an explicit pull asks for the digest only
    const requests = reg.requests().length;
    expect(await store.ensure(`${reg.host}/greeter:1`)).toMatchObject({ pulled: false, converted: false });
    expect(reg.requests().length).toBe(requests);
    expect(await store.pull(`${reg.host}/greeter:1`, { policy: 'always' })).toMatchObject({ pulled: false, converted: false });
    expect(blobGets()).toBe(blobs);
    expect(statSync(disk).mtimeMs).toBe(converted);

    // pulled by digest: the same image, recorded under its repository digest
    const digest = first.image.repoDigests[0].split('@')[1];
    expect(await store.pull(`${reg.host}/greeter@${digest}`)).toMatchObject({ pulled: false, image: { id: first.image.id } });
    expect(await store.pull(`${reg.host}/greeter:1@${digest}`, { policy: 'always' })).toMatchObject({ pulled: false, image: { id: first.image.id } });
    expect(store.find(first.image.id.slice(7, 19))?.id).toBe(first.image.id);
  }, 60_000);

  it('pulls the same image for many pods at once only once', async () => {
    const store = new ImageStore(join(dir, 'd2'));
    const manifests = () => reg.requests().filter((l) => /GET \/v2\/lib\/busybox\/manifests\//.test(l)).length;
    const before = manifests();
    const results = await Promise.all(Array.from({ length: 5 }, () => store.ensure(`${reg.host}/lib/busybox:1`)));
    // one pull shared by all five callers
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toMatchObject({ pulled: true, converted: true });
    expect(manifests() - before).toBeLessThanOrEqual(2); // skopeo inspect + skopeo copy, once
  }, 60_000);

  it('honours whiteouts: a file an upper layer deletes is gone, a file it replaces has the new content', async () => {
    const store = new ImageStore(join(dir, 'd3'));
    const { image } = await store.pull(`${reg.host}/layers:1`);
    expect(image.layers).toBe(3);
    const disk = store.get(`${reg.host}/layers:1`).diskPath;
    expect(erofsHas(disk, '/data/gone')).toBe(false);
    expect(erofsHas(disk, '/data/kept')).toBe(true);
    const extracted = join(dir, 'extract');
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.layout}:${image.id.slice(7)}`, extracted]);
    expect(readFileSync(join(extracted, 'etc', 'motd'), 'utf8')).toBe('new');
  }, 60_000);

  it('picks this host\'s platform from a multi-platform index, and refuses an image built for another', async () => {
    const store = new ImageStore(join(dir, 'd4'));
    const { image } = await store.pull(`${reg.host}/multi:1`);
    expect(image.architecture).toBe('amd64');
    expect(erofsHas(store.get(`${reg.host}/multi:1`).diskPath, '/ARCH')).toBe(false);
    await expect(store.pull(`${reg.host}/armonly:1`)).rejects.toThrow(/for linux\/arm64; this host runs linux\/amd64/);
    expect(store.find(`${reg.host}/armonly:1`)).toBeUndefined();
  }, 60_000);

  it('gives clear errors for a missing image, a bad reference and an unreachable registry, and changes nothing', async () => {
    const store = new ImageStore(join(dir, 'd5'));
    await expect(store.pull(`${reg.host}/nope:1`)).rejects.toThrow(/cannot look up .*nope:1: .*manifest unknown.* — no such image or tag in that registry/);
    await expect(store.pull('UPPER/case')).rejects.toThrow(/invalid image reference "UPPER\/case"/);
    await expect(store.pull('127.0.0.1:1/x:1')).rejects.toThrow(/connection refused — the registry is unreachable/);
    expect(store.list()).toEqual([]);
  }, 60_000);

  it('loads docker-archive and OCI archives, saves them back, and rmi untags before it deletes', async () => {
    const store = new ImageStore(join(dir, 'd6'));
    const docker = imgs.archive('greeter:1', join(dir, 'greeter.docker.tar'), 'docker-archive', 'greeter:1');
    const oci = imgs.archive('greeter:1', join(dir, 'greeter.oci.tar'), 'oci-archive', 'example.org/greeter:2');
    const [a] = await store.load(docker);
    const [b] = await store.load(oci);
    expect(a).toMatchObject({ converted: true });
    // Docker's format rewrites the config (another image id), but the layers are the same: one EROFS conversion serves both
    expect(b).toMatchObject({ converted: false });
    expect(b.image.disk).toBe(a.image.disk);

    const saved = join(dir, 'saved.tar');
    await store.save('greeter:1', saved);
    const other = new ImageStore(join(dir, 'd7'));
    const [c] = await other.load(saved);
    expect(c.image.id).toBe(a.image.id);
    expect(c.image.repoTags).toEqual(['docker.io/library/greeter:1']);
    expect(c.image.config).toEqual(a.image.config);

    await store.load(docker); // a second tag on the Docker-format image
    store['tag'](a.image.id, ['docker.io/library/greeter:3'], []);
    expect(await store.remove('greeter:3')).toEqual(['untagged greeter:3']);
    const disk = store.get('greeter:1').diskPath;
    expect(await store.remove('greeter:1')).toEqual(['untagged greeter:1', `deleted ${a.image.id}`]);
    expect(statSync(disk).size).toBeGreaterThan(0); // still used by example.org/greeter:2
    expect(await store.remove('example.org/greeter:2')).toEqual(['untagged example.org/greeter:2', `deleted ${b.image.id}`]);
    expect(store.list()).toEqual([]);
    expect(() => statSync(disk)).toThrow();
    await expect(store.remove('greeter:1')).rejects.toThrow(/no image "greeter:1" in the local store/);
    await expect(store.load(join(dir, 'nope.tar'))).rejects.toThrow(/cannot load .*nope.tar: no such file/);
  }, 60_000);
});
