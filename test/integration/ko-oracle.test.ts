// The .ko reader against independent oracles, on every module of a real Debian kernel:
// kmod (modprobe --dump-modversions, modinfo) for __versions and .modinfo, the kernel's
// own Module.symvers (written by modpost at build time) for the exports, and a fresh
// kbuild build of examples/abi-provider for an external module's Module.symvers.
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseElf } from '../../src/core/elf.js';
import { exportsFromKsymtab } from '../../src/core/ko-exports.js';
import { splitSignature } from '../../src/core/ko-signature.js';
import { formatModVersionCrc, modinfoValues, readKernelModule, symversLinesFor } from '../../src/core/ko.js';
import type { ExportedSymbol, KernelModuleInfo } from '../../src/core/ko.js';
import { readKernelModuleFile } from '../../src/system/ko-file.js';
import { dumpModversions, kmodParamLines, modinfoAll, modinfoField } from '../helpers/ko-kmod-oracle.js';

const exec = promisify(execFile);
const KVER = '6.1.0-47-amd64';
const KERNEL = `/var/cache/dkms-abi/images/${KVER}/lib/modules/${KVER}/kernel`;
const HEADERS = `/usr/src/linux-headers-${KVER}`;
const PROVIDER = path.resolve(import.meta.dirname, '../../examples/abi-provider');
const SIG_KEYS = new Set(['sig_id', 'signer', 'sig_key', 'sig_hashalgo', 'signature']);

async function findModules(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await findModules(full)));
    else if (entry.name.endsWith('.ko')) out.push(full);
  }
  return out.sort();
}

/** modpost's module name: the path below the tree, without .ko. */
const modulePath = (file: string): string => path.relative(KERNEL, file).replace(/\.ko$/, '');

function dumpOf(info: KernelModuleInfo): string {
  // kmod strips one leading '.' from names (PPC64 ELFv1); x86_64 has none, but say it.
  return (info.versions?.toArray() ?? [])
    .map((v) => `${formatModVersionCrc(v)}\t${v.name.replace(/^\./, '')}\n`)
    .join('');
}

const byName = (a: ExportedSymbol, b: ExportedSymbol): number =>
  a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0;

describe(`every module of Debian ${KVER}`, () => {
  let files: string[];
  let infos: Map<string, KernelModuleInfo>;
  let raw: Map<string, Uint8Array>;

  beforeAll(async () => {
    files = await findModules(KERNEL);
    const bytes = await Promise.all(files.map((f) => readFile(f)));
    raw = new Map(files.map((f, i) => [f, bytes[i] ?? new Uint8Array(0)]));
    const start = performance.now();
    infos = new Map(files.map((f, i) => [f, readKernelModule(bytes[i] ?? new Uint8Array(0))]));
    const ms = performance.now() - start;
    console.log(`readKernelModule: ${String(files.length)} modules in ${ms.toFixed(0)} ms (in memory)`);
    // A bound for pathological slowness, far above the ~1 s this takes.
    expect(ms).toBeLessThan(15_000);
  });

  const info = (file: string): KernelModuleInfo => {
    const i = infos.get(file);
    if (i === undefined) throw new Error(`not read: ${file}`);
    return i;
  };

  it('finds the 4022 modules of the image', () => {
    expect(files).toHaveLength(4022);
  });

  it('reads __versions exactly as modprobe --dump-modversions prints it', async () => {
    const dumps = await dumpModversions(files);
    expect(dumps.size).toBe(files.length);
    let entries = 0;
    for (const f of files) {
      expect(dumpOf(info(f)), f).toBe(dumps.get(f));
      entries += info(f).versions?.length ?? 0;
    }
    expect(entries).toBeGreaterThan(100_000);
  });

  it('reads every .modinfo record, in order, as modinfo prints it (parameters and signature included)', async () => {
    const kmod = await modinfoAll(files);
    expect(kmod.size).toBe(files.length);
    for (const f of files) {
      const ours = info(f);
      const theirs = kmod.get(f);
      if (theirs === undefined) throw new Error(`modinfo printed nothing for ${f}`);
      // kmod appends the signature description after the module's own records.
      const sigStart = theirs.records.findIndex((r) => r.key === 'sig_id');
      const own = sigStart < 0 ? theirs.records : theirs.records.slice(0, sigStart);
      expect(
        theirs.records.slice(own.length).every((r) => SIG_KEYS.has(r.key)),
        f,
      ).toBe(true);
      expect(ours.signature === null ? undefined : ours.signature.idType, f).toBe(
        theirs.records[sigStart]?.value,
      );
      expect(
        ours.modinfo.records.filter((r) => r.key !== 'parm' && r.key !== 'parmtype'),
        f,
      ).toEqual(own);
      expect(kmodParamLines(ours.modinfo.records), f).toEqual(theirs.params);
      // The convenience fields are the first value of their key.
      for (const key of ['name', 'vermagic', 'license', 'srcversion'] as const) {
        expect(ours.modinfo[key], `${f} ${key}`).toBe(own.find((r) => r.key === key)?.value);
      }
      expect(ours.modinfo.importNs, f).toEqual(own.filter((r) => r.key === 'import_ns').map((r) => r.value));
      const depends = own.find((r) => r.key === 'depends')?.value ?? '';
      expect(ours.modinfo.depends.join(','), f).toBe(depends);
    }
  });

  it('gives what modinfo -F prints for single fields: repeated keys as lists, empty depends as []', async () => {
    const samples = {
      vsock: `${KERNEL}/net/vmw_vsock/vsock.ko`,
      e1000e: `${KERNEL}/drivers/net/ethernet/intel/e1000e/e1000e.ko`,
      virtioDmaBuf: `${KERNEL}/drivers/virtio/virtio_dma_buf.ko`,
    };
    expect(await modinfoField(samples.vsock, 'depends')).toBe('\n');
    expect(info(samples.vsock).modinfo.depends).toEqual([]);
    expect(await modinfoField(samples.virtioDmaBuf, 'import_ns')).toBe('DMA_BUF\n');
    expect(info(samples.virtioDmaBuf).modinfo.importNs).toEqual(['DMA_BUF']);
    for (const file of Object.values(samples)) {
      const keys = [...new Set(info(file).modinfo.records.map((r) => r.key))];
      for (const key of keys) {
        // -F parm prints the merged "name:description (type)" lines; other keys their raw values.
        const values =
          key === 'parm'
            ? kmodParamLines(info(file).modinfo.records)
            : modinfoValues(info(file).modinfo, key);
        expect(values.map((v) => `${v}\n`).join(''), `${file} ${key}`).toBe(await modinfoField(file, key));
      }
    }
    expect(modinfoValues(info(samples.e1000e).modinfo, 'alias').length).toBeGreaterThan(100);
  });

  it("regenerates every in-tree module's lines of the kernel's Module.symvers, in order", async () => {
    const symvers = (await readFile(`${HEADERS}/Module.symvers`, 'utf8')).split('\n').filter((l) => l !== '');
    const byModule = new Map<string, string[]>();
    for (const line of symvers) {
      const mod = line.split('\t')[2] ?? '';
      byModule.set(mod, [...(byModule.get(mod) ?? []), line]);
    }
    const imageModules = new Set(files.map(modulePath));
    // Every exporting module Module.symvers names, except vmlinux, is a .ko of this image.
    expect([...byModule.keys()].filter((m) => m !== 'vmlinux' && !imageModules.has(m))).toEqual([]);
    let lines = 0;
    for (const f of files) {
      const want = byModule.get(modulePath(f)) ?? [];
      expect(symversLinesFor(info(f), modulePath(f)), f).toEqual(want);
      lines += want.length;
    }
    console.log(
      `Module.symvers: ${String(lines)} module export lines reproduced from ${String(files.length)} .ko files`,
    );
    expect(lines).toBe(symvers.length - (byModule.get('vmlinux')?.length ?? 0));
    expect(lines).toBeGreaterThan(10_000);
  });

  it('finds the same exports through the __ksymtab sections and their relocations (the loader view)', () => {
    let exporting = 0;
    for (const f of files) {
      const { elf } = splitSignature(raw.get(f) ?? new Uint8Array(0));
      const fromTables = exportsFromKsymtab(parseElf(elf));
      const ours = info(f).exports;
      const gpl = (t: string): ExportedSymbol[] => ours.filter((e) => e.exportType === t).sort(byName);
      expect(fromTables, f).toEqual([...gpl('EXPORT_SYMBOL'), ...gpl('EXPORT_SYMBOL_GPL')]);
      if (ours.length > 0) exporting++;
    }
    expect(exporting).toBeGreaterThan(900);
  });

  it('lists as imports exactly the symbols __versions covers, plus nothing but module_layout there', () => {
    for (const f of files) {
      const i = info(f);
      const versioned = new Set((i.versions?.toArray() ?? []).map((v) => v.name));
      const imported = new Set(i.imports.toArray().map((x) => x.name));
      expect(
        [...imported].filter((n) => !versioned.has(n)),
        f,
      ).toEqual([]);
      expect(
        [...versioned].filter((n) => !imported.has(n)),
        f,
      ).toEqual(['module_layout']);
      expect(i.thisModuleSize, f).toBe(0x380);
      expect(i.signature?.idType, f).toBe('PKCS#7');
    }
  });
});

describe('an external module built by kbuild (examples/abi-provider)', () => {
  let dir: string;
  let ko: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-provider-'));
    for (const name of await readdir(PROVIDER)) {
      if (/\.[ch]$/.test(name) || name === 'Makefile' || name === 'Kbuild') {
        await copyFile(path.join(PROVIDER, name), path.join(dir, name));
      }
    }
    await exec('make', ['-C', HEADERS, `M=${dir}`, 'modules'], { maxBuffer: 64 * 1024 * 1024 });
    ko = path.join(dir, 'abi_provider.ko');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('regenerates the Module.symvers kbuild wrote, line for line', async () => {
    const info = await readKernelModuleFile(ko);
    const written = await readFile(path.join(dir, 'Module.symvers'), 'utf8');
    expect(
      symversLinesFor(info, path.join(dir, 'abi_provider'))
        .map((l) => `${l}\n`)
        .join(''),
    ).toBe(written);
    // The example exports one of each kind: plain, GPL-only, and GPL in a namespace.
    expect(info.exports.map((e) => [e.exportType, e.namespace])).toEqual(
      expect.arrayContaining([
        ['EXPORT_SYMBOL', ''],
        ['EXPORT_SYMBOL_GPL', ''],
        ['EXPORT_SYMBOL_GPL', expect.stringMatching(/\S/)],
      ]),
    );
    expect(info.signature).toBeNull();
  });

  it('agrees with modprobe --dump-modversions and modinfo on the fresh build', async () => {
    const info = await readKernelModuleFile(ko);
    expect(dumpOf(info)).toBe((await dumpModversions([ko], 1)).get(ko));
    const kmod = (await modinfoAll([ko], 1)).get(ko);
    expect(info.modinfo.records.filter((r) => r.key !== 'parm' && r.key !== 'parmtype')).toEqual(
      kmod?.records,
    );
    expect(kmodParamLines(info.modinfo.records)).toEqual(kmod?.params);
    expect(info.modinfo.vermagic).toBe(`${KVER} SMP preempt mod_unload modversions `);
  });
});
