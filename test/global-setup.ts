// Tests never write to the machine's real /lib/modules, /var/lib/dkms, /usr/src or the
// kernel-related parts of /etc. This watches those directories (helpers/host-guard.ts) for
// the whole test run and fails the run, naming what changed, if anything did (even something
// created and removed).
import { guardHost } from './helpers/host-guard.js';

export default async function setup(): Promise<() => void> {
  const guard = await guardHost();
  return () => {
    const events = guard.stop();
    if (events.length > 0) {
      throw new Error(`tests changed the machine's real trees:\n${events.slice(0, 20).join('\n')}`);
    }
  };
}
