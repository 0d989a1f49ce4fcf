// Ground truth for module verdicts: boot a real kernel under qemu with a busybox
// initramfs cut from a sandbox root's lib/modules/<kver>, load modules step by step, and
// report what the kernel's module loader said about each. Test infrastructure, not
// product code: see docs/boot-tests.md.
import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { encodeNewc, type CpioEntry } from './cpio.js';
import { initScript, parseConsole, type GuestStep } from './init-script.js';
import { moduleEntries, moduleNameOfPath, normalizeModuleName, toolEntries } from './initramfs.js';
import { classifyLoad, taintMessages, type LoadOutcome } from './loader-messages.js';

export type BootStep =
  | { readonly kind: 'modprobe'; readonly name: string }
  /** `path` as seen inside the root, e.g. /lib/modules/<kver>/extra/foo.ko. */
  | { readonly kind: 'insmod'; readonly path: string };

export type Accel = 'kvm' | 'tcg';

export interface BootOptions {
  /** Sandbox root holding lib/modules/<kver>/ with modules.dep (depmod -b root kver). */
  readonly root: string;
  readonly kver: string;
  /** Defaults to the unpacked Debian image: /var/cache/dkms-abi/images/<kver>/boot/vmlinuz-<kver>. */
  readonly vmlinuz?: string;
  readonly steps: readonly BootStep[];
  /** Hard limit for the whole boot; qemu is killed when it is reached. Default 120 s. */
  readonly timeoutMs?: number;
  /** Default: $DKMS_ABI_BOOT_ACCEL, else KVM when a probe boot under KVM works, else TCG. */
  readonly accel?: Accel;
}

export interface StepResult {
  readonly step: BootStep;
  readonly index: number;
  /** The name /proc/modules uses for the module (modinfo's name for insmod paths). */
  readonly moduleName: string;
  /** Exit status of kmod's modprobe/insmod in the guest. */
  readonly exitCode: number;
  /** The module is in /proc/modules after the step. */
  readonly loaded: boolean;
  readonly outcome: LoadOutcome;
  /** The symbols named by the messages that decided the outcome. */
  readonly symbols: readonly string[];
  /** Kernel log lines printed during the step, timestamps removed. */
  readonly kernelMessages: readonly string[];
  /** The tainting lines among them (unsigned, out-of-tree, licence): reported, not failures. */
  readonly taintMessages: readonly string[];
  /** /sys/module/<name>/taint after the step ("E" unsigned, "O" out-of-tree…); null if not loaded. */
  readonly moduleTaint: string | null;
  /** What modprobe/insmod printed. */
  readonly toolOutput: readonly string[];
}

export interface BootReport {
  /** `uname -r` in the guest. */
  readonly kernelRelease: string;
  readonly accel: Accel;
  /** Wall time from starting qemu to its exit. */
  readonly bootMs: number;
  readonly initramfsBytes: number;
  readonly steps: readonly StepResult[];
  /** /proc/modules after the last step. */
  readonly loadedModules: readonly string[];
  /** The raw serial console, for diagnostics. */
  readonly console: string;
}

/** The boot itself failed (timeout, panic, qemu error): no answer about any module. */
export class BootError extends Error {
  constructor(
    message: string,
    readonly console: string,
  ) {
    super(`${message}\n--- console tail ---\n${console.slice(-4000)}`);
    this.name = 'BootError';
  }
}

const IMAGES = '/var/cache/dkms-abi/images';
export const QEMU = 'qemu-system-x86_64';
const DEFAULT_TIMEOUT_MS = 120_000;
// Under a working KVM the kernel reaches /init in about a second; a nested KVM that
// cannot run this kernel hangs instead, so the probe gives up early and we use TCG.
const KVM_PROBE_TIMEOUT_MS = 10_000;
const CMDLINE = 'console=ttyS0 panic=-1 quiet loglevel=1';

export function defaultVmlinuz(kver: string): string {
  return path.join(IMAGES, kver, 'boot', `vmlinuz-${kver}`);
}

export async function bootAndLoad(opts: BootOptions): Promise<BootReport> {
  const vmlinuz = opts.vmlinuz ?? defaultVmlinuz(opts.kver);
  const modprobeNames = opts.steps.flatMap((s) => (s.kind === 'modprobe' ? [s.name] : []));
  const insmodPaths = opts.steps.flatMap((s) => (s.kind === 'insmod' ? [s.path] : []));
  const modules = await moduleEntries(opts.root, opts.kver, modprobeNames, insmodPaths);
  // Absolute paths: busybox's sh would otherwise run its own modprobe/insmod applets.
  const guestSteps: GuestStep[] = [];
  for (const step of opts.steps) {
    guestSteps.push(
      step.kind === 'modprobe'
        ? { argv: ['/sbin/modprobe', step.name], moduleName: normalizeModuleName(step.name) }
        : {
            argv: ['/sbin/insmod', step.path],
            moduleName: await moduleNameOfFile(modules.hostPaths.get(step.path)),
          },
    );
  }
  const initramfs = buildInitramfs([
    ...(await cachedToolEntries()),
    ...modules.entries,
    { kind: 'file', path: 'init', data: Buffer.from(initScript(guestSteps)), mode: 0o755 },
  ]);
  const accel = opts.accel ?? (await chooseAccel(vmlinuz));
  const { consoleText, ms } = await runQemu(vmlinuz, initramfs, accel, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const guest = parseConsole(consoleText, guestSteps.length);
  if (!guest.done || guest.kernelRelease === null || guest.loadedModules === null) {
    throw new BootError(`the guest did not finish its ${guestSteps.length} steps`, consoleText);
  }
  const steps: StepResult[] = [];
  for (const [index, step] of opts.steps.entries()) {
    const out = guest.steps[index];
    const guestStep = guestSteps[index];
    if (out === undefined || guestStep === undefined)
      throw new BootError(`no result for step ${index}`, consoleText);
    steps.push({
      step,
      index,
      moduleName: guestStep.moduleName,
      exitCode: out.exitCode,
      loaded: out.loaded,
      ...classifyLoad(out.exitCode, out.loaded, out.kernelMessages, out.toolOutput),
      kernelMessages: out.kernelMessages,
      taintMessages: taintMessages(out.kernelMessages),
      moduleTaint: out.moduleTaint,
      toolOutput: out.toolOutput,
    });
  }
  return {
    kernelRelease: guest.kernelRelease,
    accel,
    bootMs: ms,
    initramfsBytes: initramfs.length,
    steps,
    loadedModules: guest.loadedModules,
    console: consoleText,
  };
}

// gzip level 1: the archive is built for one boot, so speed beats size.
function buildInitramfs(entries: readonly CpioEntry[]): Buffer {
  return gzipSync(encodeNewc(entries), { level: 1 });
}

let toolEntriesOnce: Promise<CpioEntry[]> | undefined;
function cachedToolEntries(): Promise<CpioEntry[]> {
  toolEntriesOnce ??= toolEntries();
  return toolEntriesOnce;
}

async function moduleNameOfFile(hostPath: string | undefined): Promise<string> {
  if (hostPath === undefined) throw new Error('insmod path was not collected from the root');
  const { stdout } = await execa('modinfo', ['-F', 'name', hostPath], { reject: false });
  const name = stdout.trim();
  return name !== '' ? normalizeModuleName(name) : moduleNameOfPath(hostPath);
}

const accelByKernel = new Map<string, Promise<Accel>>();

/** $DKMS_ABI_BOOT_ACCEL if set; else KVM if /dev/kvm is usable and a probe boot of this kernel works; else TCG. */
export function chooseAccel(vmlinuz: string): Promise<Accel> {
  const forced = process.env['DKMS_ABI_BOOT_ACCEL'];
  if (forced === 'kvm' || forced === 'tcg') return Promise.resolve(forced);
  let probe = accelByKernel.get(vmlinuz);
  if (probe === undefined) {
    probe = probeKvm(vmlinuz);
    accelByKernel.set(vmlinuz, probe);
  }
  return probe;
}

async function probeKvm(vmlinuz: string): Promise<Accel> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return 'tcg';
  }
  const initramfs = buildInitramfs([
    ...(await cachedToolEntries()),
    { kind: 'file', path: 'init', data: Buffer.from('#!/bin/sh\necho "@@DONE"\npoweroff -f\n'), mode: 0o755 },
  ]);
  try {
    const { consoleText } = await runQemu(vmlinuz, initramfs, 'kvm', KVM_PROBE_TIMEOUT_MS);
    return consoleText.includes('@@DONE') ? 'kvm' : 'tcg';
  } catch {
    return 'tcg';
  }
}

/**
 * One CPU with `memoryMiB`, accelerated as chosen, no default devices (VGA, NIC and its iPXE
 * ROM): the serial port on stdio is the only output; a reboot ends qemu.
 */
export function qemuMachine(accel: Accel, memoryMiB: number): string[] {
  return [
    ...(accel === 'kvm' ? ['-enable-kvm', '-cpu', 'host'] : ['-accel', 'tcg']),
    ...['-m', String(memoryMiB), '-smp', '1'],
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot'],
  ];
}

async function runQemu(
  vmlinuz: string,
  initramfs: Buffer,
  accel: Accel,
  timeoutMs: number,
): Promise<{ consoleText: string; ms: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-boot-'));
  try {
    const initrd = path.join(dir, 'initramfs.cpio.gz');
    await writeFile(initrd, initramfs);
    const args = [...qemuMachine(accel, 512), '-kernel', vmlinuz, '-initrd', initrd, '-append', CMDLINE];
    const started = Date.now();
    const result = await execa(QEMU, args, {
      reject: false,
      stdin: 'ignore',
      timeout: timeoutMs,
      forceKillAfterDelay: 2_000,
      all: true,
      stripFinalNewline: false,
      env: { LC_ALL: 'C' },
    });
    const ms = Date.now() - started;
    const consoleText = result.all ?? '';
    if (result.timedOut) throw new BootError(`qemu (${accel}) killed after ${timeoutMs} ms`, consoleText);
    if (result.exitCode !== 0)
      throw new BootError(`qemu (${accel}) exited with ${String(result.exitCode)}`, consoleText);
    return { consoleText, ms };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
