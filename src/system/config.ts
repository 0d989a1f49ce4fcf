// Loads dkms-abi's configuration: <root>/etc/dkms-abi.conf, then
// <root>/etc/dkms-abi.conf.d/*.conf in name order (later files override earlier ones key
// by key), or only the file given with --config. Missing default files mean defaults; a
// malformed file is an InputError naming it and the line (exit 2); a file the machine
// cannot read is an EnvironmentError (exit 3). Format: docs/configuration.md.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
// Bundled with the program (scripts/build.js): a static import costs no file lookup at start.
import { parse as iniParse } from 'ini';
import { DEFAULT_CONFIG, configFromIni, type Config } from '../core/config.js';
import { EnvironmentError, InputError } from '../core/errors.js';
import { escapeSectionDots, scanIniText } from '../core/ini-text.js';
import { readBoundedFile } from './bounded-read.js';
import { resolveInRoot } from './rootfs.js';

export const CONFIG_FILE = '/etc/dkms-abi.conf';
// A configuration file is small text; anything bigger is not one.
const MAX_CONFIG_BYTES = 1 << 20;
export const CONFIG_DROP_IN_DIR = '/etc/dkms-abi.conf.d';

/** A file to read: its host path, and the name messages use. */
interface ConfigSource {
  readonly host: string;
  readonly shown: string;
  /** The default locations are optional; a file named with --config is not. */
  readonly optional: boolean;
}

export async function loadConfig(root: string, explicitFile?: string): Promise<Config> {
  let config = DEFAULT_CONFIG;
  for (const source of await configSources(root, explicitFile)) {
    const text = await readConfigText(source);
    if (text !== undefined) config = configFromText(text, source.shown, config);
  }
  return config;
}

/** The files loadConfig reads, in order (host paths). */
export async function configFiles(root: string, explicitFile?: string): Promise<string[]> {
  return (await configSources(root, explicitFile)).map((s) => s.host);
}

/** One file's text applied over `base`: line-level checks first, then `ini`, then validation. */
export function configFromText(text: string, file: string, base: Config = DEFAULT_CONFIG): Config {
  const first = scanIniText(text).problems[0];
  if (first !== undefined) throw new InputError(file, first.problem, first.line);
  const sections = iniParse(escapeSectionDots(text)) as Record<string, unknown>;
  return configFromIni(sections, file, { text, base });
}

async function configSources(root: string, explicitFile?: string): Promise<ConfigSource[]> {
  if (explicitFile !== undefined) return [{ host: explicitFile, shown: explicitFile, optional: false }];
  const hostRoot = path.resolve(root);
  // Inside the root with chroot semantics: /etc/dkms-abi.conf may be an absolute symlink.
  const sources: ConfigSource[] = [
    {
      host: await resolveInRoot(hostRoot, CONFIG_FILE),
      shown: path.join(hostRoot, CONFIG_FILE),
      optional: true,
    },
  ];
  const dir = await resolveInRoot(hostRoot, CONFIG_DROP_IN_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return sources;
    throw new EnvironmentError(
      `cannot list ${path.join(hostRoot, CONFIG_DROP_IN_DIR)}: ${code ?? String(err)}`,
    );
  }
  // Code-unit order, like LC_ALL=C ls: 10-site.conf before 50-local.conf before z.conf.
  for (const name of names.filter((n) => n.endsWith('.conf')).sort()) {
    sources.push({
      host: await resolveInRoot(hostRoot, `${CONFIG_DROP_IN_DIR}/${name}`),
      shown: path.join(hostRoot, CONFIG_DROP_IN_DIR, name),
      optional: true,
    });
  }
  return sources;
}

async function readConfigText(source: ConfigSource): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readBoundedFile(source.host, source.shown, MAX_CONFIG_BYTES, 'a configuration file');
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      if (source.optional) return undefined;
      throw new InputError(source.shown, 'no such file');
    }
    if (code === 'EISDIR') throw new InputError(source.shown, 'is a directory, not a configuration file');
    throw new EnvironmentError(`cannot read ${source.shown}: ${code ?? String(err)}`);
  }
  if (bytes.includes(0)) throw new InputError(source.shown, 'not a text file (contains NUL bytes)');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(source.shown, 'not UTF-8 text');
  }
}
