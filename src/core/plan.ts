// A change to the trees, computed before anything is written ("plan, then apply").
// Each operation is atomic on its own (rename into place); the journal in src/system/txn.ts
// makes the whole plan all-or-nothing across crashes.

export type Operation =
  /** Create a directory (parents must exist or be created by earlier operations). */
  | { readonly op: 'mkdir'; readonly path: string }
  /** Write a new file (or replace one) from bytes. */
  | { readonly op: 'write'; readonly path: string; readonly data: Uint8Array; readonly mode?: number }
  /** Copy a file's bytes into place (staged next to the destination, then renamed). */
  | { readonly op: 'copy'; readonly path: string; readonly from: string; readonly mode?: number }
  /** Create or retarget a symlink (staged as a temporary link, then renamed over). */
  | { readonly op: 'symlink'; readonly path: string; readonly target: string }
  /** Move a file or directory (same filesystem). */
  | { readonly op: 'rename'; readonly path: string; readonly from: string }
  /** Remove a file, link or directory tree (moved aside first, deleted only after commit). */
  | { readonly op: 'remove'; readonly path: string };

export interface Plan {
  readonly description: string;
  readonly operations: readonly Operation[];
  /** Kernels whose modules.dep must be regenerated after the change. */
  readonly depmod: readonly string[];
}

/** Human-readable lines for --dry-run and for the journal. */
export function describeOperation(o: Operation): string {
  switch (o.op) {
    case 'mkdir':
      return `mkdir ${o.path}`;
    case 'write':
      return `write ${o.path} (${o.data.byteLength} bytes)`;
    case 'copy':
      return `copy ${o.from} -> ${o.path}`;
    case 'symlink':
      return `link ${o.path} -> ${o.target}`;
    case 'rename':
      return `move ${o.from} -> ${o.path}`;
    case 'remove':
      return `remove ${o.path}`;
  }
}

export function describePlan(plan: Plan): string[] {
  const lines = plan.operations.map(describeOperation);
  for (const k of plan.depmod) lines.push(`depmod ${k}`);
  return lines;
}
