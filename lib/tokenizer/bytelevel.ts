// GPT-2's byte-level alphabet: each byte 0-255 as a printable char (the printable Latin-1 bytes as themselves,
// the rest from U+0100 up, in byte order), so any UTF-8 text is a string over 256 symbols.

/** byte → its char */
export const BYTE_CHARS: string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : 0x100 + n++);
  return out;
})();

/** char code → byte, -1 for chars outside the alphabet */
export const CHAR_BYTES: Int16Array = (() => {
  const m = new Int16Array(0x144).fill(-1);
  BYTE_CHARS.forEach((c, b) => (m[c.charCodeAt(0)] = b));
  return m;
})();

export const BYTE_SPACE = BYTE_CHARS[0x20];

/** The bytes a string of byte-level chars spells, or null if a char is outside the alphabet. */
export function byteLevelBytes(s: string): number[] | null {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    const b = u < CHAR_BYTES.length ? CHAR_BYTES[u] : -1;
    if (b < 0) return null;
    out.push(b);
  }
  return out;
}
