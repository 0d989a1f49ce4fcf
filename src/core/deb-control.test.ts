import { describe, expect, it } from 'vitest';
import { description, installedSizeKiB, moduleControl, renderStanza, wrap } from './deb-control.js';
import { changelog, checkMaintainer, copyright, rfc2822 } from './deb-docs.js';
import { maintainerScripts } from './deb-scripts.js';

const ABI = { flavour: 'amd64', abiver: '1' };

/** deb822 back into fields, continuation lines joined with "\n" (what dpkg-deb -f prints). */
function parseStanza(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith(' ')) fields.set(last, `${fields.get(last) ?? ''}\n${line.slice(1)}`);
    else {
      const i = line.indexOf(':');
      last = line.slice(0, i);
      fields.set(last, line.slice(i + 1).trim());
    }
  }
  return fields;
}

describe('control file', () => {
  const text = moduleControl({
    name: 'blobdrv-modules-amd64-1',
    version: '1.0-1',
    debArch: 'amd64',
    maintainer: 'Test Builder <builder@example.org>',
    installedSizeKiB: 1696,
    module: 'blobdrv',
    moduleVersion: '1.0',
    abi: ABI,
    builtFor: '6.1.0-47-amd64',
    verifiedKernels: ['6.1.0-47-amd64', '6.1.0-47.1-amd64', '4.18.0-477.el8_8.x86_64'],
    dependsOn: ['abi-provider-modules-amd64-1'],
    moduleFiles: ['blobdrv.ko'],
  });
  const fields = parseStanza(text);

  it('has the fields policy wants, in dpkg-gencontrol order', () => {
    expect([...fields.keys()]).toEqual([
      'Package',
      'Version',
      'Architecture',
      'Maintainer',
      'Installed-Size',
      'Depends',
      'Provides',
      'Enhances',
      'Section',
      'Priority',
      'Description',
    ]);
    expect(fields.get('Section')).toBe('kernel');
    expect(fields.get('Priority')).toBe('optional');
    expect(fields.get('Installed-Size')).toBe('1696');
  });

  it('depends on dkms-abi and the packages of modules it links against, enhances the verified kernels', () => {
    expect(fields.get('Depends')).toBe('dkms-abi, abi-provider-modules-amd64-1');
    expect(fields.get('Provides')).toBe('blobdrv-modules-abi (= 1.0-1)');
    // A release that is not a package name (RHEL's) is left out rather than mangled.
    expect(fields.get('Enhances')).toBe('linux-image-6.1.0-47-amd64, linux-image-6.1.0-47.1-amd64');
  });

  it('writes a synopsis under 80 characters and a wrapped extended description', () => {
    const [synopsis = '', ...body] = (fields.get('Description') ?? '').split('\n');
    expect(synopsis).toBe('blobdrv 1.0 kernel modules for kernel ABI amd64-1');
    expect(body.length).toBeGreaterThan(3);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(body).toContain('.');
  });

  it('renders continuation lines and empty lines the deb822 way', () => {
    expect(
      renderStanza([
        ['A', 'x\ny\n\nz'],
        ['B', ''],
      ]),
    ).toBe('A: x\n y\n .\n z\nB:\n');
    expect(description('s', ['one two', 'three'])).toBe('s\none two\n\nthree');
    expect(wrap('aaa bbb ccc', 7)).toEqual(['aaa bbb', 'ccc']);
    expect(wrap('averyveryverylongword x', 5)).toEqual(['averyveryverylongword', 'x']);
  });

  it('counts Installed-Size like dpkg-gencontrol: KiB per file rounded up, one per directory', () => {
    expect(
      installedSizeKiB([
        { kind: 'file', size: 1 },
        { kind: 'file', size: 1024 },
        { kind: 'file', size: 1025 },
        { kind: 'dir', size: 0 },
      ]),
    ).toBe(1 + 1 + 2 + 1);
    expect(installedSizeKiB([])).toBe(1);
  });
});

describe('package documentation', () => {
  it('checks the maintainer form', () => {
    expect(checkMaintainer('Test Builder <builder@example.org>')).toBeUndefined();
    expect(checkMaintainer('builder@example.org')).toMatch(/not of the form/);
    expect(checkMaintainer('A, B <a@example.org>')).toMatch(/not of the form/);
  });

  it('formats RFC 5322 dates in UTC', () => {
    expect(rfc2822(0)).toBe('Thu, 01 Jan 1970 00:00:00 +0000');
    expect(rfc2822(1_700_000_000)).toBe('Tue, 14 Nov 2023 22:13:20 +0000');
  });

  it('writes a changelog entry dpkg-parsechangelog reads', () => {
    const text = changelog({
      name: 'hello-abi-modules-amd64-1',
      version: '1.0-1',
      module: 'hello-abi',
      moduleVersion: '1.0',
      abi: ABI,
      builtFor: '6.1.0-47-amd64',
      maintainer: 'T B <t@example.org>',
      epochSeconds: 0,
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe('hello-abi-modules-amd64-1 (1.0-1) unstable; urgency=medium');
    expect(lines[2]).toMatch(/^ {2}\* Binary build of hello-abi 1\.0/);
    expect(text).toContain('\n -- T B <t@example.org>  Thu, 01 Jan 1970 00:00:00 +0000\n');
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
  });

  it('points GPL modules at common-licenses and carries a vendor licence file', () => {
    const gpl = copyright({
      module: 'm',
      moduleVersion: '1',
      abi: ABI,
      builtFor: 'k',
      licenses: ['GPL', 'GPL'],
    });
    expect(gpl).toContain('(MODULE_LICENSE): GPL.');
    expect(gpl).toContain('/usr/share/common-licenses/GPL-2');
    const blob = copyright({
      module: 'm',
      moduleVersion: '1',
      abi: ABI,
      builtFor: 'k',
      licenses: ['Proprietary'],
      sourceLicense: { name: 'LICENSE', text: 'Vendor terms.\n' },
    });
    expect(blob).not.toContain('common-licenses');
    expect(blob.endsWith("The source tree's LICENSE follows.\n\nVendor terms.\n")).toBe(true);
  });
});

describe('maintainer scripts', () => {
  const [postinst, prerm] = maintainerScripts('blobdrv-modules-amd64-1');

  it('hand the work to dkms-abi with the root dpkg runs in', () => {
    expect(postinst?.name).toBe('postinst');
    expect(postinst?.text).toContain(
      'configure | abort-upgrade | abort-remove | abort-deconfigure)\n\tdkms-abi --root "${DPKG_ROOT:-/}" package-install /usr/lib/dkms-abi/packages/blobdrv-modules-amd64-1\n',
    );
    expect(prerm?.name).toBe('prerm');
    expect(prerm?.text).toContain('remove | upgrade | deconfigure)');
    expect(prerm?.text).toContain(
      'dkms-abi --root "${DPKG_ROOT:-/}" package-remove blobdrv-modules-amd64-1\n',
    );
    for (const s of [postinst, prerm]) {
      expect(s?.text.startsWith('#!/bin/sh\n')).toBe(true);
      expect(s?.text).toContain('\nset -e\n');
    }
  });
});
