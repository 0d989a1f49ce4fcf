// Synchronous reads that answer "not there" instead of throwing. Used where a scan makes
// thousands of tiny metadata reads (status, header comparison): a thread-pool round trip for
// each made status several times slower (bench/, scenario 1). Any error counts as absent:
// callers treat an unreadable entry as a foreign one, which verify reports.
import { lstatSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';

function orUndefined<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

export const statOrUndefined = (p: string): Stats | undefined => orUndefined(() => statSync(p));

export const lstatOrUndefined = (p: string): Stats | undefined => orUndefined(() => lstatSync(p));

export const readlinkOrUndefined = (p: string): string | undefined => orUndefined(() => readlinkSync(p));

export const readTextOrUndefined = (file: string, encoding: BufferEncoding = 'utf8'): string | undefined =>
  orUndefined(() => readFileSync(file, encoding));

export const readBytesOrUndefined = (file: string): Buffer | undefined =>
  orUndefined(() => readFileSync(file));
