// One-line text from untrusted strings: names and lines from hostile files may carry control
// characters that would break a one-line message or report.

/** Control characters as \xNN escapes; everything else as it is. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
