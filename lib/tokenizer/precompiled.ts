// SentencePiece's compiled character map (the "Precompiled" normalizer XLM-R, CamemBERT, ALBERT, T5 ... ship): a
// little-endian u32 byte size, a darts-clone double-array trie over UTF-8 bytes, then NUL-terminated replacement
// strings the trie's values point into. HF applies it per extended grapheme cluster: a cluster shorter than 6
// bytes is looked up whole (the first, shortest, prefix match replaces all of it), else each char is looked up
// alone. Alignment follows HF's: a replacement's extra chars count as insertions, a shorter one folds the
// difference into the last char already written (even the previous cluster's), as tokenizers does.
import { BertrtError } from '../errors';
import type { Aligned } from './aligned';
import type { Normalizer } from './normalizer';
import { isHfGraphemeExtend } from './unicode';

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Chars that can join a grapheme cluster with a neighbour (marks, format chars such as ZWJ, Hangul jamo and
 *  syllables, regional indicators, emoji modifiers, the few spacing and prepended letters, CR); a string without
 *  any is one cluster per code point, and needs no segmenter. */
const JOINS = /[\p{M}\p{Cf}\r\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff\u0e33\u0eb3\u0d4e\u{1f1e6}-\u{1f1ff}\u{1f3fb}-\u{1f3ff}\u{111c2}\u{111c3}\u{11a3a}\u{11a84}-\u{11a89}\u{11d46}]/u;

const EXTEND_LIKE = /[\p{M}\p{Cf}]/u;

/** How a char takes part in clusters: NONE cannot join a neighbour; MARK is a combining mark that attaches to
 *  what precedes it (Extend or SpacingMark: GB9, GB9a) and to nothing else; SYLLABLE is a precomposed Hangul
 *  syllable, which joins only conjoining jamo (GB6-GB8); OTHER is any other joiner (ZWJ, CR, jamo, prepended
 *  chars, regional indicators, emoji modifiers, format chars, astral marks), whose clusters the segmenter finds. */
const NONE = 0;
const MARK = 1;
const SYLLABLE = 2;
const OTHER = 3;
/** Myanmar and other Mc chars that UAX #29 leaves out of SpacingMark: a cluster breaks before them. */
const NOT_SPACING = new Set([0x102b, 0x102c, 0x1038, 0x1062, 0x1063, 0x1064, 0x1067, 0x1068, 0x1069, 0x106a, 0x106b, 0x106c, 0x106d, 0x1083, 0x1087, 0x1088, 0x1089, 0x108a, 0x108b, 0x108c, 0x108f, 0x109a, 0x109b, 0x109c, 0x1a61, 0x1a63, 0x1a64, 0xaa7b, 0xaa7d]);
const IS_MARK = /\p{M}/u;
/** joinClass + 1 of each BMP code point, filled on first use (0: not computed yet). */
const BMP_CLASS = new Uint8Array(0x10000);

function joinClass(c: string): number {
  if (c.length === 2) return JOINS.test(c) ? OTHER : NONE;
  const u = c.charCodeAt(0);
  let v = BMP_CLASS[u];
  if (v === 0) {
    const k = !JOINS.test(c) ? NONE : u >= 0xac00 && u <= 0xd7a3 ? SYLLABLE : IS_MARK.test(c) && !NOT_SPACING.has(u) ? MARK : OTHER;
    BMP_CLASS[u] = v = k + 1;
  }
  return v - 1;
}

/** Grapheme_Cluster_Break=Control among the chars a mark can follow (GB4: nothing attaches to them): Cc, the
 *  line and paragraph separators (Cf chars are OTHER and go to the segmenter). */
const isControl = (c: string) => {
  const u = c.charCodeAt(0);
  return c.length === 1 && (u < 0x20 || (u >= 0x7f && u < 0xa0) || u === 0x2028 || u === 0x2029);
};

const isJamo = (c: string | undefined) => {
  if (c === undefined || c.length !== 1) return false;
  const u = c.charCodeAt(0);
  return (u >= 0x1100 && u <= 0x11ff) || (u >= 0xa960 && u <= 0xa97f) || (u >= 0xd7b0 && u <= 0xd7ff);
};

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

  /** Per BMP code point: 0 not looked up yet, 1 no replacement, k + 2 the replacement bmpRepl[k]. */
  private readonly bmp = new Int32Array(0x10000);
  private readonly bmpRepl: string[] = [];

  /** The replacement of one code point: a table for the BMP, the memo beyond. */
  private transformChar(c: string): string | null {
    const cp = c.charCodeAt(0);
    if (c.length === 2) return this.transform(c);
    const v = this.bmp[cp];
    if (v === 1) return null;
    if (v > 1) return this.bmpRepl[v - 2];
    const r = this.lookup(Buffer.from(c, 'utf8'));
    if (r === null) this.bmp[cp] = 1;
    else {
      this.bmp[cp] = this.bmpRepl.length + 2;
      this.bmpRepl.push(r);
    }
    return r;
  }

  /** One pass over the chars, as HF applies the map: clusters are found only where a char that can join a
   *  neighbour is (a boundary between two chars that cannot is always one), so most text never meets the
   *  segmenter; the output is built from the first change on (an unchanged text is returned as it is), with the
   *  alignment HF's transform gives (see aligned.ts `transform`): a replacement's chars take the next source
   *  chars' ranges, its extra chars are insertions aligned to the last source char taken, and a shorter one
   *  makes the last char written consume the difference. */
  normalize(a: Aligned): Aligned {
    const src = a.chars;
    const n = src.length;
    const origin = a.origin ?? 0;
    let out: Aligned | null = null;
    let idx = 0; // source chars consumed
    let written = 0; // output chars, before `out` exists too (then equal to idx)
    // The last char inserted is held back: a shorter replacement right after it changes what it is (HF's transform
    // then makes it take the next source char's range instead of the previous one's), as with any last char.
    let held: string | null = null;
    let heldChange = 0;
    const start = () => {
      out = { chars: src.slice(0, idx), starts: a.starts.slice(0, idx), ends: a.ends.slice(0, idx), origin: a.origin };
    };
    const push = (o: Aligned, c: string, k: number) => {
      o.chars.push(c);
      o.starts.push(k >= 0 ? a.starts[k] : origin);
      o.ends.push(k >= 0 ? a.ends[k] : origin);
    };
    const release = (o: Aligned) => {
      if (held === null) return;
      if (heldChange > 0) push(o, held, Math.min(idx, n) - 1);
      else {
        push(o, held, Math.min(idx, n - 1));
        idx += 1 - heldChange;
      }
      held = null;
    };
    const take = (o: Aligned, c: string) => {
      release(o);
      push(o, c, Math.min(idx, n - 1));
      idx++;
      written++;
    };
    const keep = (c: string) => {
      if (out) take(out, c);
      else {
        idx++;
        written++;
      }
    };
    const replace = (old: number, repl: string) => {
      if (!out) start();
      const o = out!;
      const chars = repl.length === 1 ? [repl] : [...repl];
      const diff = chars.length - old;
      const plain = diff > 0 ? old : chars.length;
      for (let k = 0; k < plain; k++) take(o, chars[k]);
      for (let k = plain; k < chars.length; k++) {
        release(o);
        held = chars[k];
        heldChange = 1;
        written++;
      }
      if (diff < 0 && written > 0) {
        if (held !== null) heldChange += diff;
        else idx -= diff;
      }
    };
    const perChar = (cs: string[]) => {
      for (const c of cs) {
        const r = this.transformChar(c);
        if (r === null) keep(c);
        else replace(1, r);
      }
    };
    const cluster = (cs: string[]) => {
      if (cs.length === 1) return perChar(cs);
      const g = cs.join('');
      if (Buffer.byteLength(g, 'utf8') < 6) {
        const r = this.transform(g);
        if (r !== null) return replace(cs.length, r);
      }
      perChar(cs);
    };
    // per char: its class, and whether it can join a neighbour here (a syllable only next to a jamo)
    const cls = new Uint8Array(n);
    const joins = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const k = joinClass(src[i]);
      cls[i] = k;
      joins[i] = k === NONE || (k === SYLLABLE && !isJamo(src[i - 1]) && !isJamo(src[i + 1])) ? 0 : 1;
    }
    for (let i = 0; i < n; ) {
      let j = i + 1;
      let simple = true; // no joiner but marks and lone syllables: clusters are a char and the marks after it
      while (j < n && (joins[j - 1] || joins[j])) {
        if (joins[j] && cls[j] !== MARK) simple = false;
        j++;
      }
      if (j === i + 1) {
        const c = src[i];
        const r = this.transformChar(c);
        if (r === null) keep(c);
        else replace(1, r);
      } else if (simple && (!joins[i] || cls[i] === MARK)) {
        // a cluster starts at every char that is not a mark, and at a mark newer than HF's segmentation tables
        let from = i;
        for (let k = i + 1; k <= j; k++) {
          if (k < j && cls[k] === MARK && isHfGraphemeExtend(src[k].charCodeAt(0)) && !isControl(src[k - 1])) continue;
          cluster(src.slice(from, k));
          from = k;
        }
      } else {
        // the clusters of this run, as the segmenter finds them; a mark newer than HF's segmentation tables starts
        // a cluster of its own there
        for (const { segment } of segmenter.segment(src.slice(i, j).join(''))) {
          const cps = [...segment];
          let from = 0;
          for (let k = 1; k < cps.length; k++) {
            const cp = cps[k].codePointAt(0)!;
            if (cp < 0x10000 && cp >= 0x80 && EXTEND_LIKE.test(cps[k]) && !isHfGraphemeExtend(cp)) {
              cluster(cps.slice(from, k));
              from = k;
            }
          }
          cluster(from === 0 ? cps : cps.slice(from));
        }
      }
      i = j;
    }
    if (out) release(out);
    return out ?? a;
  }
}
