// What the kernel's module loader said, turned into one outcome. The texts are those of
// Linux 6.1 (kernel/module/main.c, kernel/module/version.c, Debian's patch that makes a
// missing symbol version fatal); the module name comes first, as the loader prints it.

export type LoadOutcome =
  | 'loaded'
  | 'disagrees-about-version'
  | 'no-symbol-version'
  | 'unknown-symbol'
  | 'invalid-module-format'
  | 'vermagic-mismatch'
  | 'gpl-only-symbol'
  | 'namespace-not-imported'
  | 'other';

export interface LoadVerdict {
  readonly outcome: LoadOutcome;
  /** The symbols the deciding messages name, in the order printed, without repeats. */
  readonly symbols: readonly string[];
}

// Each pattern captures the symbol it names. Listed in order of precedence: a CRC
// mismatch also prints "Unknown symbol X (err -22)", so the specific cause wins.
const FAILURES: readonly { readonly outcome: LoadOutcome; readonly re: RegExp }[] = [
  // version.c check_version(): bad CRC, also for module_layout (check_modstruct_version)
  { outcome: 'disagrees-about-version', re: /: disagrees about version of symbol (\S+)$/ },
  // version.c check_version(): symbol without a __versions entry (fatal on Debian)
  { outcome: 'no-symbol-version', re: /: no symbol version for (\S+)$/ },
  // main.c check_modinfo(): "%s: version magic '%s' should be '%s'"
  { outcome: 'vermagic-mismatch', re: /: version magic '.*' should be '.*'$/ },
  // main.c verify_namespace_is_imported()
  {
    outcome: 'namespace-not-imported',
    re: /: module uses symbol \((\S+)\) from namespace \S+, but does not import it\.$/,
  },
  // main.c inherit_taint(). A proprietary module asking for a GPL-only export is not
  // told so in 6.1: find_symbol() skips GPL-only exports and it gets "Unknown symbol".
  {
    outcome: 'gpl-only-symbol',
    re: /: module using GPL-only symbols uses symbols (\S+) from proprietary module \S+\.$/,
  },
  // main.c simplify_symbols()
  { outcome: 'unknown-symbol', re: /: Unknown symbol (\S+) \(err -?\d+\)$/ },
  // main.c elf_validity_check() / setup_load_info()
  {
    outcome: 'invalid-module-format',
    re: /^(?:Invalid ELF |ELF Spec violation|.*: module has no symbols|.*: No module found in object)/,
  },
];

/** Messages that taint the kernel without failing the load (unsigned, out-of-tree, licence). */
const TAINT_RE =
  /taints kernel\.$|module verification failed: signature and\/or required key missing - tainting kernel$/;

export function taintMessages(kernelMessages: readonly string[]): string[] {
  return kernelMessages.filter((m) => TAINT_RE.test(m));
}

/**
 * The loader's answer for one load attempt. `loaded` (the module is in /proc/modules
 * after the attempt) decides success; otherwise the most specific failure message wins,
 * then the tool's errno text, else "other".
 */
export function classifyLoad(
  exitCode: number,
  loaded: boolean,
  kernelMessages: readonly string[],
  toolOutput: readonly string[],
): LoadVerdict {
  if (loaded && exitCode === 0) return { outcome: 'loaded', symbols: [] };
  for (const { outcome, re } of FAILURES) {
    const symbols: string[] = [];
    let seen = false;
    for (const m of kernelMessages) {
      const match = re.exec(m);
      if (match === null) continue;
      seen = true;
      const sym = match[1];
      if (sym !== undefined && sym !== '' && !symbols.includes(sym)) symbols.push(sym);
    }
    if (seen) return { outcome, symbols };
  }
  // The kernel may fail a module before naming a reason (ENOEXEC from a check it does
  // not log); kmod's insmod then says "Invalid module format", its modprobe strerror(ENOEXEC).
  if (toolOutput.some((l) => /Invalid module format|Exec format error/.test(l))) {
    return { outcome: 'invalid-module-format', symbols: [] };
  }
  return { outcome: 'other', symbols: [] };
}
