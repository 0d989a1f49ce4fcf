import { describe, expect, it } from 'vitest';
import { parseKernelRelease, validatePathComponent } from './release.js';

describe('parseKernelRelease', () => {
  it.each([
    ['6.1.0-47-amd64', 'amd64', 'debian'],
    ['6.1.0-47-cloud-amd64', 'cloud-amd64', 'debian'],
    ['6.1.0-47-rt-amd64', 'rt-amd64', 'debian'],
    ['6.1.0-47-686-pae', '686-pae', 'debian'],
    ['6.1.0-0.deb11.13-amd64', 'amd64', 'debian'],
    ['6.12.111+deb12-amd64', 'amd64', 'debian'],
    ['6.12.48+deb13-cloud-arm64', 'cloud-arm64', 'debian'],
    ['5.15.0-91-generic', 'generic', 'ubuntu'],
    ['5.15.0-91-lowlatency', 'lowlatency', 'ubuntu'],
    ['6.8.0-1015-aws', 'aws', 'ubuntu'],
    ['2.6.29.1-desktop-1mnb', 'desktop', 'mandriva'],
    ['6.1.192-tiny-1mnb', 'tiny', 'mandriva'],
    ['6.6.58-server-1.mga9', 'server', 'mandriva'],
    ['4.18.0-477.10.1.el8_8.x86_64', 'x86_64', 'rhel'],
    ['5.14.0-362.8.1.el9_3.x86_64+rt', 'x86_64+rt', 'rhel'],
    ['6.5.6-300.fc39.x86_64', 'x86_64', 'rhel'],
    ['5.14.21-150500.55.39-default', 'default', 'suse'],
    ['6.4.0-150600.23.7-azure', 'azure', 'suse'],
  ])('%s → %s (%s)', (release, flavour, distro) => {
    const r = parseKernelRelease(release);
    expect([r.flavour, r.distro]).toEqual([flavour, distro]);
    expect(validatePathComponent(r.flavour)).toBeUndefined();
  });

  it.each([
    ['6.5.0-custom', 'custom'],
    ['6.5.0', 'default'],
    ['weird release!', 'default'],
    ['', 'default'],
    ['../../etc', 'default'],
  ])('falls back for the unknown scheme %j → %s, saying so', (release, flavour) => {
    const r = parseKernelRelease(release);
    expect(r.flavour).toBe(flavour);
    expect(r.distro).toBe('unknown');
    expect(r.source).toMatch(/^unknown scheme/);
  });

  it('tries configured patterns first', () => {
    const r = parseKernelRelease('6.1.0-47-amd64', [
      { pattern: /^\d+\.\d+\.\d+-\d+-(.+)-amd64$/, group: 1, source: 'site' },
    ]);
    expect(r.flavour).toBe('amd64'); // the pattern does not match: table wins
    const s = parseKernelRelease('6.1.0-47-cloud-amd64', [
      { pattern: /-(cloud)-/, group: 1, source: 'site.conf:3' },
    ]);
    expect([s.flavour, s.source]).toEqual(['cloud', 'pattern site.conf:3']);
  });

  it.each(['', '.', '..', '.hidden', 'a/b', 'a\nb', 'a\0b', 'x'.repeat(129)])(
    'rejects %j as a path component',
    (s) => {
      expect(validatePathComponent(s)).toBeDefined();
    },
  );
});
