// SentencePiece's compiled character map (the "Precompiled" normalizer XLM-R, CamemBERT, ALBERT, T5 ... ship): a
// little-endian u32 byte size, a darts-clone double-array trie over UTF-8 bytes, then NUL-terminated replacement
// strings the trie's values point into. HF applies it per extended grapheme cluster: a cluster shorter than 6
// bytes is looked up whole (the first, shortest, prefix match replaces all of it), else each char is looked up
// alone. Alignment follows HF's: a replacement's extra chars count as insertions, a shorter one folds the
// difference into the last char already written (even the previous cluster's), as tokenizers does.
import { BertrtError } from '../errors';
import { type Aligned, type Change, transform } from './aligned';
import type { Normalizer } from './normalizer';
import { isHfGraphemeExtend } from './unicode';

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Chars that can join a grapheme cluster with a neighbour (marks, format chars such as ZWJ, Hangul jamo and
 *  syllables, regional indicators, emoji modifiers, the few spacing and prepended letters, CR); a string without
 *  any is one cluster per code point, and needs no segmenter. */
const JOINS = /[\p{M}\p{Cf}\r\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff\u0e33\u0eb3\u0d4e\u{1f1e6}-\u{1f1ff}\u{1f3fb}-\u{1f3ff}\u{111c2}\u{111c3}\u{11a3a}\u{11a84}-\u{11a89}\u{11d46}]/u;

const EXTEND_LIKE = /[\p{M}\p{Cf}]/u;
const ASCII = /^[\x00-\x7f]*$/;

export class Precompiled implements Normalizer {
  private readonly trie: Uint32Array;
  private readonly blob: Uint8Array;
  private readonly memo = new Map<string, string | null>();

  constructor(bytes: Uint8Array) {
    if (bytes.length < 4) throw new BertrtError('tokenizer.json: Precompiled precompiled_charsmap is shorter than its header', 'E_MODEL_FORMAT');
    const size = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24);
    if (size < 4 || size % 4 !== 0 || 4 + size > bytes.length) {
      throw new BertrtError(`tokenizer.json: Precompiled precompiled_charsmap declares a ${size}-byte trie in ${bytes.length} bytes`, 'E_MODEL_FORMAT');
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.trie = new Uint32Array(size / 4);
    for (let i = 0; i < this.trie.length; i++) this.trie[i] = view.getUint32(4 + 4 * i, true);
    this.blob = bytes.subarray(4 + size);
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(this.blob);
    } catch {
      throw new BertrtError('tokenizer.json: Precompiled precompiled_charsmap holds replacements that are not UTF-8', 'E_MODEL_FORMAT');
    }
  }

  static fromBase64(s: unknown): Precompiled {
    if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
      throw new BertrtError('tokenizer.json: Precompiled needs precompiled_charsmap, a base64 string', 'E_MODEL_FORMAT');
    }
    return new Precompiled(Buffer.from(s, 'base64'));
  }

  /** The replacement for `chunk` (the trie's first match among its prefixes), or null: darts-clone's
   *  common-prefix search, with every index bounds-checked (a corrupt map means "no match", never a crash). */
  transform(chunk: string): string | null {
    let r = this.memo.get(chunk);
    if (r !== undefined) return r;
    r = this.lookup(Buffer.from(chunk, 'utf8'));
    if (this.memo.size < 100_000) this.memo.set(chunk, r);
    return r;
  }

  private lookup(key: Uint8Array): string | null {
    const t = this.trie;
    const offset = (u: number) => (u >>> 10) << ((u & (1 << 9)) >>> 6);
    let pos = 0;
    let unit = t[0];
    pos ^= offset(unit);
    for (const c of key) {
      if (c === 0) break;
      pos ^= c;
      if (pos >= t.length) return null;
      unit = t[pos];
      if ((unit & ((1 << 31) | 0xff)) >>> 0 !== c) return null;
      pos ^= offset(unit);
      if (pos >= t.length) return null;
      if ((unit >>> 8) & 1) {
        const value = t[pos] & 0x7fffffff;
        let end = value;
        while (end < this.blob.length && this.blob[end] !== 0) end++;
        if (value > this.blob.length) return null;
        return Buffer.from(this.blob.subarray(value, end)).toString('utf8');
      }
    }
    return null;
  }

  /** ASCII chars the map changes (most maps change none but controls), for a quick pass over ASCII text. */
  private asciiMapped: RegExp | null | undefined;

  private untouchedAscii(text: string): boolean {
    if (this.asciiMapped === undefined) {
      const mapped: string[] = [];
      for (let u = 0; u < 0x80; u++) if (this.transform(String.fromCharCode(u)) !== null) mapped.push(`\\x${u.toString(16).padStart(2, '0')}`);
      this.asciiMapped = mapped.length ? new RegExp(`[${mapped.join('')}]`) : null;
    }
    return ASCII.test(text) && !(this.asciiMapped?.test(text) ?? false);
  }

  normalize(a: Aligned): Aligned {
    const text = a.chars.join('');
    // ASCII text is one cluster per char (but CR LF, which the map's CR entry decides), so it is untouched when
    // no char of it is mapped
    if (this.untouchedAscii(text)) return a;
    const dest: Change[] = [];
    let modified = false;
    const replace = (old: number, repl: string) => {
      const chars = [...repl];
      for (const c of chars) dest.push([c, 0]);
      const diff = chars.length - old;
      if (diff > 0) for (let k = dest.length - diff; k < dest.length; k++) dest[k][1] = 1;
      else if (diff < 0 && dest.length > 0) dest[dest.length - 1][1] += diff;
    };
    const cluster = (g: string) => {
      if (Buffer.byteLength(g, 'utf8') < 6) {
        const r = this.transform(g);
        if (r !== null) {
          modified = true;
          replace([...g].length, r);
          return;
        }
      }
      for (const c of g) {
        const r = this.transform(c);
        if (r !== null) {
          modified = true;
          replace(1, r);
        } else dest.push([c, 0]);
      }
    };
    if (JOINS.test(text)) {
      for (const { segment } of segmenter.segment(text)) {
        // a mark newer than HF's segmentation tables starts a cluster of its own there
        let start = 0;
        let k = 0;
        for (const c of segment) {
          const cp = c.codePointAt(0)!;
          if (k > 0 && cp < 0x10000 && cp >= 0x80 && EXTEND_LIKE.test(c) && !isHfGraphemeExtend(cp)) {
            cluster(segment.slice(start, k));
            start = k;
          }
          k += c.length;
        }
        cluster(start === 0 ? segment : segment.slice(start));
      }
    } else {
      for (const c of a.chars) cluster(c);
    }
    return modified ? transform(a, dest) : a;
  }
}
