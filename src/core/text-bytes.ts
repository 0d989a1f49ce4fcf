// Text built straight into its UTF-8 bytes. A report of ~18,000 lines (abi check across an
// ABI bump) made as a string is ~90,000 concatenations that the engine keeps as a tree, then
// flattens and encodes to write it; copied into bytes as it is made it costs a third less.
// The text is ASCII nearly always: each character is copied as a byte, and a string holding
// anything else is encoded whole.

const encoder = new TextEncoder();

export class TextBytes {
  private bytes: Uint8Array;
  private size = 0;

  /** `expected`: about how many bytes the text will take (it grows if more). */
  constructor(expected: number) {
    this.bytes = new Uint8Array(Math.max(expected, 64));
  }

  add(text: string): this {
    const n = text.length;
    this.reserve(n);
    const bytes = this.bytes;
    let at = this.size;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) return this.addEncoded(text);
      bytes[at++] = c;
    }
    this.size = at;
    return this;
  }

  /** `count` spaces. */
  pad(count: number): this {
    if (count <= 0) return this;
    this.reserve(count);
    this.bytes.fill(0x20, this.size, this.size + count);
    this.size += count;
    return this;
  }

  /** The bytes so far (a view: add nothing after taking it). */
  result(): Uint8Array {
    return this.bytes.subarray(0, this.size);
  }

  private addEncoded(text: string): this {
    const encoded = encoder.encode(text);
    this.reserve(encoded.length);
    this.bytes.set(encoded, this.size);
    this.size += encoded.length;
    return this;
  }

  /** Room for n more bytes (UTF-8 takes up to 3 a character: addEncoded reserves its own). */
  private reserve(n: number): void {
    if (this.size + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.size + n));
    grown.set(this.bytes.subarray(0, this.size));
    this.bytes = grown;
  }
}
