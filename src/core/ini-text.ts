// The line-level view of an INI file that the `ini` package does not give: where each
// section and key is (for messages naming file and line), and the lines `ini` would
// silently drop or misread. Also the one rewrite dkms-abi's config needs before `ini`
// parses it: `ini` splits section names at dots into nested sections, and kernel releases
// in [kernel:6.1.0-47-amd64] are full of dots.

export interface IniProblem {
  readonly line: number;
  readonly problem: string;
}

export interface IniTextScan {
  /** First line of each section header, by name. */
  readonly sections: ReadonlyMap<string, number>;
  /** Line of each key, by section and key (see keyId); keys before any section are in "". */
  readonly keys: ReadonlyMap<string, number>;
  /** Lines `ini` would drop or misread, in file order. */
  readonly problems: readonly IniProblem[];
}

export function keyId(section: string, key: string): string {
  return `${section}\u0000${key}`;
}

// What `ini` (5.x) accepts as a section header: the whole line, no indentation.
const SECTION = /^\[([^\]]*)\]\s*$/;
// Names whose meaning `ini` would change (quotes, escapes, comments, arrays): not supported.
const PLAIN_NAME = /^[A-Za-z0-9_.:+-]+$/;
// Names that `ini` and plain objects treat as the object's own machinery (`__proto__` would
// set the section's prototype): refused rather than half-understood.
const isReservedName = (name: string): boolean => name in Object.prototype || name === 'prototype';

export function scanIniText(text: string): IniTextScan {
  const sections = new Map<string, number>();
  const keys = new Map<string, number>();
  const problems: IniProblem[] = [];
  let section = '';
  text.split(/\r\n|\r|\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith(';') || trimmed.startsWith('#')) return;
    if (trimmed.startsWith('[')) {
      const m = SECTION.exec(raw);
      if (m === null) {
        problems.push({
          line,
          problem: !raw.startsWith('[')
            ? 'a section header must start at the beginning of its line'
            : !raw.includes(']')
              ? `unterminated section header "${trimmed}"`
              : 'nothing may follow a section header on its line (put comments on their own line)',
        });
        return;
      }
      const name = (m[1] ?? '').trim();
      if (!PLAIN_NAME.test(name) || isReservedName(name)) {
        problems.push({ line, problem: `unsupported section name [${name}]` });
        return;
      }
      section = name;
      if (!sections.has(name)) sections.set(name, line);
      return;
    }
    const eq = raw.indexOf('=');
    if (eq < 0) {
      problems.push({ line, problem: `expected "key = value", got "${trimmed}"` });
      return;
    }
    const key = raw.slice(0, eq).trim();
    if (key === '') {
      problems.push({ line, problem: 'missing key before "="' });
      return;
    }
    if (!PLAIN_NAME.test(key) || isReservedName(key)) {
      problems.push({ line, problem: `unsupported key name "${key}"` });
      return;
    }
    const id = keyId(section, key);
    const earlier = keys.get(id);
    if (earlier !== undefined) {
      problems.push({ line, problem: `${key} is already set on line ${earlier}` });
      return;
    }
    keys.set(id, line);
  });
  return { sections, keys, problems };
}

/**
 * The text with every dot in section names escaped, so that `ini` keeps
 * [kernel:6.1.0-47-amd64] as one section instead of nesting "kernel:6" → "1" → "0-47-amd64".
 * Other lines are left alone. (Names with backslashes are reported by scanIniText.)
 */
export function escapeSectionDots(text: string): string {
  return text.replace(/^\[[^\]\r\n]*\]/gm, (header) => header.replaceAll('.', '\\.'));
}
