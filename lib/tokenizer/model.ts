// What every tokenizer.json "model" (WordPiece, BPE, Unigram) gives the pipeline: the tokens of one pre-tokenized
// word, with ranges in the original text, and the vocabulary both ways.
import { type Aligned, charIndexOfUnits } from './aligned';

export interface Token {
  id: number;
  /** UTF-16 range in the original text */
  start: number;
  end: number;
  /** an added token (matched before the model), whose string is the text it matched */
  added?: true;
}

export interface TokenModel {
  /** Appends the tokens of one word (a pre-tokenizer's output) to `out`. */
  tokenize(word: Aligned, out: Token[]): void;
  /** The tokens of a word's string as [id, begin, end] triples in its UTF-16 units (what tokenize emits, before
   *  the ranges are mapped back), where the model has that form (Unigram, BPE). */
  triples?(key: string): Int32Array;
  tokenToId(token: string): number | undefined;
  idToTokenString(id: number): string | undefined;
  /** one more than the largest id of the vocabulary */
  readonly size: number;
}

/** A model whose vocabulary is a token → id map (WordPiece, BPE, WordLevel): the lookups both ways. */
export abstract class VocabModel implements TokenModel {
  protected readonly idToToken: string[] = [];

  constructor(readonly vocab: Map<string, number>) {
    for (const [t, id] of vocab) this.idToToken[id] = t;
  }

  abstract tokenize(word: Aligned, out: Token[]): void;

  get size(): number {
    return this.idToToken.length;
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  idToTokenString(id: number): string | undefined {
    return this.idToToken[id];
  }
}

/** Words longer than this (in UTF-16 units) are not cached, as HF caches only words under 256 bytes. */
export const CACHEABLE = 256;
export const CACHE_LIMIT = 100_000;

/** Emits cached [id, begin, end] triples (UTF-16 units of the word's string `key`) as tokens with the word's
 *  original ranges: a token starts where its first char came from and ends where its last did. */
export function emitTriples(word: Aligned, key: string, p: Int32Array, out: Token[]): void {
  // spans are in UTF-16 units of the word; the aligned arrays are per code point
  const cp = charIndexOfUnits(word.chars, key.length);
  for (let i = 0; i < p.length; i += 3) {
    const b = cp ? cp[p[i + 1]] : p[i + 1];
    const e = cp ? cp[p[i + 2]] : p[i + 2];
    out.push({ id: p[i], start: word.starts[b], end: word.ends[e - 1] });
  }
}

/** "<0xAB>" names of the UTF-8 bytes of `s`, for byte fallback. */
export function byteTokens(s: string): string[] {
  return [...Buffer.from(s, 'utf8')].map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
}

export const isHighSurrogate = (u: number) => u >= 0xd800 && u <= 0xdbff;
export const isLowSurrogate = (u: number) => u >= 0xdc00 && u <= 0xdfff;

/** A vocabulary string HF can hold: well-formed UTF-16 (serde refuses a lone surrogate in tokenizer.json). */
export function wellFormedPiece(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (isHighSurrogate(u)) {
      if (i + 1 >= s.length || !isLowSurrogate(s.charCodeAt(i + 1))) return false;
      i++;
    } else if (isLowSurrogate(u)) return false;
  }
  return true;
}

/** A word's triples from `cache`, computed by `segment` on a miss (and kept if the word is short). */
export function cachedTriples(cache: Map<string, Int32Array>, key: string, segment: (s: string) => Int32Array): Int32Array {
  let p = cache.get(key);
  if (!p) {
    p = segment(key);
    if (key.length < CACHEABLE) {
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(key, p);
    }
  }
  return p;
}
