// WordPiece: greedy longest-match-first over each word, "##" marking continuations; a word with any
// unmatchable rest, or longer than maxInputCharsPerWord characters, becomes the unknown token.
import { BertrtError } from '../errors';
import type { Aligned } from './aligned';

export interface Token {
  id: number;
  /** UTF-16 range in the original text */
  start: number;
  end: number;
}

export interface WordPieceOptions {
  unkToken: string;
  continuingSubwordPrefix: string;
  maxInputCharsPerWord: number;
}

const CACHE_LIMIT = 100_000;

export class WordPiece {
  readonly unkId: number;
  private readonly idToToken: string[];
  // word -> [id, charBegin, charEnd] triples, the pieces' spans in chars of the word
  private readonly cache = new Map<string, Int32Array>();

  constructor(
    readonly vocab: Map<string, number>,
    readonly options: WordPieceOptions,
  ) {
    const unk = vocab.get(options.unkToken);
    if (unk === undefined) throw new BertrtError(`vocabulary has no unknown token "${options.unkToken}"`, 'E_MODEL_FORMAT');
    this.unkId = unk;
    this.idToToken = [];
    for (const [t, id] of vocab) this.idToToken[id] = t;
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  idToTokenString(id: number): string | undefined {
    return this.idToToken[id];
  }

  get size(): number {
    return this.idToToken.length;
  }

  private pieces(chars: string[]): Int32Array {
    const n = chars.length;
    if (n > this.options.maxInputCharsPerWord) return Int32Array.of(this.unkId, 0, n);
    const out: number[] = [];
    let start = 0;
    while (start < n) {
      let end = n;
      let found = -1;
      while (start < end) {
        let sub = chars.slice(start, end).join('');
        if (start > 0) sub = this.options.continuingSubwordPrefix + sub;
        const id = this.vocab.get(sub);
        if (id !== undefined) {
          found = id;
          break;
        }
        end--;
      }
      if (found < 0) return Int32Array.of(this.unkId, 0, n);
      out.push(found, start, end);
      start = end;
    }
    return Int32Array.from(out);
  }

  /** WordPiece over a word given as a string; starts/ends give each UTF-16 unit's original range. */
  tokenizeString(word: string, starts: number[], ends: number[], out: Token[]): void {
    if (word.length > 2 * this.options.maxInputCharsPerWord) {
      // more code points than the limit whatever its surrogates: the unknown token, without looking further
      out.push({ id: this.unkId, start: starts[0], end: ends[word.length - 1] });
      return;
    }
    let p = this.cache.get(word);
    if (!p) {
      p = this.pieces([...word]);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, p);
    }
    // pieces are in code points; convert to UTF-16 positions of the word when it holds surrogate pairs
    let units: number[] | null = null;
    if (word.length !== p[p.length - 1] && /[\ud800-\udbff]/.test(word)) {
      units = [0];
      for (const c of word) units.push(units[units.length - 1] + c.length);
    }
    for (let i = 0; i < p.length; i += 3) {
      const b = units ? units[p[i + 1]] : p[i + 1];
      const e = units ? units[p[i + 2]] : p[i + 2];
      out.push({ id: p[i], start: starts[b], end: ends[e - 1] });
    }
  }

  tokenize(word: Aligned, out: Token[]): void {
    const key = word.chars.join('');
    let p = this.cache.get(key);
    if (!p) {
      p = this.pieces(word.chars);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(key, p);
    }
    for (let i = 0; i < p.length; i += 3) {
      out.push({ id: p[i], start: word.starts[p[i + 1]], end: word.ends[p[i + 2] - 1] });
    }
  }
}
