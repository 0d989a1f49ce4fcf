// Tests never write to the machine's real /lib/modules, /var/lib/dkms, /usr/src or the
// kernel-related parts of /etc. This watches those directories for the whole test run and
// fails the run, naming what changed, if anything did (even something created and removed).
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

const GUARDED = [
  '/lib/modules',
  '/var/lib/dkms',
  '/usr/src',
  '/etc/dkms',
  '/etc/kernel',
  '/etc/kernel/postinst.d',
  '/etc/kernel/prerm.d',
  '/etc/kernel/header_postinst.d',
  '/etc/kernel/install.d',
  '/etc/depmod.d',
  '/etc/systemd/system',
];

export default async function setup(): Promise<() => void> {
  const events: string[] = [];
  const watchers: FSWatcher[] = [];
  const dirs = [...GUARDED];
  // Each kernel directory under /lib/modules too (its extra/, updates/, modules.dep).
  for (const k of await readdir('/lib/modules').catch(() => [] as string[]))
    dirs.push(path.join('/lib/modules', k));
  for (const dir of dirs) {
    if (!(await stat(dir).catch(() => undefined))?.isDirectory()) continue;
    watchers.push(watch(dir, (type, name) => events.push(`${type} ${path.join(dir, String(name ?? ''))}`)));
  }
  return () => {
    for (const w of watchers) w.close();
    if (events.length > 0) {
      throw new Error(
        `tests changed the machine's real trees:\n${[...new Set(events)].slice(0, 20).join('\n')}`,
      );
    }
  };
}
