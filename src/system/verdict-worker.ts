// A worker thread of the verdict pool (verdict-pool.ts). Asked to `read`, it reads and parses
// its share of the module files and answers with what the others need of each (its exports,
// as present-module entries), keeping the parsed modules. Asked to `judge`, it judges its share
// against the target with every member's exports present, dependencies on members deferred
// (checkMembersDeferred): the main thread resolves those once every share is judged.
import { parentPort } from 'node:worker_threads';
import { EnvironmentError, InputError } from '../core/errors.js';
import { moduleNameOf } from '../core/ko-name.js';
import {
  checkMembersDeferred,
  memberProvider,
  presentModuleOf,
  type SetMember,
} from '../core/verdict-set.js';
import { readKernelModuleFile } from './ko-file.js';
import { makePaths } from './paths.js';
import { loadKernelTarget } from './verdict-target.js';
import type { PooledError, WorkerReply, WorkerRequest } from './verdict-pool.js';

function describe(err: unknown): PooledError {
  if (err instanceof InputError)
    return {
      kind: 'input',
      file: err.file,
      problem: err.problem,
      ...(err.line !== undefined ? { line: err.line } : {}),
    };
  if (err instanceof EnvironmentError) return { kind: 'environment', message: err.message };
  return { kind: 'other', message: err instanceof Error ? err.message : String(err) };
}

const own: SetMember[] = [];

async function answer(req: WorkerRequest): Promise<WorkerReply> {
  if (req.kind === 'read') {
    const results: Extract<WorkerReply, { kind: 'read' }>['results'][number][] = [];
    for (const key of req.files) {
      try {
        const info = await readKernelModuleFile(key);
        const member: SetMember = { key, module: info, name: info.modinfo.name ?? moduleNameOf(key) };
        own.push(member);
        results.push({ ok: true, name: member.name, present: presentModuleOf(member, memberProvider(key)) });
      } catch (err) {
        results.push({ ok: false, error: describe(err) });
      }
    }
    return { kind: 'read', results };
  }
  // The target as the main thread loaded it (it reported any problem with it already).
  const t = await loadKernelTarget(makePaths('/'), '', req.options);
  if (!t.ok) throw new EnvironmentError(t.reason);
  const verdicts = checkMembersDeferred(req.present, own, t.target);
  return { kind: 'judge', verdicts: [...verdicts] };
}

const port = parentPort;
port?.on('message', (req: WorkerRequest) => {
  answer(req).then(
    (reply) => port.postMessage(reply),
    (err: unknown) => port.postMessage({ kind: 'failed', error: describe(err) } satisfies WorkerReply),
  );
});
