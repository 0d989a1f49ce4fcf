// Both sides of the line protocol between the guest's /init and the harness: the POSIX sh
// script that runs the steps, and the parser of what it printed on the serial console.
// Every guest line the harness reads starts with "@@", so kernel console output and the
// firmware's escape sequences around it are ignored.
//
//   @@KVER <uname -r>
//   @@O <i> <line of the tool's stdout/stderr>
//   @@K <i> <kernel log line printed during step i>
//   @@STEP <i> rc=<exit code> loaded=<0|1> taint=<flags from /sys/module/<name>/taint>
//   @@MODULES <names in /proc/modules after the last step>
//   @@DONE

export interface GuestStep {
  /** argv run in the guest, e.g. ['/sbin/modprobe', 'ext4'] or ['/sbin/insmod', '/lib/modules/…/x.ko']. */
  readonly argv: readonly string[];
  /** The module's name as /proc/modules shows it. */
  readonly moduleName: string;
}

export interface GuestStepOutput {
  readonly exitCode: number;
  readonly loaded: boolean;
  /** Per-module taint flags ("E" unsigned, "O" out of tree…); null when not loaded. */
  readonly moduleTaint: string | null;
  readonly toolOutput: string[];
  readonly kernelMessages: string[];
}

export interface GuestOutput {
  readonly kernelRelease: string | null;
  readonly steps: (GuestStepOutput | undefined)[];
  readonly loadedModules: string[] | null;
  readonly done: boolean;
}

function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export function initScript(steps: readonly GuestStep[]): string {
  const lines = [
    '#!/bin/sh',
    'export PATH=/sbin:/usr/bin:/bin',
    'mount -t proc proc /proc',
    'mount -t sysfs sysfs /sys',
    'mount -t devtmpfs devtmpfs /dev',
    'echo "@@KVER $(uname -r)"',
    // Start each step with an empty kernel log so its messages are its own.
    'dmesg -c >/dev/null',
    'step() {',
    '  i=$1; name=$2; shift 2',
    '  "$@" >/tmp/out 2>&1; rc=$?',
    '  sed "s/^/@@O $i /" /tmp/out',
    '  dmesg -c | sed "s/^/@@K $i /"',
    '  if grep -q "^$name " /proc/modules; then loaded=1; else loaded=0; fi',
    '  taint=$(cat "/sys/module/$name/taint" 2>/dev/null)',
    '  echo "@@STEP $i rc=$rc loaded=$loaded taint=$taint"',
    '}',
    ...steps.map((s, i) => ['step', String(i), shQuote(s.moduleName), ...s.argv.map(shQuote)].join(' ')),
    'echo "@@MODULES $(cut -d" " -f1 /proc/modules | tr "\\n" " ")"',
    'echo "@@DONE"',
    'poweroff -f',
    '',
  ];
  return lines.join('\n');
}

// The kernel log's "[    1.234567] " timestamp, which busybox dmesg keeps.
const TIMESTAMP = /^\[\s*\d+\.\d+\]\s?/;
// The kernel's own timekeeping, which finishes on its own clock a second or so after boot
// (the TSC's refined calibration, the switch to it): on a loaded host it lands inside a step.
const TIMEKEEPING = /^(?:tsc|clocksource): /;

export function parseConsole(consoleText: string, stepCount: number): GuestOutput {
  const tool: string[][] = Array.from({ length: stepCount }, () => []);
  const kernel: string[][] = Array.from({ length: stepCount }, () => []);
  const steps: (GuestStepOutput | undefined)[] = Array.from({ length: stepCount }, () => undefined);
  let kernelRelease: string | null = null;
  let loadedModules: string[] | null = null;
  let done = false;
  for (const raw of consoleText.split('\n')) {
    const at = raw.indexOf('@@');
    if (at < 0) continue;
    const line = raw.slice(at).replace(/\r$/, '');
    let m: RegExpExecArray | null;
    if ((m = /^@@KVER (\S+)$/.exec(line)) !== null) {
      kernelRelease = m[1] ?? null;
    } else if ((m = /^@@([OK]) (\d+) ?(.*)$/.exec(line)) !== null) {
      const i = Number(m[2]);
      const text = m[1] === 'K' ? (m[3] ?? '').replace(TIMESTAMP, '') : (m[3] ?? '');
      if (m[1] === 'K' && TIMEKEEPING.test(text)) continue;
      (m[1] === 'O' ? tool[i] : kernel[i])?.push(text);
    } else if ((m = /^@@STEP (\d+) rc=(\d+) loaded=([01]) taint=(\S*)$/.exec(line)) !== null) {
      const i = Number(m[1]);
      if (i >= stepCount) continue;
      const loaded = m[3] === '1';
      steps[i] = {
        exitCode: Number(m[2]),
        loaded,
        moduleTaint: loaded ? (m[4] ?? '') : null,
        toolOutput: tool[i] ?? [],
        kernelMessages: kernel[i] ?? [],
      };
    } else if ((m = /^@@MODULES ?(.*)$/.exec(line)) !== null) {
      loadedModules = (m[1] ?? '').split(' ').filter((n) => n !== '');
    } else if (line === '@@DONE') {
      done = true;
    }
  }
  return { kernelRelease, steps, loadedModules, done };
}
