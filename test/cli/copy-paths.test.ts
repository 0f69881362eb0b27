// hyper cp's arguments read as docker cp reads them, and the agent tool each copy runs.
import { describe, expect, it } from 'vitest';
import { copyEnd, copyPlan, wantsContents } from '../../src/cli/copy-paths.js';
import { copyCommand } from '../../src/exec/protocol.js';
import { ValidationError } from '../../src/errors.js';

describe('hyper cp arguments', () => {
  it('POD:PATH when a colon comes before any slash; paths in the pod are from its root', () => {
    expect(copyEnd('web:/etc/hosts')).toEqual({ pod: 'web', path: '/etc/hosts' });
    expect(copyEnd('web:etc')).toEqual({ pod: 'web', path: '/etc' });
    expect(copyEnd('web:')).toEqual({ pod: 'web', path: '/' });
    expect(copyEnd('./a:b')).toEqual({ local: './a:b' });
    expect(copyEnd('/tmp/x:y')).toEqual({ local: '/tmp/x:y' });
    expect(copyEnd('-')).toEqual({ local: '-' });
  });

  it('exactly one side is a pod', () => {
    expect(copyPlan('web:/etc', './etc')).toEqual({ direction: 'from', pod: 'web', path: '/etc', local: './etc' });
    expect(copyPlan('-', 'web:/tmp')).toEqual({ direction: 'to', pod: 'web', path: '/tmp', local: '-' });
    expect(() => copyPlan('a', 'b')).toThrow(ValidationError);
    expect(() => copyPlan('a:/x', 'b:/y')).toThrow(/copying between pods is not supported/);
  });

  it('"/." asks for a directory\'s contents', () => {
    expect(['/a/.', 'a/.', '.', '/a/./'].every(wantsContents)).toBe(true);
    expect(['/a', '/a.', '/.a', 'a/..'].some(wantsContents)).toBe(false);
  });

  it('the agent tool: tar-out DIR NAME (NAME "." for contents), tar-in DEST', () => {
    expect(copyCommand({ direction: 'from', path: '/etc/hosts' })).toEqual(['tar-out', '/etc', 'hosts']);
    expect(copyCommand({ direction: 'from', path: '/etc/' })).toEqual(['tar-out', '/', 'etc']);
    expect(copyCommand({ direction: 'from', path: '/etc/.' })).toEqual(['tar-out', '/etc', '.']);
    expect(copyCommand({ direction: 'from', path: '/' })).toEqual(['tar-out', '/', '.']);
    expect(copyCommand({ direction: 'from', path: '/.' })).toEqual(['tar-out', '/', '.']);
    expect(copyCommand({ direction: 'to', path: '/tmp/x' })).toEqual(['tar-in', '/tmp/x']);
  });
});
