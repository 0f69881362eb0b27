// How the image tools' failures read: skopeo's logrus lines reduced to their cause, with what to try for the common ones.
import { describe, expect, it } from 'vitest';
import { explain, runTool, toolMessage } from '../../src/images/tools.js';

describe('image tool errors', () => {
  it('keeps the cause of skopeo\'s fatal line, without the prefix that repeats our own words', () => {
    const line = 'time="2026-11-24T23:49:33Z" level=fatal msg="Error parsing image name \\"docker://127.0.0.1:1/x\\": pinging container registry 127.0.0.1:1: Get \\"https://127.0.0.1:1/v2/\\": dial tcp 127.0.0.1:1: connect: connection refused"';
    expect(toolMessage(`some warning\n${line}\n`)).toBe('pinging container registry 127.0.0.1:1: Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused');
    expect(toolMessage('initializing source docker://r:5000/a:1: reading manifest 1 in r:5000/a: manifest unknown')).toBe('reading manifest 1 in r:5000/a: manifest unknown');
    expect(toolMessage('')).toBe('(no output)');
  });

  it('says what to try for unreachable registries, plain HTTP, missing images, credentials and TLS', () => {
    expect(explain('dial tcp 1.2.3.4:5000: connect: connection refused')).toMatch(/the registry is unreachable/);
    expect(explain('Get "https://r:5000/v2/": http: server gave HTTP response to HTTPS client')).toMatch(/pass --insecure \(or start hyperd with --insecure-registry HOST:PORT\)/);
    expect(explain('reading manifest latest in r/x: manifest unknown')).toMatch(/no such image or tag in that registry/);
    expect(explain('reading manifest 1 in r/x: unauthorized: authentication required')).toMatch(/run hyper login REGISTRY/);
    expect(explain('x509: certificate signed by unknown authority')).toMatch(/TLS verification failed/);
    expect(explain('something else')).toBe('something else');
  });

  it('names the package to install when a tool is missing, and quotes a failing tool', async () => {
    await expect(runTool('no-such-tool-hyper', [], 'frobnicate')).rejects.toThrow(/cannot frobnicate: no-such-tool-hyper is not installed — install it with: apt-get install no-such-tool-hyper/);
    await expect(runTool('tar', ['-tf', '/nonexistent.tar'], 'read the archive')).rejects.toThrow(/cannot read the archive: tar: \/nonexistent\.tar: Cannot open: No such file or directory/);
  });
});
