// Reads <root>/etc/dkms-abi.conf and <root>/etc/dkms-abi.conf.d/*.conf (sorted; later files
// override earlier ones), or only the file given with --config.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'ini';
import { configFromIni, type Config, type IniFile } from '../core/config.js';
import { InputError } from '../core/errors.js';

export async function loadConfig(root: string, explicitFile?: string): Promise<Config> {
  const candidates: string[] = [];
  if (explicitFile !== undefined) candidates.push(explicitFile);
  else {
    candidates.push(path.join(root, 'etc/dkms-abi.conf'));
    const dropIn = path.join(root, 'etc/dkms-abi.conf.d');
    const names = await readdir(dropIn).catch(() => [] as string[]);
    candidates.push(
      ...names
        .filter((n) => n.endsWith('.conf'))
        .sort()
        .map((n) => path.join(dropIn, n)),
    );
  }
  const files: IniFile[] = [];
  for (const file of candidates) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // The default locations are optional; a file named with --config is not.
      if (code === 'ENOENT' && explicitFile === undefined) continue;
      throw new InputError(file, code === 'ENOENT' ? 'no such file' : `cannot read: ${code ?? String(err)}`);
    }
    if (text.includes('\0')) throw new InputError(file, 'not a text file (contains NUL bytes)');
    files.push({ file, text, data: parse(text) });
  }
  return configFromIni(files);
}
