// The VerdictService as status uses it: 20 kernels sharing one ABI tree of 50 modules (real
// Debian 6.1.0-47 modules), two more kernels wrongly declared into it (6.1.0-50 clones).
// Cold: every verdict computed, then cached per kernel; warm: answered from the cache within
// the status budget; changes to a module file or a kernel's symvers are seen.
import { copyFile, mkdir, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeManifest } from '../../src/core/layout.js';
import type { TreeModule } from '../../src/core/snapshot.js';
import type { Usability } from '../../src/core/status.js';
import { makePaths, type Paths } from '../../src/system/paths.js';
import { scanTreeModules } from '../../src/system/scan.js';
import { VerdictService } from '../../src/system/verdict-service.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { IMAGES_DIR, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { replaceInSection } from '../boot/ko-fixtures.js';

const K47 = '6.1.0-47-amd64';
const K50 = '6.1.0-50-amd64';
const SAME = Array.from({ length: 20 }, (_, i) => `6.1.0-47.${i + 1}-amd64`);
const WRONG = ['6.1.0-50.1-amd64', '6.1.0-50.2-amd64'];
const TREE = 'kernel-abi-amd64-1';
const STATUS_BUDGET_MS = 200;

let sb: SandboxRoot;
let paths: Paths;
let modules: TreeModule[];

const imageModule = (kver: string, rel: string) =>
  path.join(IMAGES_DIR, kver, 'lib/modules', kver, 'kernel', rel);

async function allVerdicts(svc: VerdictService): Promise<Map<string, Usability>> {
  const out = new Map<string, Usability>();
  for (const k of [...SAME, ...WRONG])
    for (const tm of modules) out.set(`${k} ${tm.module}`, await svc.usability(tm, k));
  return out;
}

beforeAll(async () => {
  sb = await makeSandboxRoot({ kernels: [K47, K50] });
  for (const k of SAME)
    await addSameAbiKernel(sb, K47, k, { headers: false, image: false, bootSymvers: true });
  for (const k of WRONG)
    await addSameAbiKernel(sb, K50, k, { headers: false, image: false, bootSymvers: true });
  const tree = sb.host(`/lib/modules/${TREE}`);
  // 50 real modules of 6.1.0-47, one DKMS module version each.
  const crypto = (await readdir(path.dirname(imageModule(K47, 'crypto/md4.ko')))).filter((f) =>
    f.endsWith('.ko'),
  );
  for (const file of crypto.sort().slice(0, 50)) {
    const name = file.replace(/\.ko$/, '');
    await mkdir(path.join(tree, 'dkms/crypto'), { recursive: true });
    await copyFile(imageModule(K47, `crypto/${file}`), path.join(tree, 'dkms/crypto', file));
    const meta = path.join(tree, '.dkms-abi', `vd-${name}`, '1.0');
    await mkdir(meta, { recursive: true });
    await writeFile(
      path.join(meta, 'manifest.json'),
      serializeManifest({
        module: `vd-${name}`,
        version: '1.0',
        arch: 'x86_64',
        builtFor: SAME[0] as string,
        files: [`dkms/crypto/${file}`],
      }),
    );
  }
  for (const k of [...SAME, ...WRONG]) await symlink(`../${TREE}`, sb.host(`/lib/modules/${k}/extra`));
  paths = makePaths(sb.root);
  modules = await scanTreeModules(tree);
  expect(modules).toHaveLength(50);
}, 600_000);

afterAll(async () => {
  await sb.cleanup();
});

describe('VerdictService for status', () => {
  it('cold: judges every (module, kernel) pair and caches one file per kernel', async () => {
    const svc = new VerdictService(paths);
    const started = Date.now();
    const v = await allVerdicts(svc);
    await svc.flush();
    console.log(`verdicts cold: ${v.size} pairs in ${Date.now() - started} ms`);
    for (const k of SAME)
      for (const tm of modules) expect(v.get(`${k} ${tm.module}`)).toEqual({ usable: true });
    for (const k of WRONG) {
      for (const tm of modules) {
        expect(v.get(`${k} ${tm.module}`)).toEqual({
          usable: false,
          reason: 'module_layout: CRC 0x160c03af != 0xbce1a965',
        });
      }
    }
    const cached = await readdir(sb.host('/var/lib/dkms-abi/cache/verdicts'));
    expect(cached.sort()).toEqual([...SAME, ...WRONG].map((k) => `${k}.json`).sort());
  });

  it(`warm: ${(SAME.length + WRONG.length) * 50} pairs within ${STATUS_BUDGET_MS} ms, same answers`, async () => {
    const cold = await allVerdicts(new VerdictService(paths));
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const svc = new VerdictService(paths);
      const started = performance.now();
      const warm = await allVerdicts(svc);
      await svc.flush();
      times.push(performance.now() - started);
      expect(warm).toEqual(cold);
    }
    times.sort((a, b) => a - b);
    console.log(
      `verdicts warm: ${cold.size} pairs, median ${times[2]?.toFixed(1)} ms (${times.map((t) => t.toFixed(0)).join(', ')})`,
    );
    expect(times[2]).toBeLessThan(STATUS_BUDGET_MS);
  });

  it('a replaced module file is judged again; the others keep their cached verdicts', async () => {
    const target = path.join(sb.host(`/lib/modules/${TREE}`), modules[3]?.files[0] as string);
    // An install replaces files by rename: a 6.1.0-50 build of another module takes its place.
    await copyFile(imageModule(K50, 'lib/crc7.ko'), `${target}.new`);
    await rename(`${target}.new`, target);
    modules = await scanTreeModules(sb.host(`/lib/modules/${TREE}`));
    const v = await allVerdicts(new VerdictService(paths));
    const tm = modules[3] as TreeModule;
    expect(v.get(`${SAME[0]} ${tm.module}`)).toEqual({
      usable: false,
      reason: 'module_layout: CRC 0xbce1a965 != 0x160c03af',
    });
    expect(v.get(`${WRONG[0]} ${tm.module}`)).toEqual({ usable: true });
    expect(v.get(`${SAME[0]} ${modules[4]?.module}`)).toEqual({ usable: true });
    await copyFile(imageModule(K47, `crypto/${path.basename(target)}`), `${target}.new`);
    await rename(`${target}.new`, target);
  });

  it('a kernel whose Module.symvers changed is judged again', async () => {
    const k = SAME[5] as string;
    const file = sb.host(`/boot/symvers-${k}.gz`);
    await writeFile(`${file}.new`, gzipSync(await readFile(`/usr/src/linux-headers-${K50}/Module.symvers`)));
    await rename(`${file}.new`, file);
    modules = await scanTreeModules(sb.host(`/lib/modules/${TREE}`));
    const svc = new VerdictService(paths);
    expect(await svc.usability(modules[0] as TreeModule, k)).toEqual({
      usable: false,
      reason: 'module_layout: CRC 0x160c03af != 0xbce1a965',
    });
    expect(await svc.usability(modules[0] as TreeModule, SAME[0] as string)).toEqual({ usable: true });
  });

  it('filesUsable re-reads the tree each call: an install between two calls is seen', async () => {
    const svc = new VerdictService(paths);
    const k = SAME[0] as string;
    expect(await svc.filesUsable([imageModule(K47, 'lib/crc7.ko')], k)).toEqual({ usable: true });
    expect(await svc.filesUsable([imageModule(K50, 'lib/crc7.ko')], k)).toEqual({
      usable: false,
      reason: 'module_layout: CRC 0xbce1a965 != 0x160c03af',
    });
    expect(await svc.usability(modules[0] as TreeModule, K47)).toEqual({
      usable: false,
      reason: `${K47} has no ABI tree`,
    });
  });

  it('a tree module the kernel refuses makes its users unusable, in the tree and for files checked against it', async () => {
    const tree = sb.host(`/lib/modules/${TREE}`);
    const cryptd = modules.find((m) => m.module === 'vd-cryptd') as TreeModule;
    const simd = modules.find((m) => m.module === 'vd-crypto_simd') as TreeModule;
    const file = path.join(tree, cryptd.files[0] as string);
    // Same CRCs as the kernel's, but a vermagic the loader refuses.
    const edited = replaceInSection(
      await readFile(imageModule(K47, 'crypto/cryptd.ko')),
      '.modinfo',
      'mod_unload modversions',
      'mod_unload modversionX',
    );
    await writeFile(`${file}.new`, edited);
    await rename(`${file}.new`, file);
    modules = await scanTreeModules(tree);
    const svc = new VerdictService(paths);
    const k = SAME[0] as string;
    const magic = `vermagic "${K47} SMP preempt mod_unload modversionX" != "${k} SMP preempt mod_unload modversions"`;
    expect(await svc.usability(cryptd, k)).toEqual({ usable: false, reason: magic });
    expect(await svc.usability(simd, k)).toEqual({ usable: false, reason: `needs cryptd: ${magic}` });
    // A new build of crypto_simd, checked before install: its provider is the tree's cryptd.
    const report = await svc.checkFiles([imageModule(K47, 'crypto/crypto_simd.ko')], k);
    expect(report.sources.tree).toBe(`/lib/modules/${TREE}`);
    expect(report.results.map((r) => r.verdict)).toEqual([
      { usable: false, problems: [{ kind: 'dependency', symbol: 'cryptd', expected: null, actual: magic }] },
    ]);
    // The same file on the kernel without a tree: cryptd is the kernel's own.
    expect(
      (await svc.checkFiles([imageModule(K47, 'crypto/crypto_simd.ko')], K47)).results[0]?.verdict,
    ).toEqual({
      usable: true,
      problems: [],
    });
  });
});
