// Image config resolution: the spec overrides the image the way Docker and Kubernetes do.
import { describe, expect, it } from 'vitest';
import { resolveProcess } from '../../src/images/image-config.js';

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
