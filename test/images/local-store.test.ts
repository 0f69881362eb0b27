// Image config resolution: the spec overrides the image the way Docker and Kubernetes do; a bad config names the file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageOf, resolveProcess } from '../../src/images/local-store.js';
import { tempDir } from '../harness/nats.js';

const image = { Entrypoint: ['/bin/app'], Cmd: ['--serve'], Env: ['MODE=prod', 'PATH=/opt/bin:/bin'], WorkingDir: '/srv', User: 'app' };

describe('resolveProcess', () => {
  it('runs Entrypoint + Cmd with the image env, workdir and user when the spec says nothing', () => {
    expect(resolveProcess(image, { env: {} })).toEqual({ argv: ['/bin/app', '--serve'], env: ['PATH=/opt/bin:/bin', 'MODE=prod'], cwd: '/srv', user: 'app' });
  });

  it('args replace Cmd and keep Entrypoint; command replaces Entrypoint and drops Cmd', () => {
    expect(resolveProcess(image, { args: ['--check'], env: {} }).argv).toEqual(['/bin/app', '--check']);
    expect(resolveProcess(image, { command: ['/bin/sh'], env: {} }).argv).toEqual(['/bin/sh']);
    expect(resolveProcess(image, { command: ['/bin/sh'], args: ['-c', 'true'], env: {} }).argv).toEqual(['/bin/sh', '-c', 'true']);
  });

  it('spec env, workdir and user win over the image', () => {
    const p = resolveProcess(image, { env: { MODE: 'dev' }, workdir: '/tmp', user: '0' });
    expect(p.env).toContain('MODE=dev');
    expect(p).toMatchObject({ cwd: '/tmp', user: '0' });
  });

  it('an image without config gets a default PATH', () => {
    expect(resolveProcess({}, { args: ['ls'], env: {} })).toEqual({ argv: ['ls'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], cwd: undefined, user: undefined });
  });
});

describe('imageOf', () => {
  it('reads config.json beside the rootfs, and names the file when it is invalid', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'images', 'app_1', 'rootfs'), { recursive: true });
    expect(imageOf(dir, 'app:1').config).toEqual({});
    writeFileSync(join(dir, 'images', 'app_1', 'config.json'), JSON.stringify({ architecture: 'amd64', config: { Cmd: ['x'] } }));
    expect(imageOf(dir, 'app:1').config).toEqual({ Cmd: ['x'] });
    writeFileSync(join(dir, 'images', 'app_1', 'config.json'), JSON.stringify({ config: { Cmd: 'not a list' } }));
    expect(() => imageOf(dir, 'app:1')).toThrow(/image "app:1" has an invalid config .*config\.json: config\.Cmd: /);
    expect(() => imageOf(dir, 'nope')).toThrow(/no image "nope" in the local store/);
  });
});
