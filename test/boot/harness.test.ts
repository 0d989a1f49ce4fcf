// Proves the boot harness against the real Debian 6.1.0-47 kernel and real in-tree
// modules: one boot, many steps, each asserting exactly what the module loader said.
import { link, mkdir, mkdtemp, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renameVersionEntry, replaceInSection, stripSignature } from './ko-fixtures.js';
import { bootAndLoad, type BootReport, type BootStep, type StepResult } from './qemu-harness.js';

const KVER = '6.1.0-47-amd64';
const OTHER_KVER = '6.1.0-50-amd64';
const IMAGES = '/var/cache/dkms-abi/images';
const MOD = `/lib/modules/${KVER}`;
const SHARED = 'kernel-abi-amd64-harness';
const VERMAGIC = `${KVER} SMP preempt mod_unload modversions `;

const imageModule = (kver: string, rel: string): string => path.join(IMAGES, kver, 'lib/modules', kver, rel);

// Named steps so each test reads its own result.
const STEPS = {
  insmodExt4WithoutDeps: { kind: 'insmod', path: `${MOD}/kernel/fs/ext4/ext4.ko` },
  modprobeExt4: { kind: 'modprobe', name: 'ext4' },
  modprobeThroughExtraLink: { kind: 'modprobe', name: 'crc-itu-t' },
  insmodUnsigned: { kind: 'insmod', path: '/opt/fixtures/crc64-unsigned.ko' },
  insmodOtherAbiByPath: { kind: 'insmod', path: `${MOD}/extra/foreign/crc7.ko` },
  modprobeOtherAbi: { kind: 'modprobe', name: 'crc7' },
  insmodVermagic: { kind: 'insmod', path: '/opt/fixtures/xxhash_generic-vermagic.ko' },
  insmodNoSymbolVersion: { kind: 'insmod', path: '/opt/fixtures/crc8-nosymver.ko' },
  insmodNamespaceNotImported: { kind: 'insmod', path: '/opt/fixtures/ofb-noimport.ko' },
  insmodProprietaryUsingGplOnly: { kind: 'insmod', path: '/opt/fixtures/michael_mic-proprietary.ko' },
  insmodEditedButSigned: { kind: 'insmod', path: '/opt/fixtures/md4-edited-signed.ko' },
} satisfies Record<string, BootStep>;
type StepName = keyof typeof STEPS;
const NAMES = Object.keys(STEPS) as StepName[];

let root: string;
let report: BootReport;
const result = (name: StepName): StepResult => {
  const r = report.steps[NAMES.indexOf(name)];
  if (r === undefined) throw new Error(`no result for ${name}`);
  return r;
};

/** Writes a fixture derived from an in-tree module of the booted kernel into the root. */
async function fixture(name: string, rel: string, edit: (ko: Buffer) => Buffer): Promise<void> {
  await writeFile(path.join(root, 'opt/fixtures', name), edit(await readFile(imageModule(KVER, rel))));
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-boot-root-'));
  const modules = path.join(root, 'lib/modules');
  await mkdir(modules, { recursive: true });
  // Hard links: cheap, and nothing below writes through them (only renames, unlinks, new files).
  await execa('cp', ['-al', path.join(IMAGES, KVER, 'lib/modules', KVER), modules]);
  const modDir = path.join(modules, KVER);

  // A shared tree reached through extra -> ../kernel-abi-…: crc-itu-t lives only there.
  const shared = path.join(modules, SHARED);
  await mkdir(path.join(shared, 'foreign'), { recursive: true });
  await rename(path.join(modDir, 'kernel/lib/crc-itu-t.ko'), path.join(shared, 'crc-itu-t.ko'));
  await symlink(`../${SHARED}`, path.join(modDir, 'extra'));
  // crc7 built for the other ABI replaces the in-tree one.
  await unlink(path.join(modDir, 'kernel/lib/crc7.ko'));
  await link(imageModule(OTHER_KVER, 'kernel/lib/crc7.ko'), path.join(shared, 'foreign/crc7.ko'));

  await mkdir(path.join(root, 'opt/fixtures'), { recursive: true });
  await fixture('crc64-unsigned.ko', 'kernel/lib/crc64.ko', stripSignature);
  await fixture('xxhash_generic-vermagic.ko', 'kernel/crypto/xxhash_generic.ko', (ko) =>
    replaceInSection(stripSignature(ko), '.modinfo', 'mod_unload modversions', 'mod_unload modversionX'),
  );
  await fixture('crc8-nosymver.ko', 'kernel/lib/crc8.ko', (ko) =>
    renameVersionEntry(stripSignature(ko), '__x86_return_thunk', 'renamed_return_thunk'),
  );
  await fixture('ofb-noimport.ko', 'kernel/crypto/ofb.ko', (ko) =>
    replaceInSection(
      stripSignature(ko),
      '.modinfo',
      'import_ns=CRYPTO_INTERNAL',
      'import_ns=CRYPTO_INTERNAX',
    ),
  );
  await fixture('michael_mic-proprietary.ko', 'kernel/crypto/michael_mic.ko', (ko) =>
    replaceInSection(stripSignature(ko), '.modinfo', 'license=GPL v2', 'license=NONGPL'),
  );
  // Keeps the signature, which the edit invalidates.
  await fixture('md4-edited-signed.ko', 'kernel/crypto/md4.ko', (ko) =>
    replaceInSection(ko, '.modinfo', 'license=GPL', 'license=GPX'),
  );

  await execa('depmod', ['-b', root, KVER]);
  report = await bootAndLoad({ root, kver: KVER, steps: NAMES.map((n) => STEPS[n]) });
  if (process.env['DKMS_ABI_BOOT_REPORT'] !== undefined) {
    await writeFile(
      process.env['DKMS_ABI_BOOT_REPORT'],
      JSON.stringify({ ...report, console: undefined }, null, 2),
    );
  }
  console.log(
    `booted ${report.kernelRelease} under ${report.accel} in ${report.bootMs} ms, ` +
      `initramfs ${(report.initramfsBytes / 1e6).toFixed(1)} MB, ${report.steps.length} steps`,
  );
});

afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe(`boot harness on the real ${KVER} kernel`, () => {
  it('boots the requested kernel with a small initramfs', () => {
    expect(report.kernelRelease).toBe(KVER);
    // The dependency closure, not the 400 MB module tree.
    expect(report.initramfsBytes).toBeLessThan(20e6);
    expect(report.steps).toHaveLength(NAMES.length);
  });

  it('insmod of a module whose dependencies are not loaded: Unknown symbol', () => {
    const r = result('insmodExt4WithoutDeps');
    expect(r).toMatchObject({ moduleName: 'ext4', loaded: false, outcome: 'unknown-symbol' });
    expect(r.exitCode).not.toBe(0);
    expect(r.symbols).toEqual(expect.arrayContaining(['jbd2_journal_start', 'mb_cache_create', 'crc16']));
    expect(r.kernelMessages).toContain('ext4: Unknown symbol jbd2_journal_start (err -2)');
    expect(r.toolOutput.join('\n')).toContain('Unknown symbol in module');
  });

  it('modprobe loads a module with its dependencies from modules.dep', () => {
    expect(result('modprobeExt4')).toMatchObject({
      exitCode: 0,
      loaded: true,
      outcome: 'loaded',
      moduleTaint: '',
    });
    expect(report.loadedModules).toEqual(expect.arrayContaining(['ext4', 'jbd2', 'mbcache', 'crc16']));
  });

  it('modprobe finds a module through the extra -> ../kernel-abi-… link', () => {
    expect(result('modprobeThroughExtraLink')).toMatchObject({
      moduleName: 'crc_itu_t',
      exitCode: 0,
      loaded: true,
      outcome: 'loaded',
    });
  });

  it('an unsigned module loads and taints the kernel (E), which is not a failure', () => {
    const r = result('insmodUnsigned');
    expect(r).toMatchObject({
      moduleName: 'crc64',
      exitCode: 0,
      loaded: true,
      outcome: 'loaded',
      moduleTaint: 'E',
    });
    expect(r.taintMessages).toEqual([
      'crc64: module verification failed: signature and/or required key missing - tainting kernel',
    ]);
  });

  it(`a module of ${OTHER_KVER} on ${KVER}: disagrees about version of symbol module_layout`, () => {
    for (const name of ['insmodOtherAbiByPath', 'modprobeOtherAbi'] as const) {
      const r = result(name);
      expect(r).toMatchObject({
        moduleName: 'crc7',
        loaded: false,
        outcome: 'disagrees-about-version',
        symbols: ['module_layout'],
        kernelMessages: ['crc7: disagrees about version of symbol module_layout'],
      });
      // check_modstruct_version() fails the load with ENOEXEC; insmod and modprobe word it differently.
      expect(r.toolOutput.join('\n')).toMatch(/Invalid module format|Exec format error/);
    }
  });

  it('a changed vermagic: version magic … should be …', () => {
    expect(result('insmodVermagic')).toMatchObject({
      moduleName: 'xxhash_generic',
      loaded: false,
      outcome: 'vermagic-mismatch',
      kernelMessages: [
        `xxhash_generic: version magic '${VERMAGIC.replace('modversions', 'modversionX')}' should be '${VERMAGIC}'`,
      ],
    });
  });

  it('a symbol without a __versions entry: no symbol version (fatal on Debian)', () => {
    const r = result('insmodNoSymbolVersion');
    expect(r).toMatchObject({
      moduleName: 'crc8',
      loaded: false,
      outcome: 'no-symbol-version',
      symbols: ['__x86_return_thunk'],
    });
    expect(r.kernelMessages).toContain('crc8: no symbol version for __x86_return_thunk');
    expect(r.kernelMessages).toContain('crc8: Unknown symbol __x86_return_thunk (err -22)');
  });

  it('a namespaced symbol without MODULE_IMPORT_NS: does not import it', () => {
    const r = result('insmodNamespaceNotImported');
    expect(r).toMatchObject({ moduleName: 'ofb', loaded: false, outcome: 'namespace-not-imported' });
    expect(r.symbols.length).toBeGreaterThan(0);
    for (const sym of r.symbols) {
      expect(r.kernelMessages).toContain(
        `ofb: module uses symbol (${sym}) from namespace CRYPTO_INTERNAL, but does not import it.`,
      );
    }
  });

  it('a proprietary module using GPL-only exports: 6.1 says only Unknown symbol (err -2)', () => {
    const r = result('insmodProprietaryUsingGplOnly');
    expect(r).toMatchObject({ moduleName: 'michael_mic', loaded: false, outcome: 'unknown-symbol' });
    expect(r.taintMessages).toEqual(["michael_mic: module license 'NONGPL' taints kernel."]);
    expect(r.kernelMessages).toContain('michael_mic: Unknown symbol crypto_register_shash (err -2)');
  });

  it('a signed module edited after signing is rejected before any ABI check', () => {
    const r = result('insmodEditedButSigned');
    expect(r).toMatchObject({ moduleName: 'md4', loaded: false, outcome: 'other', kernelMessages: [] });
    expect(r.toolOutput.join('\n')).toContain('Key was rejected by service');
  });
});
