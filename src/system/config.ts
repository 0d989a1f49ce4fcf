// Reads <root>/etc/dkms-abi.conf and <root>/etc/dkms-abi.conf.d/*.conf (INI).
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_CONFIG, type Config } from '../core/config.js';
import { InputError } from '../core/errors.js';

/** Missing files mean defaults; unreadable or malformed ones are input errors. */
export async function loadConfig(root: string, explicitFile?: string): Promise<Config> {
  const files: string[] = [];
  if (explicitFile !== undefined) files.push(explicitFile);
  else {
    files.push(path.join(root, 'etc/dkms-abi.conf'));
    const dropIn = path.join(root, 'etc/dkms-abi.conf.d');
    try {
      const names = (await readdir(dropIn)).filter((n) => n.endsWith('.conf')).sort();
      files.push(...names.map((n) => path.join(dropIn, n)));
    } catch {
      // no drop-in directory
    }
  }
  for (const file of files) {
    try {
      await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && explicitFile === undefined) continue;
      throw new InputError(file, `cannot read: ${code ?? String(err)}`);
    }
  }
  return DEFAULT_CONFIG;
}
