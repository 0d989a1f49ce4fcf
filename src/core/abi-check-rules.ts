// A packager's rules for `abi check`: glob patterns naming accepted changes (by symbol or
// by exporting module), and a kABI whitelist, the symbols a distribution promises to keep.
import { InputError } from './errors.js';

/**
 * fnmatch-style glob without FNM_PATHNAME: '*' matches any run (slashes too, so
 * "drivers/net/*" covers the whole subtree), '?' one character, "[a-z]" / "[!a-z]" a class.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

export function anyGlob(globs: readonly string[]): (s: string) => boolean {
  const res = globs.map(globToRegExp);
  if (res.length === 0) return () => false;
  return (s) => res.some((r) => r.test(s));
}

/**
 * The symbols of a kABI whitelist. Two forms are read: Red Hat's Module.kabi (Module.symvers
 * lines: the symbol is the second field) and the plain symbol lists of kabi_whitelist_<arch>
 * (one symbol per line, indented, under "[rhel_x86_64_whitelist]"-style headers). Blank
 * lines and '#' comments are skipped.
 */
export function parseWhitelist(text: string, file: string): Set<string> {
  const out = new Set<string>();
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '' || (line.startsWith('[') && line.endsWith(']'))) return;
    const fields = line.split(/\s+/);
    if (fields.length === 1) {
      out.add(fields[0] as string);
      return;
    }
    if (/^(?:0x)?[0-9a-fA-F]{1,8}$/.test(fields[0] as string) && fields.length >= 3) {
      out.add(fields[1] as string);
      return;
    }
    throw new InputError(
      file,
      `expected a symbol or a Module.symvers line, found ${JSON.stringify(line)}`,
      i + 1,
    );
  });
  return out;
}
