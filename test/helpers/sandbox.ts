// Sandbox roots for integration tests: a Debian-like root (helpers/debian-root.ts, shared
// with the benchmarks) in a temp directory per test, removed when the test ends.
//
// HARD LINKS SHARE THE HOST'S INODES. Rename, unlink or create files in the sandbox freely, but
// never write into, chmod or touch a hard-linked file in place: that changes the host's copy.
// Call privateCopy() first to give the sandbox its own file.
import { rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { addHeaders, addImageModules, makeBareRoot } from './debian-root.js';

export { EXAMPLES_DIR, HOST_HEADERS_DIR, IMAGES_DIR, copyExampleSource } from './debian-root.js';

export interface SandboxOptions {
  readonly kernels: readonly string[];
  /**
   * Host path of the system whose headers, os-release and tmp the root is made from: "/" (the
   * default), or a chroot such as the Debian 13 one (test/helpers/platforms.ts), whose tools
   * then run inside it and see the root at `inner`.
   */
  readonly system?: string;
  /** Headers and the lib/modules/K/build link (default true). */
  readonly withHeaders?: boolean;
  /** The real in-tree modules of each kernel, its modules.order/builtin files, config and System.map. */
  readonly withImageModules?: boolean;
}

export interface SandboxRoot {
  /** Host path of the root (what --root gets on the host). */
  readonly root: string;
  /** The root as the system's tools see it: `root` without the system's prefix. */
  readonly inner: string;
  /** Host path of the system the root was made from ("/" or a chroot). */
  readonly system: string;
  readonly kernels: readonly string[];
  /** Host path of a path inside the root ("/var/lib/dkms" → "<root>/var/lib/dkms"). */
  host(inner: string): string;
  /** Host path of kernel K's headers inside the root. */
  headersDir(kernel: string): string;
  cleanup(): Promise<void>;
}

const live = new Set<string>();
process.on('exit', () => {
  // Safety net for roots whose test crashed before cleanup ran.
  if (keep()) return;
  for (const root of live) rmSync(root, { recursive: true, force: true });
});

function keep(): boolean {
  return process.env['DKMS_ABI_KEEP_SANDBOX'] === '1';
}

/**
 * A new sandbox root. Inside a running test it is removed when the test ends; elsewhere (a
 * beforeAll) call cleanup() yourself, e.g. in afterAll. DKMS_ABI_KEEP_SANDBOX=1 keeps it.
 */
export async function makeSandboxRoot(opts: SandboxOptions): Promise<SandboxRoot> {
  const system = path.resolve(opts.system ?? '/');
  const tmp = system === '/' ? os.tmpdir() : path.join(system, 'tmp');
  const root = await mkdtemp(path.join(tmp, 'dkms-abi-root-'));
  live.add(root);
  const sandbox: SandboxRoot = {
    root,
    inner: path.join('/', path.relative(system, root)),
    system,
    kernels: [...opts.kernels],
    host: (inner) => path.join(root, inner),
    headersDir: (kernel) => path.join(root, 'usr/src', `linux-headers-${kernel}`),
    cleanup: async () => {
      live.delete(root);
      if (keep()) {
        process.stderr.write(`sandbox kept: ${root}\n`);
        return;
      }
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    onTestFinished(() => sandbox.cleanup());
  } catch {
    // Not inside a test: the caller cleans up.
  }
  try {
    await populate(sandbox, opts);
  } catch (err) {
    await sandbox.cleanup();
    throw err;
  }
  return sandbox;
}

async function populate(sb: SandboxRoot, opts: SandboxOptions): Promise<void> {
  await makeBareRoot(sb.root, sb.system);
  for (const kernel of opts.kernels) {
    await mkdir(sb.host(`lib/modules/${kernel}`), { recursive: true });
    if (opts.withHeaders ?? true) await addHeaders(sb.root, kernel, sb.system);
    if (opts.withImageModules === true) await addImageModules(sb.root, kernel);
  }
}

/** Replaces a hard-linked file in the root with a private copy, so it can be edited in place. */
export async function privateCopy(root: string, inner: string): Promise<string> {
  const file = path.join(root, inner);
  const tmp = `${file}.private-${process.pid}`;
  await copyFile(file, tmp);
  await rename(tmp, file);
  return file;
}
