// A single pass over the text for the configuration nearly every BERT tokenizer uses (BertNormalizer with
// clean_text, BertPreTokenizer, WordPiece): per code point, the normalized form comes from a cache, whitespace and
// punctuation close words, and each finished word goes to WordPiece by its string. It produces exactly what the
// composed path (normalizer.ts → pretokenizer.ts → wordpiece.ts) does; tests hold the two equal.
import { isChineseChar, type BertNormalizerOptions } from './normalizer';
import { hfLowercase, isHfControl, isHfNonspacingMark, isHfPunctuation, isHfSpace } from './unicode';
import type { Token, WordPiece } from './wordpiece';

const NORM_CACHE_LIMIT = 50_000;

export class FastBert {
  private readonly norm = new Map<number, string>();
  // the word being built: its normalized text and, per UTF-16 unit of it, the original range it came from
  private word = '';
  private starts: number[] = [];
  private ends: number[] = [];
  private n = 0; // used length of starts/ends (the arrays are reused, never shrunk)

  constructor(
    private readonly opts: BertNormalizerOptions,
    private readonly model: WordPiece,
  ) {}

  /** Normalized form of one code point: NFD without nonspacing marks (if stripping), lowercased (if lowercasing). */
  private normalizeCp(cp: number, c: string): string {
    if (cp < 0x80) return this.opts.lowercase && cp >= 0x41 && cp <= 0x5a ? String.fromCharCode(cp + 32) : c;
    let n = this.norm.get(cp);
    if (n !== undefined) return n;
    n = c;
    if (this.opts.stripAccents ?? this.opts.lowercase) {
      let s = '';
      for (const d of c.normalize('NFD')) if (!isHfNonspacingMark(d.codePointAt(0)!)) s += d;
      n = s;
    }
    if (this.opts.lowercase) {
      let s = '';
      for (const d of n) s += hfLowercase(d);
      n = s;
    }
    if (this.norm.size >= NORM_CACHE_LIMIT) this.norm.clear();
    this.norm.set(cp, n);
    return n;
  }

  /** The text as the normalizer spells it (clean_text, Chinese chars spaced, accents, case), for finding the
   *  normalized added tokens a slice may hold. */
  normalizedText(text: string): string {
    let out = '';
    for (const c of text) {
      const cp = c.codePointAt(0)!;
      if (this.opts.cleanText && isHfControl(cp)) continue;
      if (isHfSpace(cp)) out += ' ';
      else if (this.opts.handleChineseChars && isChineseChar(cp)) out += ` ${c} `;
      else out += this.normalizeCp(cp, c);
    }
    return out;
  }

  /** Tokenizes text[begin, end) (offsets are into `text`), appending tokens and their word indices; stops at the
   *  first word boundary after `limit` tokens exist. Returns the next word index. */
  run(text: string, begin: number, end: number, tokens: Token[], wordIds: number[], firstWord: number, limit = Infinity): number {
    let word = firstWord;
    const flush = () => {
      if (this.word.length === 0) return;
      const before = tokens.length;
      this.model.tokenizeString(this.word, this.starts, this.ends, tokens);
      for (let k = before; k < tokens.length; k++) wordIds.push(word);
      word++;
      this.word = '';
      this.n = 0;
    };
    const mark = (s: number, e: number) => {
      this.starts[this.n] = s;
      this.ends[this.n++] = e;
    };
    const emit = (n: string, s: number, e: number) => {
      for (let k = 0; k < n.length; k++) {
        const u = n.charCodeAt(k);
        const pair = u >= 0xd800 && u <= 0xdbff && k + 1 < n.length;
        const cp = pair ? n.codePointAt(k)! : u;
        if (isHfSpace(cp)) {
          flush();
        } else if (isHfPunctuation(cp)) {
          flush();
          this.word = pair ? n.slice(k, k + 2) : n[k];
          mark(s, e);
          if (pair) mark(s, e);
          flush();
        } else {
          this.word += pair ? n.slice(k, k + 2) : n[k];
          mark(s, e);
          if (pair) mark(s, e);
        }
        if (pair) k++;
      }
    };
    const clean = this.opts.cleanText;
    const chinese = this.opts.handleChineseChars;
    for (let i = begin; i < end; ) {
      if (tokens.length >= limit) break;
      const cp = text.codePointAt(i)!;
      const len = cp > 0xffff ? 2 : 1;
      const c = len === 1 ? text[i] : text.slice(i, i + 2);
      if (clean && isHfControl(cp)) {
        // dropped
      } else if (isHfSpace(cp)) {
        flush();
      } else if (chinese && isChineseChar(cp)) {
        flush();
        emit(this.normalizeCp(cp, c), i, i + len);
        flush();
      } else {
        emit(this.normalizeCp(cp, c), i, i + len);
      }
      i += len;
    }
    flush();
    return word;
  }
}
