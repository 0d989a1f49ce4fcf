// A second kernel release with the same ABI as a real one, as a distribution's rebuilt
// kernel package would be: same Module.symvers and config, another release string. With
// headers (a copy whose release files are rewritten) modules can be built for it; without,
// only /boot/symvers-<release>.gz exists (RHEL/SUSE style), so it can only reuse builds.
import { execa } from 'execa';
import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { HOST_HEADERS_DIR, type SandboxRoot } from './sandbox.js';

/** Files of a Debian headers directory that spell the kernel release. */
const RELEASE_FILES = [
  '.kernelvariables',
  '.config',
  'include/generated/utsrelease.h',
  'include/generated/autoconf.h',
  'include/config/auto.conf',
];

export async function addSameAbiKernel(
  sb: SandboxRoot,
  from: string,
  to: string,
  opts: { readonly headers: boolean },
): Promise<void> {
  const hostHeaders = path.join(HOST_HEADERS_DIR, `linux-headers-${from}`);
  await mkdir(sb.host(`lib/modules/${to}`), { recursive: true });
  const config = (await readFile(path.join(hostHeaders, '.config'), 'utf8')).replaceAll(from, to);
  await writeFile(sb.host(`boot/config-${to}`), config);
  if (!opts.headers) {
    const symvers = await readFile(path.join(hostHeaders, 'Module.symvers'));
    await writeFile(sb.host(`boot/symvers-${to}.gz`), gzipSync(symvers));
    return;
  }
  const dest = sb.host(`usr/src/linux-headers-${to}`);
  await execa('cp', ['-al', hostHeaders, dest]);
  for (const rel of RELEASE_FILES) {
    const file = path.join(dest, rel);
    const text = (await readFile(file, 'utf8')).replaceAll(from, to);
    // Replace the hard link with a new file: never write through to the host's copy.
    await writeFile(`${file}.new`, text);
    await rename(`${file}.new`, file);
  }
  await symlink(`/usr/src/linux-headers-${to}`, sb.host(`lib/modules/${to}/build`));
}
