// Verdicts for many module files on several cores: a pool of worker threads (as many as
// DKMS_ABI_THREADS asks for; none by default, see poolThreads), each reading and parsing a
// share of the files (by position, only the sections a verdict needs) and then judging its
// share with every file's exports present. Dependencies between the files are resolved here
// afterwards (resolveDeferredDependencies), so the verdicts are those of checkModuleSet on one
// thread. Used for a target that is a Module.symvers alone (`abi compat --symvers`), which a
// worker loads itself.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EnvironmentError, InputError } from '../core/errors.js';
import type { ModuleVerdict } from '../core/verdict.js';
import type { PresentModule } from '../core/verdict-lookup.js';
import { resolveDeferredDependencies } from '../core/verdict-set.js';
import type { VerdictTargetOptions } from './verdict-target.js';

export type PooledError =
  | { readonly kind: 'input'; readonly file: string; readonly problem: string; readonly line?: number }
  | { readonly kind: 'environment'; readonly message: string }
  | { readonly kind: 'other'; readonly message: string };

export type WorkerRequest =
  | { readonly kind: 'read'; readonly files: readonly string[] }
  | {
      readonly kind: 'judge';
      readonly present: readonly PresentModule[];
      readonly options: VerdictTargetOptions & { readonly symversFile: string };
    };

export type WorkerReply =
  | {
      readonly kind: 'read';
      readonly results: readonly (
        | { readonly ok: true; readonly name: string; readonly present: PresentModule }
        | { readonly ok: false; readonly error: PooledError }
      )[];
    }
  | { readonly kind: 'judge'; readonly verdicts: readonly (readonly [string, ModuleVerdict])[] }
  | { readonly kind: 'failed'; readonly error: PooledError };

export interface PooledVerdict {
  readonly path: string;
  readonly name: string;
  readonly verdict: ModuleVerdict;
}

/** Worker threads for judging `count` files: under 2, judge on the main thread. */
export function poolThreads(count: number): number {
  // DKMS_ABI_THREADS=N: N worker threads (0 or 1: none); for tests and tuning.
  const forced = Number.parseInt(process.env['DKMS_ABI_THREADS'] ?? '', 10);
  if (Number.isInteger(forced) && forced >= 0) return Math.min(forced, count);
  // Off unless asked: measured on 2 cores (a Debian kernel's 4,022 modules), two workers took
  // 1.2 s where one thread takes 0.7 s, at 2.1x the CPU. Each thread parses and judges its
  // share about 2.5x slower than the main thread does the whole (its own garbage collection,
  // code warmed up per isolate, structured-cloned exports that the lookups see as other
  // shapes) and the replies are copied back; more cores cannot make up for that.
  return 0;
}

/**
 * The verdicts of `files` judged together against `options.symversFile`, in the files' order;
 * undefined when the pool is not worth starting (or cannot start): judge on this thread. The
 * first file (in order) that cannot be read is the error, as when reading on one thread.
 */
export async function judgeFilesInPool(
  files: readonly string[],
  options: VerdictTargetOptions & { readonly symversFile: string },
  threads: number = poolThreads(files.length),
): Promise<PooledVerdict[] | undefined> {
  if (threads < 2) return undefined;
  // The worker's script beside this module: the bundle's chunk (.mjs) or the file-by-file
  // build's (.js). Threads were asked for (DKMS_ABI_THREADS): say so rather than run without.
  const script = ['./verdict-worker.mjs', './verdict-worker.js']
    .map((name) => new URL(name, import.meta.url))
    .find((url) => existsSync(fileURLToPath(url)));
  if (script === undefined)
    throw new EnvironmentError(
      `DKMS_ABI_THREADS=${String(threads)}: no verdict-worker script beside ${fileURLToPath(import.meta.url)}`,
    );
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < threads; i++)
      workers.push(
        new Worker(script, {
          // Everything a thread reads lives until it has judged: a young generation this size
          // spares it most of the copying of survivors.
          resourceLimits: { maxYoungGenerationSizeMb: 96 },
        }),
      );
  } catch {
    // Threads refused (resource limits): judge on this thread.
    await Promise.all(workers.map((w) => w.terminate()));
    return undefined;
  }
  try {
    // Interleaved shares: neighbouring files (one driver's modules) differ in size the most.
    const shares = workers.map((_w, t) => files.filter((_f, i) => i % threads === t));
    const read = await Promise.all(workers.map((w, t) => ask(w, { kind: 'read', files: shares[t] ?? [] })));
    const names: string[] = [];
    const present: PresentModule[] = [];
    for (let i = 0; i < files.length; i++) {
      const reply = read[i % threads];
      const r = reply?.kind === 'read' ? reply.results[Math.floor(i / threads)] : undefined;
      if (r === undefined) throw new EnvironmentError('module reader thread gave no answer');
      if (!r.ok) throw revive(r.error);
      names.push(r.name);
      present.push(r.present);
    }
    const judged = await Promise.all(workers.map((w) => ask(w, { kind: 'judge', present, options })));
    const raw = new Map<string, ModuleVerdict>();
    for (const reply of judged) {
      if (reply.kind !== 'judge') throw new EnvironmentError('verdict thread gave no answer');
      for (const [key, v] of reply.verdicts) raw.set(key, v);
    }
    const verdicts = resolveDeferredDependencies(
      files.map((key) => ({ key })),
      raw,
    );
    return files.map((path, i) => ({
      path,
      name: names[i] as string,
      verdict: verdicts.get(path) ?? { usable: true, problems: [] },
    }));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** One request, its one reply; a thread that fails or exits fails the call. */
function ask(w: Worker, req: WorkerRequest): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    const onMessage = (reply: WorkerReply): void => {
      cleanup();
      if (reply.kind === 'failed') reject(revive(reply.error));
      else resolve(reply);
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new EnvironmentError(`verdict thread exited with code ${String(code)}`));
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
    w.postMessage(req);
  });
}

/** The error as this thread would have thrown it: same class, same message. */
function revive(e: PooledError): Error {
  switch (e.kind) {
    case 'input':
      return new InputError(e.file, e.problem, e.line);
    case 'environment':
      return new EnvironmentError(e.message);
    case 'other':
      return new Error(e.message);
  }
}
