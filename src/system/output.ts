// Where commands write. Kept behind an interface so tests and --json can capture it.
//
// The process's own output goes to file descriptors 1 and 2 with write(2), not through
// process.stdout and process.stderr: making those streams loads Node's socket and stream
// code for a pipe (~3 ms of every run), and on Linux their writes are synchronous anyway, in
// the same order as these.
import { writeSync } from 'node:fs';
import { EnvironmentError } from '../core/errors.js';

export interface Output {
  /** A line of the command's answer (stdout). */
  line(text: string): void;
  /** Lines of the command's answer already in bytes, each ending in a newline (stdout). */
  bytes(data: Uint8Array): void;
  /** A note, warning or progress line for the human (stderr). */
  note(text: string): void;
  /** The single JSON document of --json (stdout). */
  json(value: unknown): void;
  readonly isTTY: boolean;
}

export function processOutput(): Output {
  return {
    line: (text) => writeStdout(`${text}\n`),
    bytes: (data) => writeStdout(data),
    note: (text) => writeStderr(`${text}\n`),
    json: (value) => writeStdout(`${JSON.stringify(value, null, 2)}\n`),
    // Asked only by commands that show a build's output as it runs.
    get isTTY() {
      return process.stderr.isTTY && process.env['CI'] === undefined;
    },
  };
}

export function writeStdout(data: string | Uint8Array): void {
  writeAll(1, data);
}

export function writeStderr(data: string | Uint8Array): void {
  writeAll(2, data);
}

/** Descriptors whose reader went away: written no more. */
const gone = new Set<number>();

/**
 * All of `data`, or nothing more once the reader has gone (`status | head -1`): a command
 * must not stop half-way through its changes because nobody reads its report any more.
 */
function writeAll(fd: number, data: string | Uint8Array): void {
  if (gone.has(fd)) return;
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let done = 0;
  while (done < bytes.length) {
    try {
      done += writeSync(fd, bytes, done);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        // A descriptor another process left non-blocking: wait for the reader, as a blocking one would.
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      // Standard error is where a failure would be told: one that fails is given up on.
      if (code === 'EPIPE' || code === 'EBADF' || fd === 2) {
        gone.add(fd);
        return;
      }
      // A full disk or an I/O error under a redirected answer: the environment failed (exit 3).
      throw new EnvironmentError(`cannot write to standard output: ${code ?? String(err)}`);
    }
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));
