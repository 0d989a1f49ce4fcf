// The machine's own trees that tests and benchmarks must never write to: its /lib/modules
// (and each kernel directory in it: extra/, updates/, modules.dep), /var/lib/dkms, /usr/src
// and the kernel-related parts of /etc. One list and one watcher for both
// (test/global-setup.ts, bench/run.js): no test-runner imports here.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

export const GUARDED_HOST_DIRS: readonly string[] = [
  '/lib/modules',
  '/var/lib/dkms',
  '/usr/src',
  '/etc/dkms',
  '/etc/kernel',
  '/etc/kernel/preinst.d',
  '/etc/kernel/postinst.d',
  '/etc/kernel/prerm.d',
  '/etc/kernel/header_postinst.d',
  '/etc/kernel/install.d',
  '/etc/depmod.d',
  '/etc/systemd/system',
];

export interface HostGuard {
  /** Stops watching; returns what changed, each "<event> <path>" once. */
  stop(): string[];
}

/** Watches the guarded directories (those that exist) from now until stop(). */
export async function guardHost(): Promise<HostGuard> {
  const events: string[] = [];
  const watchers: FSWatcher[] = [];
  const dirs = [...GUARDED_HOST_DIRS];
  for (const k of await readdir('/lib/modules').catch(() => [] as string[]))
    dirs.push(path.join('/lib/modules', k));
  for (const dir of dirs) {
    if (!(await stat(dir).catch(() => undefined))?.isDirectory()) continue;
    watchers.push(watch(dir, (type, name) => events.push(`${type} ${path.join(dir, String(name ?? ''))}`)));
  }
  return {
    stop() {
      for (const w of watchers) w.close();
      return [...new Set(events)];
    },
  };
}
