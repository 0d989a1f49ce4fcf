// Synchronous reads that answer "not there" instead of throwing. Used where a scan makes
// thousands of tiny metadata reads (status, header comparison): a thread-pool round trip for
// each made status several times slower (bench/, scenario 1). Any error counts as absent:
// callers treat an unreadable entry as a foreign one, which verify reports.
import { lstatSync, readFileSync, statSync, type Stats } from 'node:fs';

export function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

export function readTextOrUndefined(file: string, encoding: BufferEncoding = 'utf8'): string | undefined {
  try {
    return readFileSync(file, encoding);
  } catch {
    return undefined;
  }
}

export function readBytesOrUndefined(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}
