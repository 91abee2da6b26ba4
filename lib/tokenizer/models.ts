// tokenizer.json "model" → a TokenModel: WordPiece, BPE, Unigram or WordLevel, each field checked.
import { BertrtError } from '../errors';
import type { Aligned } from './aligned';
import { Bpe } from './bpe';
import { type Token, type TokenModel, VocabModel } from './model';
import { Unigram } from './unigram';
import { WordPiece } from './wordpiece';

export { WordPiece } from './wordpiece';
export { Bpe } from './bpe';
export { Unigram } from './unigram';

/** A token id bertrt accepts from a file: below 2^24, as native check_config bounds vocab_size. */
export const MAX_ID = 1 << 24;
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < MAX_ID;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** WordLevel: each word is one token, or the unknown token. */
export class WordLevel extends VocabModel {
  private readonly unkId: number | undefined;
  constructor(
    vocab: Map<string, number>,
    readonly unkToken: string,
  ) {
    super(vocab);
    this.unkId = vocab.get(unkToken);
  }
  tokenize(word: Aligned, out: Token[]): void {
    if (word.chars.length === 0) return;
    const id = this.vocab.get(word.chars.join('')) ?? this.unkId;
    if (id === undefined) throw new BertrtError(`tokenizer: WordLevel has no token for a word and no unknown token ${JSON.stringify(this.unkToken)}`, 'E_INVALID_ARGUMENT');
    out.push({ id, start: word.starts[0], end: word.ends[word.chars.length - 1] });
  }
}

export function modelFromJson(m: unknown, file = 'tokenizer.json'): TokenModel {
  const bad = (msg: string) => new BertrtError(`${file}: ${msg}`, 'E_MODEL_FORMAT');
  if (!isObject(m)) throw bad('model must be an object');
  const str = (k: string, d: string | null): string | null => {
    const v = m[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== 'string') throw bad(`model.${k} must be a string`);
    return v;
  };
  const bool = (k: string, d: boolean): boolean => {
    const v = m[k] ?? d;
    if (typeof v !== 'boolean') throw bad(`model.${k} must be true or false`);
    return v;
  };
  const vocabMap = (): Map<string, number> => {
    if (!isObject(m.vocab)) throw bad('model.vocab must be an object of token: id');
    const vocab = new Map<string, number>();
    for (const [token, id] of Object.entries(m.vocab)) {
      if (!isId(id)) throw bad(`model.vocab: token ${JSON.stringify(token).slice(0, 80)} has id ${JSON.stringify(id)}, not an integer in [0, ${MAX_ID})`);
      vocab.set(token, id);
    }
    return vocab;
  };
  // HF infers the type from the fields when "type" is missing; bertrt asks for it
  switch (m.type) {
    case 'WordPiece': {
      const maxChars = m.max_input_chars_per_word ?? 100;
      if (!Number.isSafeInteger(maxChars) || (maxChars as number) < 1) throw bad('model.max_input_chars_per_word must be a positive integer');
      return new WordPiece(vocabMap(), {
        unkToken: str('unk_token', '[UNK]')!,
        continuingSubwordPrefix: str('continuing_subword_prefix', '##')!,
        maxInputCharsPerWord: maxChars as number,
      });
    }
    case 'BPE': {
      if (m.dropout !== undefined && m.dropout !== null && m.dropout !== 0) {
        throw new BertrtError(`${file}: BPE dropout ${JSON.stringify(m.dropout)} is sampling, not supported (null or 0 only)`, 'E_UNSUPPORTED');
      }
      if (!Array.isArray(m.merges)) throw bad('model.merges must be a list');
      const merges = m.merges.map((x, i): [string, string] => {
        if (typeof x === 'string') {
          const parts = x.split(' ');
          if (parts.length !== 2) throw bad(`model.merges[${i}] must be "a b" or ["a", "b"]`);
          return [parts[0], parts[1]];
        }
        if (Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' && typeof x[1] === 'string') return [x[0], x[1]];
        throw bad(`model.merges[${i}] must be "a b" or ["a", "b"]`);
      });
      return new Bpe(vocabMap(), merges, {
        unkToken: str('unk_token', null),
        continuingSubwordPrefix: str('continuing_subword_prefix', null),
        endOfWordSuffix: str('end_of_word_suffix', null),
        fuseUnk: bool('fuse_unk', false),
        byteFallback: bool('byte_fallback', false),
        ignoreMerges: bool('ignore_merges', false),
      });
    }
    case 'Unigram': {
      if (!Array.isArray(m.vocab)) throw bad('model.vocab of a Unigram model must be a list of [piece, score]');
      if (m.vocab.length > MAX_ID) throw bad(`model.vocab has ${m.vocab.length} pieces, more than ${MAX_ID}`);
      const vocab = m.vocab.map((x, i): [string, number] => {
        if (!Array.isArray(x) || x.length !== 2 || typeof x[0] !== 'string' || typeof x[1] !== 'number' || !Number.isFinite(x[1])) {
          throw bad(`model.vocab[${i}] must be [piece, finite score]`);
        }
        return [x[0], x[1]];
      });
      const unk = m.unk_id ?? null;
      if (unk !== null && !isId(unk)) throw bad('model.unk_id must be a token id or null');
      return new Unigram(vocab, { unkId: unk as number | null, byteFallback: bool('byte_fallback', false) });
    }
    case 'WordLevel':
      return new WordLevel(vocabMap(), str('unk_token', '<unk>')!);
    default:
      throw new BertrtError(`${file}: model type "${String(m.type)}" is not supported (WordPiece, BPE, Unigram, WordLevel)`, 'E_UNSUPPORTED');
  }
}
