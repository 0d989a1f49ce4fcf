// Where commands write. Kept behind an interface so tests and --json can capture it.
export interface Output {
  /** A line of the command's answer (stdout). */
  line(text: string): void;
  /** A note, warning or progress line for the human (stderr). */
  note(text: string): void;
  /** The single JSON document of --json (stdout). */
  json(value: unknown): void;
  readonly isTTY: boolean;
}

export function processOutput(): Output {
  return {
    line: (text) => process.stdout.write(`${text}\n`),
    note: (text) => process.stderr.write(`${text}\n`),
    json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    isTTY: process.stderr.isTTY && process.env['CI'] === undefined,
  };
}
