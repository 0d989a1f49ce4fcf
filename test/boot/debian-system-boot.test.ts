// Issue 14, item 3: a booted Debian 13 system, end to end. The trixie system of
// scripts/system-image.sh (systemd, dkms 3.2, nodejs) gets, through apt from a local
// repository and with every package's own maintainer scripts and kernel hooks running:
//   1. kernel 6.1.99-1-amd64 (image and headers, from scripts/drift-kernels.sh);
//   2. a real DKMS package (bookworm's acpi-call-dkms), which stock dkms builds for it;
//   3. dkms-abi's own package, whose postinst adopts that install;
//   4. a second kernel of the same ABI, 6.1.99-1.1-amd64: dkms-abi's hook runs first and
//      Debian's dkms hook after it compiles nothing.
// The tree is then booted as an ext4 virtio disk into the second kernel (direct kernel boot:
// the "reboot" into it): the module loads, dkms-abi.service ran, and dkms-abi status says
// what dkms status says. Then the first kernel's package is upgraded in place (dkms's
// kernel_preinst case) and the second purged (the shared tree stays for the first), and the
// system boots the first kernel: same checks. apt and dpkg run in a chroot of the tree (no
// network: only the local repository is a source); the boots are where the system is judged.
import { execa } from 'execa';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QEMU, chooseAccel, qemuMachine } from './qemu-harness.js';

const CACHE = process.env['DKMS_ABI_CACHE'] ?? '/var/cache/dkms-abi';
const IMAGE = path.join(CACHE, 'system-image');
const KERNEL_DEBS = path.join(CACHE, 'drift-kernels', 'debs');
const DKMS_DEBS = path.join(CACHE, 'dkms-debs');
const REPO = path.resolve(import.meta.dirname, '../..');
const K1 = '6.1.99-1-amd64';
const K2 = '6.1.99-1.1-amd64';
const PKG = 'acpi-call';
const BOOT_TIMEOUT_MS = 480_000;

let work: string;
let tree: string;
const mounted: string[] = [];

async function sh(cmd: string, args: readonly string[]): Promise<string> {
  const r = await execa(cmd, args, { reject: false, all: true });
  if (r.exitCode !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${String(r.exitCode)}:\n${r.all.slice(-4000)}`);
  return r.stdout;
}

/** A command in the system's chroot, as apt and dpkg run it there (no services started). */
function inSystem(command: string): Promise<string> {
  // A clean environment: the system's, not this process's (NODE_EXTRA_CA_CERTS and the like).
  return sh('chroot', [
    tree,
    'env',
    '-i',
    'DEBIAN_FRONTEND=noninteractive',
    'LC_ALL=C.UTF-8',
    'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
    'sh',
    '-c',
    command,
  ]);
}

async function mountSystem(): Promise<void> {
  for (const [what, where, type] of [
    ['proc', 'proc', 'proc'],
    ['sysfs', 'sys', 'sysfs'],
    ['/dev', 'dev', 'bind'],
  ] as const) {
    const at = path.join(tree, where);
    await sh('mount', type === 'bind' ? ['--bind', what, at] : ['-t', type, what, at]);
    mounted.push(at);
  }
}

async function unmountSystem(): Promise<void> {
  while (mounted.length > 0) {
    const at = mounted.pop() as string;
    await execa('umount', ['-l', at], { reject: false });
  }
}

/** Rebuilds the local repository's index (the test adds a package to it later). */
async function indexRepository(): Promise<void> {
  const repo = path.join(tree, 'srv/repo');
  await writeFile(
    path.join(repo, 'Packages'),
    await sh('sh', ['-c', `cd '${repo}' && dpkg-scanpackages -m . 2>/dev/null`]),
  );
}

interface GuestReport {
  readonly uname: string;
  readonly service: string;
  readonly modprobe: string;
  readonly loaded: string;
  readonly verify: string;
  readonly abiStatus: readonly string[];
  readonly dkmsStatus: readonly string[];
  readonly console: string;
}

/** Boots the system tree as a disk into `kernel` and reads what the check unit printed. */
async function boot(kernel: string): Promise<GuestReport> {
  await unmountSystem();
  const img = path.join(work, 'disk.img');
  await rm(img, { force: true });
  await sh('mke2fs', ['-q', '-t', 'ext4', '-d', tree, '-L', 'root', img, '4G']);
  const vmlinuz = path.join(tree, 'boot', `vmlinuz-${kernel}`);
  const accel = await chooseAccel(vmlinuz);
  const r = await execa(
    QEMU,
    [
      ...qemuMachine(accel, 1024),
      ...['-drive', `file=${img},format=raw,if=virtio`],
      ...['-kernel', vmlinuz, '-append', 'root=/dev/vda rw console=ttyS0 panic=-1 quiet loglevel=3'],
    ],
    { reject: false, stdin: 'ignore', timeout: BOOT_TIMEOUT_MS, forceKillAfterDelay: 2_000, all: true },
  );
  await mountSystem();
  const report = await execa('debugfs', ['-R', 'cat /root/system-check.txt', img], { reject: false });
  const text = `${report.stdout}\n--- console ---\n${r.all}`.replaceAll('\r', '');
  const lines = text.split('\n');
  const one = (tag: string) =>
    lines
      .find((l) => l.startsWith(`@@${tag} `))
      ?.slice(tag.length + 3)
      .trim() ?? `(no @@${tag} in the console; qemu ${String(r.exitCode)}, ${accel}):\n${text.slice(-3000)}`;
  const many = (tag: string) =>
    lines.filter((l) => l.startsWith(`@@${tag} `)).map((l) => l.slice(tag.length + 3).trim());
  return {
    uname: one('UNAME'),
    service: one('SERVICE'),
    modprobe: one('MODPROBE'),
    loaded: one('LOADED'),
    verify: one('VERIFY'),
    abiStatus: many('ABI'),
    dkmsStatus: many('DKMS'),
    console: text,
  };
}

/** "acpi-call/1.2.2, K, x86_64: installed…" → key and whether it is installed there. */
function statusMap(lines: readonly string[]): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const l of lines) {
    const m = /^(.*?): (\S+)/.exec(l);
    if (m?.[1] !== undefined) out.set(m[1], m[2] === 'installed' || m[2] === 'installed-abi');
  }
  return out;
}

function expectGuest(report: GuestReport, kernel: string): void {
  expect(report.uname, report.console.slice(-3000)).toBe(kernel);
  // A oneshot with RemainAfterExit: active once it ran, and it succeeded.
  expect(report.service).toBe('active success');
  expect(report.modprobe).toBe('0');
  expect(report.loaded).toBe('1');
  expect(report.verify).toBe('0');
  // dkms-abi status says what dkms status says, kernel by kernel (installed-abi is dkms's installed).
  const abi = statusMap(report.abiStatus);
  const dkms = statusMap(report.dkmsStatus);
  expect(dkms.get(`${PKG}/${version}, ${kernel}, x86_64`)).toBe(true);
  expect([...abi.entries()].sort()).toEqual([...dkms.entries()].sort());
}

/** The check unit: runs once multi-user is reached, prints to the serial console, powers off. */
const CHECK_SCRIPT = `#!/bin/sh
# Written to the disk first (the test reads it back with debugfs), then to the console.
{
echo "@@UNAME $(uname -r)"
echo "@@SERVICE $(systemctl is-active dkms-abi.service) $(systemctl show -P Result dkms-abi.service)"
modprobe acpi_call; echo "@@MODPROBE $?"
echo "@@LOADED $(grep -c '^acpi_call ' /proc/modules)"
dkms-abi status | sed 's/^/@@ABI /'
dkms status | sed 's/^/@@DKMS /'
dkms-abi verify >/dev/null 2>&1; echo "@@VERIFY $?"
echo "@@DONE"
} >/root/system-check.txt 2>&1
cat /root/system-check.txt >/dev/ttyS0
sync
poweroff -f
`;
const CHECK_UNIT = `[Unit]
Description=dkms-abi system test: report and power off
After=multi-user.target dkms-abi.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/dkms-abi-system-check

[Install]
WantedBy=multi-user.target
`;

let version = '';

describe('a booted Debian 13 system with dkms-abi from its package', () => {
  beforeAll(async () => {
    for (const need of [path.join(IMAGE, '.complete'), KERNEL_DEBS, DKMS_DEBS])
      if (!existsSync(need)) throw new Error(`${need}: missing (bash scripts/setup-system.sh builds it)`);
    work = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-system-'));
    tree = path.join(work, 'root');
    await sh('cp', ['-a', IMAGE, tree]);
    // The local repository: both kernels, the DKMS package, dkms-abi's package.
    const repo = path.join(tree, 'srv/repo');
    await mkdir(repo, { recursive: true });
    for (const deb of readdirSync(KERNEL_DEBS)) await cp(path.join(KERNEL_DEBS, deb), path.join(repo, deb));
    const dkmsDeb = readdirSync(DKMS_DEBS).find((n) => n.startsWith(`${PKG}-dkms_`));
    if (dkmsDeb === undefined) throw new Error(`${DKMS_DEBS}: no ${PKG}-dkms .deb`);
    await cp(path.join(DKMS_DEBS, dkmsDeb), path.join(repo, dkmsDeb));
    version = /_(?:\d+:)?([^-_]+)/.exec(dkmsDeb)?.[1] ?? '';
    await sh('sh', [path.join(REPO, 'scripts/build-deb.sh'), '-o', repo]);
    await indexRepository();
    // Only the local repository is a source: nothing is fetched from the network.
    await writeFile(path.join(tree, 'etc/apt/sources.list'), 'deb [trusted=yes] file:/srv/repo ./\n');
    await rm(path.join(tree, 'etc/apt/sources.list.d'), { recursive: true, force: true });
    await mkdir(path.join(tree, 'etc/apt/sources.list.d'));
    await writeFile(path.join(tree, 'usr/local/sbin/dkms-abi-system-check'), CHECK_SCRIPT);
    await chmod(path.join(tree, 'usr/local/sbin/dkms-abi-system-check'), 0o755);
    await writeFile(path.join(tree, 'etc/systemd/system/dkms-abi-system-check.service'), CHECK_UNIT);
    await mountSystem();
    // No login prompt on the serial console: its getty would hang up the check's output.
    await inSystem(
      'systemctl enable dkms-abi-system-check.service >/dev/null 2>&1; systemctl mask serial-getty@ttyS0.service >/dev/null 2>&1; apt-get update -qq',
    );
  });

  afterAll(async () => {
    await unmountSystem();
    if (work !== undefined && process.env['DKMS_ABI_KEEP_SANDBOX'] !== '1')
      await rm(work, { recursive: true, force: true });
  });

  it('apt installs a kernel, a real DKMS package (stock dkms builds it), then dkms-abi, which adopts it', async () => {
    await inSystem(`apt-get install -y -qq linux-image-${K1} linux-headers-${K1} >/dev/null`);
    await inSystem(`apt-get install -y -qq ${PKG}-dkms >/dev/null`);
    expect(await inSystem('dkms status')).toBe(`${PKG}/${version}, ${K1}, x86_64: installed`);
    const out = await inSystem('apt-get install -y -qq dkms-abi 2>&1');
    expect(out).not.toMatch(/dkms-abi: warning/);
    expect(await inSystem('systemctl is-enabled dkms-abi.service')).toBe('enabled');
    expect(await inSystem(`readlink /lib/modules/${K1}/extra`)).toBe('../kernel-abi-amd64-1');
    expect(await inSystem('dkms-abi status')).toBe(`${PKG}/${version}, ${K1}, x86_64: installed`);
  });

  it("a second kernel of the ABI: dkms-abi's hook links the build, Debian's dkms hook compiles nothing", async () => {
    const out = await inSystem(`apt-get install -y linux-image-${K2} linux-headers-${K2} 2>&1`);
    expect(out).toContain(`${PKG}/${version}, ${K2}: linked (installed-abi, no build)`);
    // DKMS's entry for the second kernel is a link to the first one's build: no build log.
    const entry = path.join(tree, 'var/lib/dkms', PKG, version, K2, 'x86_64');
    expect(await readdir(entry)).toEqual(['module']);
    expect(await inSystem('dkms status')).toBe(
      `${PKG}/${version}, ${K1}, x86_64: installed\n${PKG}/${version}, ${K2}, x86_64: installed`,
    );
  });

  it('booted into the second kernel: the module loads, dkms-abi.service ran, both statuses agree', async () => {
    expectGuest(await boot(K2), K2);
  });

  it('the first kernel upgraded in place and the second purged; booted into the first: the same', async () => {
    // The same release in a new package version: dkms >= 3.1's kernel_preinst case.
    const repo = path.join(tree, 'srv/repo');
    const old = readdirSync(repo).find((n) => n.startsWith(`linux-image-${K1}_`)) as string;
    const unpacked = path.join(work, 'repack');
    await sh('dpkg-deb', ['-R', path.join(repo, old), unpacked]);
    const control = path.join(unpacked, 'DEBIAN/control');
    await writeFile(
      control,
      (await readFile(control, 'utf8')).replace(/^Version: .*$/m, 'Version: 6.1.99-2'),
    );
    await sh('dpkg-deb', ['-b', unpacked, path.join(repo, `linux-image-${K1}_6.1.99-2_amd64.deb`)]);
    await indexRepository();
    await inSystem('apt-get update -qq');
    await inSystem(`apt-get install -y -qq linux-image-${K1} >/dev/null 2>&1`);
    expect(await inSystem(`dpkg-query -W -f '\${Version}' linux-image-${K1}`)).toBe('6.1.99-2');
    expect(await inSystem('dkms status')).toBe(
      `${PKG}/${version}, ${K1}, x86_64: installed\n${PKG}/${version}, ${K2}, x86_64: installed`,
    );
    // No copy in updates/dkms shadows the shared tree.
    for (const k of [K1, K2]) {
      const dir = path.join(tree, 'lib/modules', k, 'updates/dkms');
      for (const f of await readdir(dir).catch(() => [] as string[]))
        expect(await inSystem(`test -L /lib/modules/${k}/updates/dkms/${f} && echo link`)).toBe('link');
    }
    expect(await inSystem('dkms-abi verify; echo "exit $?"')).toMatch(/exit 0$/);

    await inSystem(`apt-get purge -y -qq linux-image-${K2} linux-headers-${K2} >/dev/null 2>&1`);
    expect(existsSync(path.join(tree, 'lib/modules/kernel-abi-amd64-1'))).toBe(true);
    expect(await inSystem('dkms-abi status')).toBe(`${PKG}/${version}, ${K1}, x86_64: installed`);

    expectGuest(await boot(K1), K1);
  });

  it('the last kernel purged: its tree, now unused, is pruned; DKMS keeps the source as dkms would', async () => {
    await inSystem(`apt-get purge -y -qq linux-image-${K1} linux-headers-${K1} >/dev/null 2>&1`);
    expect(existsSync(path.join(tree, 'lib/modules/kernel-abi-amd64-1'))).toBe(false);
    // (lib/modules/K1 itself stays: trixie's depmod writes modules.weakdep, which this 6.1
    // kernel package's postrm does not know to remove.)
    expect(existsSync(path.join(tree, 'lib/modules', K1, 'extra'))).toBe(false);
    expect(await inSystem('dkms status')).toBe(`${PKG}/${version}: added`);
    expect(await inSystem('dkms-abi status')).toBe(`${PKG}/${version}: added`);
    expect(await inSystem('dkms-abi verify; echo "exit $?"')).toMatch(/exit 0$/);
  });
});
