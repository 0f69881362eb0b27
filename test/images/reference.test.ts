// Image references parse and normalise the way Docker spells them; bad ones are refused naming the part that is wrong.
import { describe, expect, it } from 'vitest';
import { canonical, familiar, normalizeRef, parseRef } from '../../src/images/reference.js';
import { chainId } from '../../src/images/oci-layout.js';

const digest = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  it('normalises short names to Docker Hub, keeps registries with ports, tags and digests', () => {
    expect(normalizeRef('busybox')).toBe('docker.io/library/busybox:latest');
    expect(normalizeRef('team/app:v1')).toBe('docker.io/team/app:v1');
    expect(normalizeRef('localhost:5000/app')).toBe('localhost:5000/app:latest');
    expect(normalizeRef('127.0.0.1:5000/a/b/c:1.2-rc_3')).toBe('127.0.0.1:5000/a/b/c:1.2-rc_3');
    expect(normalizeRef(`app@${digest}`)).toBe(`docker.io/library/app@${digest}`);
    expect(normalizeRef(`reg.example/app:1@${digest}`)).toBe(`reg.example/app:1@${digest}`);
    expect(normalizeRef('index.docker.io/library/busybox:1')).toBe('docker.io/library/busybox:1');
  });

  it('shows references the way users type them', () => {
    expect(familiar(parseRef('docker.io/library/busybox:latest'))).toBe('busybox:latest');
    expect(familiar(parseRef('localhost:5000/app:1'))).toBe('localhost:5000/app:1');
    expect(canonical(parseRef(familiar(parseRef('team/app:v1'))))).toBe('docker.io/team/app:v1');
  });

  it('refuses bad references naming the part that is wrong', () => {
    expect(() => parseRef('')).toThrow(/empty/);
    expect(() => parseRef('Busybox')).toThrow(/name component "Busybox" must be lowercase/);
    expect(() => parseRef('app:-x')).toThrow(/tag "-x"/);
    expect(() => parseRef('app@sha256:123')).toThrow(/digest "sha256:123" is not sha256: followed by 64/);
    expect(() => parseRef('a//b')).toThrow(/empty name component/);
    expect(() => parseRef('bad_host:99/app')).toThrow(/registry "bad_host:99"/);
  });

  it('computes OCI ChainIDs: one layer is its DiffID, more chain by hashing', () => {
    expect(chainId([digest])).toBe(digest);
    expect(chainId([digest, digest])).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(chainId([digest, digest])).not.toBe(digest);
    expect(chainId([])).toBe('');
  });
});
