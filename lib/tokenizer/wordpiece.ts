// WordPiece: greedy longest-match-first over each word, "##" marking continuations; a word with any
// unmatchable rest, or longer than maxInputCharsPerWord characters, becomes the unknown token.
//
// Cost is O(word × longest piece): a match is never looked for past the longest entry of the vocabulary (in
// UTF-16 units, its continuation prefix left out), so a long word costs what its pieces cost, not its square.
import { BertrtError } from '../errors';
import type { Aligned } from './aligned';
import { cachedTriples, emitTriples, type Token, VocabModel } from './model';

export type { Token } from './model';

export interface WordPieceOptions {
  unkToken: string;
  continuingSubwordPrefix: string;
  maxInputCharsPerWord: number;
}

export class WordPiece extends VocabModel {
  readonly unkId: number;
  /** the longest piece in UTF-16 units (a continuation counted without its prefix) */
  private readonly maxPieceUnits: number;
  /** continuation pieces by their text without the prefix, so a lookup needs no concatenation */
  private readonly continuations = new Map<string, number>();
  // word -> [id, begin, end] triples, the pieces' spans in UTF-16 units of the word
  private readonly cache = new Map<string, Int32Array>();

  constructor(
    vocab: Map<string, number>,
    readonly options: WordPieceOptions,
  ) {
    super(vocab);
    const unk = vocab.get(options.unkToken);
    if (unk === undefined) throw new BertrtError(`vocabulary has no unknown token "${options.unkToken}"`, 'E_MODEL_FORMAT');
    this.unkId = unk;
    const prefix = options.continuingSubwordPrefix;
    let longest = 0;
    for (const [t, id] of vocab) {
      if (t.length > longest) longest = t.length;
      if (t.startsWith(prefix)) {
        this.continuations.set(t.slice(prefix.length), id); // one entry per vocabulary string, so no collisions
      }
    }
    this.maxPieceUnits = longest;
  }

  /** Pieces of one word as [id, begin, end] triples in UTF-16 units of `word`. */
  private pieces(word: string): Int32Array {
    const n = word.length;
    // more code points than the limit (a string has at least half as many code points as units): unknown at once
    if (n > this.options.maxInputCharsPerWord && (n > 2 * this.options.maxInputCharsPerWord || codePoints(word) > this.options.maxInputCharsPerWord)) {
      return Int32Array.of(this.unkId, 0, n);
    }
    const out: number[] = [];
    let start = 0;
    while (start < n) {
      let end = Math.min(n, start + this.maxPieceUnits);
      if (end < n && isLow(word.charCodeAt(end)) && isHigh(word.charCodeAt(end - 1))) end--; // never split a pair
      let found = -1;
      while (start < end) {
        const id = (start > 0 ? this.continuations : this.vocab).get(word.slice(start, end));
        if (id !== undefined) {
          found = id;
          break;
        }
        end -= end - 2 >= start && isLow(word.charCodeAt(end - 1)) && isHigh(word.charCodeAt(end - 2)) ? 2 : 1;
      }
      if (found < 0) return Int32Array.of(this.unkId, 0, n);
      out.push(found, start, end);
      start = end;
    }
    return Int32Array.from(out);
  }

  private cached(word: string): Int32Array {
    return cachedTriples(this.cache, word, (w) => this.pieces(w));
  }


  /** WordPiece over a word given as a string; starts/ends give each UTF-16 unit's original range. */
  tokenizeString(word: string, starts: number[], ends: number[], out: Token[]): void {
    const p = this.cached(word);
    for (let i = 0; i < p.length; i += 3) out.push({ id: p[i], start: starts[p[i + 1]], end: ends[p[i + 2] - 1] });
  }

  /** WordPiece over a word whose chars (code points) carry their original ranges. */
  tokenize(word: Aligned, out: Token[]): void {
    const key = word.chars.join('');
    emitTriples(word, key, this.cached(key), out);
  }
}

const isHigh = (u: number) => u >= 0xd800 && u <= 0xdbff;
const isLow = (u: number) => u >= 0xdc00 && u <= 0xdfff;

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++, n++) if (isHigh(s.charCodeAt(i)) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) i++;
  return n;
}
