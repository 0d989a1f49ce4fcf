// Applies a Plan all-or-nothing. Every write is staged next to its destination (same
// filesystem), fsync'd, then renamed into place; what it replaces is kept aside until the
// commit. A journal describing the plan is written first, so a run killed at any point
// leaves enough for the next run (recoverJournals) to roll the change back.
//
// Temporary names: <dir>/.dkms-abi.<txid>.<i>.{new,old,gone}, and in a kernel directory
// depmod rewrites, <dir>/.dkms-abi.<txid>.index.{<index file>,done}
//
// The metadata calls of applying a plan (checks, journal, links, renames, fsyncs, cleanup)
// are synchronous, in the same order with the same errors: a plan is dozens of tiny calls,
// and a thread-pool round trip for each made applying it several times slower than the
// calls themselves (kernel add applies seven small plans).
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import {
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  rmdir,
  symlink,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import { DEPMOD_OUTPUT } from '../core/depmod-argv.js';
import { DkmsAbiError, EnvironmentError, InputError } from '../core/errors.js';
import {
  parseJournal,
  serializeJournal,
  type Journal,
  type JournalEntry,
  type PriorState,
} from '../core/journal.js';
import type { Operation, Plan } from '../core/plan.js';
import { bumpGeneration } from './change-marks.js';
import { isInsideRoot, openDirBeneath, realExistingAncestor, realNames, type HeldDir } from './rootfs.js';

export interface ApplyOptions {
  readonly root: string;
  readonly journalDir: string;
  /** Regenerates modules.dep for these kernels; a failure rolls the plan back. */
  readonly depmod?: (kernels: readonly string[]) => Promise<void>;
  /**
   * The directories where depmod writes its index for these kernels. Their index files are
   * kept (hard links) before depmod runs, and put back when the plan is rolled back: the
   * index then describes the tree as it is again, even after a depmod that half-failed.
   */
  readonly depmodDirs?: (kernels: readonly string[]) => readonly string[];
  /**
   * Bumped before a journal is removed (the change is committed or undone), so a reader
   * that takes no lock (status) can tell that a change ran while it read: see
   * bumpGeneration and src/system/stable-read.ts.
   */
  readonly generationFile?: string;
}

export async function applyPlan(plan: Plan, opts: ApplyOptions): Promise<void> {
  if (plan.operations.length === 0 && plan.depmod.length === 0) return;
  const id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  for (const o of plan.operations) assertInsideRoot(opts.root, o);
  const entries: JournalEntry[] = [];
  for (const o of plan.operations) entries.push(journalEntry(o, entries));
  const runsDepmod = opts.depmod !== undefined && plan.depmod.length > 0;
  const journal: Journal = {
    id,
    description: plan.description,
    root: opts.root,
    entries,
    depmod: plan.depmod,
    ...(runsDepmod && opts.depmodDirs !== undefined ? { depmodDirs: opts.depmodDirs(plan.depmod) } : {}),
  };
  const dir = path.join(opts.journalDir, id);
  // The journal's directories are held open beneath the root, like the trees' (execute).
  let journalDir: HeldDir | undefined;
  let ownDir: HeldDir | undefined;
  try {
    journalDir = openDirBeneath(opts.root, opts.journalDir, opts.journalDir, { create: true });
    // Not recursive: a recursive mkdir on a read-only filesystem reports ENOENT, not EROFS.
    mkdirSync(journalDir.at(id));
    ownDir = openDirBeneath(opts.root, dir, dir);
    writeDurable(ownDir.at('plan.json'), serializeJournal(journal));
    journalDir.sync();
  } catch (err) {
    // Nothing live was touched: leave no half-written journal behind.
    ownDir?.close();
    if (journalDir !== undefined) {
      rmSync(journalDir.at(id), { recursive: true, force: true });
      journalDir.close();
    }
    throw environmentError(
      plan,
      realNames(err, ...[journalDir, ownDir].filter(isHeld)),
      'nothing was changed',
    );
  }
  try {
    await applyJournaled(plan, opts, journal, dir, ownDir);
  } finally {
    ownDir.close();
    journalDir.close();
  }
}

async function applyJournaled(
  plan: Plan,
  opts: ApplyOptions,
  journal: Journal,
  dir: string,
  ownDir: HeldDir,
): Promise<void> {
  const runsDepmod = opts.depmod !== undefined && plan.depmod.length > 0;
  let step = 0;
  try {
    for (const [i, o] of plan.operations.entries()) {
      await faultPoint(step++, plan.description);
      // Checked again now: an earlier operation of this plan may have changed a parent.
      assertInsideRoot(opts.root, o);
      await execute(opts.root, o, journal.id, i, step - 1);
    }
    await faultPoint(step++, plan.description);
    if (runsDepmod) {
      await keepIndexes(journal);
      await opts.depmod?.(plan.depmod);
    }
    await faultPoint(step++, plan.description);
  } catch (err) {
    try {
      await rollback(journal, dir, opts.generationFile);
    } catch (undoErr) {
      throw environmentError(
        plan,
        err,
        `rolling back failed too (${messageOf(undoErr)}); the journal ${dir} is kept and the next run finishes the rollback`,
      );
    }
    throw environmentError(plan, err, 'the change was rolled back');
  }
  try {
    writeDurable(ownDir.at('committed'), '');
  } catch (err) {
    // Without the commit mark the change is not durable yet: undo it.
    await rollback(journal, dir, opts.generationFile).catch(() => undefined);
    throw environmentError(plan, realNames(err, ownDir), 'the change was rolled back');
  }
  await faultPoint(step++, plan.description);
  // Committed: leftovers of the cleanup are removed by the next recovery.
  try {
    cleanup(journal, dir, opts.generationFile);
  } catch {
    // best effort, see above
  }
  await pausePoint();
}

function isHeld(d: HeldDir | undefined): d is HeldDir {
  return d !== undefined;
}

/**
 * Our own errors pass through (they already say what failed); anything else (ENOSPC,
 * EROFS, EACCES from the file system) becomes an EnvironmentError naming the change.
 */
function environmentError(plan: Plan, err: unknown, outcome: string): Error {
  if (err instanceof DkmsAbiError) return err;
  return new EnvironmentError(`cannot apply "${plan.description}": ${messageOf(err)}`, outcome);
}

function environmentErrorAt(file: string, err: unknown): EnvironmentError {
  return new EnvironmentError(`cannot read ${file}: ${messageOf(err)}`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Finishes or rolls back journals left by runs that died, in the root at host path `root`
 * (the journal's paths are read relative to it). Returns kernels needing depmod.
 */
export async function recoverJournals(
  journalDir: string,
  root: string,
  generationFile?: string,
): Promise<{ rolledBack: string[]; finished: string[]; depmod: string[] }> {
  const result = { rolledBack: [] as string[], finished: [] as string[], depmod: [] as string[] };
  let ids: string[];
  try {
    ids = (await readdir(journalDir)).sort();
  } catch {
    return result;
  }
  for (const id of ids) {
    const dir = path.join(journalDir, id);
    const file = path.join(dir, 'plan.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw environmentErrorAt(file, err);
      // Died before the journal was durable (plan.json is renamed into place whole):
      // nothing live was touched yet.
      await rm(dir, { recursive: true, force: true });
      continue;
    }
    // A journal this program cannot read is left where it is: undoing it by guesswork
    // could damage the trees more than the interrupted change did.
    const journal = parseJournal(text, root);
    if (typeof journal === 'string') throw new InputError(file, journal);
    if (exists(path.join(dir, 'committed'))) {
      cleanup(journal, dir, generationFile);
      result.finished.push(journal.description);
    } else {
      await rollback(journal, dir, generationFile);
      result.rolledBack.push(journal.description);
    }
    result.depmod.push(...journal.depmod);
  }
  result.depmod = [...new Set(result.depmod)];
  return result;
}

export async function pendingJournals(journalDir: string): Promise<string[]> {
  try {
    return (await readdir(journalDir)).sort();
  } catch {
    return [];
  }
}

function journalEntry(o: Operation, earlier: readonly JournalEntry[]): JournalEntry {
  // A path an earlier operation of this plan touched is in the state that operation left.
  const last = earlier.findLast((e) => e.path === o.path || e.from === o.path);
  const before = last !== undefined ? stateAfter(last, o.path) : stateOf(o.path);
  return {
    op: o.op,
    path: o.path,
    // Only a rename's source is undone; a copy's may lie outside the root (a payload).
    ...(o.op === 'rename' ? { from: o.from } : {}),
    ...(o.op === 'symlink' ? { target: o.target } : {}),
    before,
  };
}

function stateAfter(e: JournalEntry, p: string): PriorState {
  if (e.from === p && e.path !== p) return { kind: 'absent' }; // moved away
  switch (e.op) {
    case 'remove':
      return { kind: 'absent' };
    case 'symlink':
      return { kind: 'symlink', target: e.target ?? '' };
    default:
      return { kind: 'present' };
  }
}

function stateOf(p: string): PriorState {
  try {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return { kind: 'symlink', target: readlinkSync(p) };
    return { kind: 'present' };
  } catch {
    return { kind: 'absent' };
  }
}

async function stage(o: Extract<Operation, { op: 'write' | 'copy' }>, tmp: string): Promise<void> {
  await rm(tmp, { force: true });
  if (o.op === 'write') {
    // O_EXCL: a link planted at the temporary name is never followed.
    const fh = await open(tmp, 'wx', o.mode ?? 0o644);
    try {
      // chmod explicitly: the mode given to open() is filtered by the umask.
      if (o.mode !== undefined) await fh.chmod(o.mode);
      await fh.writeFile(o.data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } else {
    await copyFile(o.from, tmp, constants.COPYFILE_EXCL);
    const fh = await open(tmp, constants.O_RDWR | constants.O_NOFOLLOW);
    try {
      if (o.mode !== undefined) await fh.chmod(o.mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/**
 * Runs one operation through its directory held open beneath the root (openDirBeneath in
 * rootfs.ts): the check that the directory lies inside the root and the change act on the
 * same directory, even if it is swapped for a symlink meanwhile.
 */
async function execute(root: string, o: Operation, id: string, i: number, step: number): Promise<void> {
  const d = openDirBeneath(root, path.dirname(o.path), o.path);
  const held = [d];
  try {
    const name = path.basename(o.path);
    const tmp = (kind: TmpKind): string => d.at(tmpBase(id, i, kind));
    actPoint(step, o);
    switch (o.op) {
      case 'mkdir':
        mkdirSync(d.at(name));
        break;
      case 'write':
      case 'copy':
        // Staged in the destination's directory (which an earlier mkdir may have created).
        await stage(o, tmp('new'));
        if (exists(d.at(name))) linkSync(d.at(name), tmp('old'));
        renameSync(tmp('new'), d.at(name));
        break;
      case 'symlink':
        // A symlink is retargeted atomically by renaming a new link over it.
        rmSync(tmp('new'), { force: true });
        symlinkSync(o.target, tmp('new'));
        keepAside(d.at(name), tmp('old'));
        renameSync(tmp('new'), d.at(name));
        break;
      case 'rename': {
        const from = openDirBeneath(root, path.dirname(o.from), o.from);
        held.push(from);
        keepAside(d.at(name), tmp('old'));
        renameSync(from.at(path.basename(o.from)), d.at(name));
        from.sync();
        break;
      }
      case 'remove':
        renameSync(d.at(name), tmp('gone'));
        break;
    }
    d.sync();
  } catch (err) {
    throw realNames(err, ...held);
  } finally {
    for (const h of held) h.close();
  }
}

/** Undo in reverse order; each undo checks the live state, so it is safe to repeat. */
async function rollback(journal: Journal, dir: string, generationFile: string | undefined): Promise<void> {
  for (let i = journal.entries.length - 1; i >= 0; i--) {
    const e = journal.entries[i];
    if (e === undefined) continue;
    // An operation refused or never reached did nothing; its path's parent may now be a
    // link this plan made (even one leading out of the root): never act through it.
    const d = holdBeneath(journal.root, path.dirname(e.path));
    if (d === undefined) continue;
    try {
      // A staged file is never live: remove it first, so undoing a mkdir finds its directory
      // empty (a write cut short by ENOSPC leaves a partial one).
      await rm(d.at(tmpBase(journal.id, i, 'new')), { recursive: true, force: true });
      await undo(journal.root, e, d, journal.id, i);
    } catch (err) {
      throw realNames(err, d);
    } finally {
      d.close();
    }
  }
  await restoreIndexes(journal);
  removeTemps(journal);
  closeJournal(journal, dir, generationFile);
}

/**
 * `dir` held open beneath the root; undefined when it is gone or leads out of the root
 * (nothing to undo there, and nothing may be done through it).
 */
function holdBeneath(root: string, dir: string): HeldDir | undefined {
  try {
    return openDirBeneath(root, dir, dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof EnvironmentError || code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

async function undo(root: string, e: JournalEntry, d: HeldDir, id: string, i: number): Promise<void> {
  const p = d.at(path.basename(e.path));
  const tmp = (kind: TmpKind): string => d.at(tmpBase(id, i, kind));
  switch (e.op) {
    case 'mkdir':
      if (e.before.kind === 'absent') await rmdir(p).catch(() => undefined);
      break;
    case 'write':
    case 'copy': {
      if (exists(tmp('old'))) await rename(tmp('old'), p);
      else if (e.before.kind === 'absent') await rm(p, { force: true });
      break;
    }
    case 'symlink': {
      // A regular file the link replaced comes back first.
      if (exists(tmp('old'))) {
        await rename(tmp('old'), p);
        break;
      }
      if (e.before.kind === 'symlink') {
        const current = await readlink(p).catch(() => undefined);
        if (current !== e.before.target) {
          await rm(tmp('new'), { force: true });
          await symlink(e.before.target, tmp('new'));
          await rename(tmp('new'), p);
        }
      } else if (e.before.kind === 'absent') {
        const st = await lstat(p).catch(() => undefined);
        if (st?.isSymbolicLink() === true) await unlink(p);
      }
      break;
    }
    case 'rename': {
      // Moved back only into a source directory still inside the root.
      const from = e.from === undefined ? undefined : holdBeneath(root, path.dirname(e.from));
      if (from !== undefined && e.from !== undefined) {
        try {
          const back = from.at(path.basename(e.from));
          if (!exists(back) && exists(p)) await rename(p, back);
          from.sync();
        } catch (err) {
          throw realNames(err, from);
        } finally {
          from.close();
        }
      }
      if (exists(tmp('old'))) await rename(tmp('old'), p);
      break;
    }
    case 'remove': {
      if (exists(tmp('gone'))) await rename(tmp('gone'), p);
      break;
    }
  }
  d.sync();
}

function cleanup(journal: Journal, dir: string, generationFile: string | undefined): void {
  removeTemps(journal);
  closeJournal(journal, dir, generationFile);
}

/**
 * The generation first, then the journal goes: a reader that found no journal before and
 * after its read, and the same generation, read no change (src/system/stable-read.ts).
 * Never written through a state directory leading out of the root.
 */
function closeJournal(journal: Journal, dir: string, generationFile: string | undefined): void {
  if (generationFile !== undefined) bumpGeneration(journal.root, generationFile, journal.id);
  const journals = holdBeneath(journal.root, path.dirname(dir));
  if (journals === undefined) return;
  try {
    rmSync(journals.at(path.basename(dir)), { recursive: true, force: true });
  } finally {
    journals.close();
  }
}

function removeTemps(journal: Journal): void {
  const prefix = indexPrefix(journal.id);
  for (const dir of journal.depmodDirs ?? []) {
    const d = holdBeneath(journal.root, dir);
    if (d === undefined) continue;
    try {
      for (const name of readdirSync(d.at('.')))
        if (name.startsWith(prefix)) rmSync(d.at(name), { force: true });
    } finally {
      d.close();
    }
  }
  for (const [i, e] of journal.entries.entries()) {
    const d = holdBeneath(journal.root, path.dirname(e.path));
    if (d === undefined) continue;
    try {
      for (const kind of ['new', 'old', 'gone'] as const)
        rmSync(d.at(tmpBase(journal.id, i, kind)), { recursive: true, force: true });
    } finally {
      d.close();
    }
  }
}

/**
 * Keeps what an operation is about to replace (a file or a symlink; a directory cannot be
 * replaced by rename unless empty) under a hard link, so undo can put it back. The live
 * name stays in place until the rename over it: no moment without it.
 */
function keepAside(p: string, old: string): void {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return;
  }
  if (st.isDirectory()) return;
  rmSync(old, { force: true });
  linkSync(p, old);
}

/** `<dir>/.dkms-abi.<txid>.index.` + a kept index file's name, or "done" once all are kept. */
function indexPrefix(id: string): string {
  return `.dkms-abi.${id}.index.`;
}

/**
 * Before depmod: a hard link to each of its index files in every kernel directory it will
 * rewrite (depmod replaces them by rename, so the links keep the old contents), then a
 * "done" list of them. Only a directory with that list is restored on rollback.
 */
async function keepIndexes(journal: Journal): Promise<void> {
  const prefix = indexPrefix(journal.id);
  for (const dir of journal.depmodDirs ?? []) {
    // No such kernel directory: depmod has nothing to replace there.
    const d = holdBeneath(journal.root, dir);
    if (d === undefined) continue;
    try {
      const names = (await readdir(d.at('.'))).filter((n) => DEPMOD_OUTPUT.test(n)).sort();
      for (const n of names) {
        await rm(d.at(prefix + n), { force: true });
        await link(d.at(n), d.at(prefix + n));
      }
      writeDurable(d.at(`${prefix}done`), names.map((n) => `${n}\n`).join(''));
    } catch (err) {
      throw realNames(err, d);
    } finally {
      d.close();
    }
  }
}

/** On rollback: the kept index files back, and any depmod created where there was none removed. */
async function restoreIndexes(journal: Journal): Promise<void> {
  const prefix = indexPrefix(journal.id);
  for (const dir of journal.depmodDirs ?? []) {
    const d = holdBeneath(journal.root, dir);
    if (d === undefined) continue;
    try {
      const done = await readFile(d.at(`${prefix}done`), 'utf8').catch(() => undefined);
      if (done === undefined) continue;
      const kept = new Set(done.split('\n').filter((n) => n !== ''));
      for (const n of await readdir(d.at('.'))) {
        if (DEPMOD_OUTPUT.test(n) && !kept.has(n)) await rm(d.at(n), { force: true });
      }
      for (const n of kept) if (exists(d.at(prefix + n))) await rename(d.at(prefix + n), d.at(n));
      await rm(d.at(`${prefix}done`), { force: true });
      d.sync();
    } catch (err) {
      throw realNames(err, d);
    } finally {
      d.close();
    }
  }
}

type TmpKind = 'new' | 'old' | 'gone';

/** The name, in an operation's directory, of its staged (new) or set-aside (old, gone) entry. */
function tmpBase(id: string, i: number, kind: TmpKind): string {
  return `.dkms-abi.${id}.${i}.${kind}`;
}

/**
 * mkdir -p that reports the real cause: a recursive mkdir that cannot create a parent
 * (read-only file system, permissions) fails with a misleading ENOENT.
 */
export async function mkdirParents(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    let missing = path.resolve(dir);
    while (!exists(path.dirname(missing)) && path.dirname(missing) !== missing)
      missing = path.dirname(missing);
    await mkdir(missing); // throws the real error (EROFS, EACCES…)
    throw err;
  }
}

/** Refuse to write through a symlink planted to lead outside the root. */
function assertInsideRoot(root: string, o: Operation): void {
  const paths = [o.path, ...(o.op === 'rename' ? [o.from] : [])];
  for (const p of paths) {
    if (!isInsideRoot(root, p))
      throw new EnvironmentError(`refusing to change ${p}: outside the root ${root}`);
    const parent = realExistingAncestor(path.dirname(p));
    const realRoot = realpathSync.native(root);
    if (!isInsideRoot(realRoot, parent)) {
      throw new EnvironmentError(
        `refusing to change ${p}: a symlink in its path leads outside the root (${parent})`,
      );
    }
  }
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function writeDurable(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  // O_NOFOLLOW: a link planted at the temporary name is refused, never written through.
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Fault points passed so far by this process, over all its transactions. */
let faultPointsPassed = 0;

/**
 * The fault switches below are honoured only when the process was started by the test
 * entry (test/helpers/fault-entry.js), which sets this global before loading the CLI: the
 * shipped program (bin/dkms-abi) ignores them, so a stray variable in a root's environment
 * can never kill a package script half-way. A global rather than a module flag: it reaches
 * the code however the CLI is bundled.
 */
const FAULT_INJECTION = Symbol.for('dkms-abi.fault-injection');

/** For tests that apply plans in their own process: honour the fault switches from now on. */
export function enableFaultInjection(): void {
  (globalThis as Record<symbol, unknown>)[FAULT_INJECTION] = true;
}

function faultInjectionEnabled(): boolean {
  return (globalThis as Record<symbol, unknown>)[FAULT_INJECTION] === true;
}

/**
 * Test-only fault injection (see FAULT_INJECTION): DKMS_ABI_FAULT_AT="<step>" kills the process with SIGKILL
 * when a transaction reaches that step; "<step>:fail" throws instead. Steps count the
 * operations, then depmod, then the commit mark, then cleanup. "+<n>" counts the steps of
 * all the process's transactions together (0-based), so a command made of several
 * transactions can be stopped at each of its steps in turn; "+<n>:fail" throws there, and
 * "…:stop" stops the process (SIGSTOP) there until it gets SIGCONT.
 * DKMS_ABI_FAULT_TRACE=<file> appends "<n> <step> <description>" for every step passed.
 */
async function faultPoint(step: number, description: string): Promise<void> {
  if (!faultInjectionEnabled()) return;
  const trace = process.env['DKMS_ABI_FAULT_TRACE'];
  const spec = process.env['DKMS_ABI_FAULT_AT'];
  if (spec === undefined && trace === undefined) return;
  const overall = faultPointsPassed++;
  if (trace !== undefined) appendFileSync(trace, `${overall} ${step} ${description}\n`);
  if (spec === undefined) return;
  const [at = '', how] = spec.split(':');
  const hit = at.startsWith('+') ? Number(at.slice(1)) === overall : Number(at) === step;
  // "stop-act" stops later, at the operation's act point (actPoint).
  if (!hit || how === 'stop-act') return;
  if (how === 'fail') throw new EnvironmentError(`injected failure at transaction step ${step}`);
  if (how === 'stop') {
    // Stopped with the change half-made (and the lock held) until the test sends SIGCONT.
    process.kill(process.pid, 'SIGSTOP');
    return;
  }
  process.kill(process.pid, 'SIGKILL');
  await new Promise(() => undefined);
}

/**
 * Test-only (see FAULT_INJECTION): the moment an operation acts, its directories held open
 * and checked. DKMS_ABI_FAULT_AT="+<n>:stop-act" stops the process (SIGSTOP) there, at the
 * n-th step, until it gets SIGCONT: a test can swap a directory for a symlink between the
 * check and the act. A test applying plans in its own process can set a hook instead
 * (setActHook). Synchronous: the operation runs right after it.
 */
function actPoint(step: number, o: Operation): void {
  if (!faultInjectionEnabled()) return;
  actHook?.(step, o);
  const spec = process.env['DKMS_ABI_FAULT_AT'];
  if (spec === undefined || !spec.endsWith(':stop-act')) return;
  if (spec.startsWith('+') ? Number(spec.slice(1, -':stop-act'.length)) === faultPointsPassed - 1 : false)
    process.kill(process.pid, 'SIGSTOP');
}

let actHook: ((step: number, o: Operation) => void) | undefined;

/** For tests that apply plans in their own process: called at each operation's act point. */
export function setActHook(hook: ((step: number, o: Operation) => void) | undefined): void {
  actHook = hook;
}

/**
 * Test-only (see FAULT_INJECTION): DKMS_ABI_FAULT_PAUSE=plan stops the process (SIGSTOP)
 * after each plan is committed and its journal closed, until the test sends SIGCONT: the
 * states between a command's plans, which a reader may see, can be recorded.
 */
async function pausePoint(): Promise<void> {
  if (!faultInjectionEnabled() || process.env['DKMS_ABI_FAULT_PAUSE'] !== 'plan') return;
  process.kill(process.pid, 'SIGSTOP');
  // Let the signal land before going on.
  await new Promise((resolve) => setImmediate(resolve));
}
