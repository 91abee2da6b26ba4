// The tokenizer: added tokens split out of the raw text, then normalizer → pre-tokenizer → WordPiece → template
// post-processor, as tokenizer.json composes them. Loads tokenizer.json, or vocab.txt + tokenizer_config.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, invalidArgument } from '../errors';
import { readJson } from '../model/config';
import { alignedFrom } from './aligned';
import { BertNormalizer, type Normalizer, normalizerFromJson } from './normalizer';
import { BertPreTokenizer, type PreTokenizer, preTokenizerFromJson } from './pretokenizer';
import { FastBert } from './fast-bert';
import { type Token, WordPiece } from './wordpiece';

export interface Encoding {
  ids: Int32Array;
  typeIds: Int32Array;
  attentionMask: Int32Array;
  specialTokensMask: Int32Array;
  /** [start, end) into the original string (UTF-16 code units by default, see EncodeOptions.offsets); [0, 0] for
   *  special tokens and padding */
  offsets: Array<[number, number]>;
  /** index of the word each token came from (per sequence), null for special tokens */
  wordIds: Array<number | null>;
  /** which input each token belongs to: 0 (first text), 1 (pair), null for special tokens */
  sequenceIds: Array<number | null>;
  tokens: string[];
  /** the windows that truncation cut off (with `stride` tokens of overlap), each a complete encoding */
  overflowing: Encoding[];
}

export type TruncationStrategy = 'longest_first' | 'only_first' | 'only_second';

export interface TruncationOptions {
  /** longest output in tokens, special tokens included */
  maxLength: number;
  /** tokens repeated between consecutive overflowing windows (default 0) */
  stride?: number;
  strategy?: TruncationStrategy;
  /** cut from the right (default) or from the left */
  direction?: 'right' | 'left';
}

export interface EncodeOptions {
  /** Shorthand for truncation { maxLength, strategy: 'longest_first', direction: 'right' }. */
  maxLength?: number;
  truncation?: TruncationOptions;
  addSpecialTokens?: boolean;
  /** Offsets in UTF-16 code units (default: what String.prototype.slice takes) or in code points (what HF
   *  tokenizers reports, e.g. Python's str indices). */
  offsets?: 'utf16' | 'codepoint';
  /** Fill `overflowing` with the windows truncation cuts off (default true, as HF does). With false, a single
   *  text truncated from the right stops being tokenized once the limit is reached. */
  returnOverflowing?: boolean;
  /** Stop tokenizing each text once it has this many tokens; the rest of it is never looked at. For callers that
   *  need only a text's first tokens, or to know that it is longer than a limit (then ask for limit + 1). */
  stopAfter?: number;
  /** With left truncation and returnOverflowing false: tokenize only as much of the text's end as the kept
   *  tokens need, so a long text costs what its last maxLength tokens cost. Ids, offsets and masks are exactly
   *  those of the full encoding; word ids count from the first word tokenized instead of the text's start. */
  fromEnd?: boolean;
}

interface EncodePlan {
  text: string;
  pair: string | null;
  truncation: TruncationOptions | null;
  /** token limit for the first text */
  limit: number;
  stopAfter: number;
  /** > 0: tokenize only enough of the first text's end for this many tokens */
  tail: number;
}

/** Most overflowing windows one encoding may have, and most tokens they may hold together. */
const MAX_WINDOWS = 1 << 16;
const MAX_WINDOW_TOKENS = 1 << 24;

/** Longest padded encoding, and most tokens a padded batch may hold (64 MiB per Int32Array field). */
const MAX_PAD_LENGTH = 1 << 20;
const MAX_PADDED_TOKENS = 1 << 24;

/** Two combining marks in a row, once clean_text has dropped what lies between them: where NFD can reorder. */
const MARK_PAIR = /\p{M}[\p{C}\ufffd]*\p{M}/u;

/** Characters one step of tokenizeSteps covers before it yields. */
const SLICE_UNITS = 2048;

/** Where the single pass may cut a text: BERT's whitespace, at which every word ends. */
function isBoundary(u: number): boolean {
  return u === 0x20 || u === 0x0a || u === 0x09 || u === 0x0d;
}

function wellFormed(s: string): string {
  return (s as string & { isWellFormed?: () => boolean }).isWellFormed?.() === false ? (s as string & { toWellFormed(): string }).toWellFormed() : s;
}

export interface TokenizerOptions {
  /** Use the single-pass path for BertNormalizer + BertPreTokenizer (default true; same output, faster). */
  singlePass?: boolean;
}

export interface PaddingOptions {
  /** pad to this length (default: the longest in the batch) */
  length?: number;
  padToMultipleOf?: number;
  direction?: 'right' | 'left';
}

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

type TemplatePiece = { special: string; typeId: number } | { sequence: 0 | 1; typeId: number };

interface Template {
  single: TemplatePiece[];
  pair: TemplatePiece[];
  specialIds: Map<string, number>;
}

interface WordTokens {
  tokens: Token[];
  wordIds: number[];
}

/** Where one text's tokenization stands: its tokens so far, the next word index, characters since a yield. */
interface TokenizeState {
  out: WordTokens;
  word: number;
  since: number;
}

const bad = (msg: string) => new BertrtError(`tokenizer.json: ${msg}`, 'E_MODEL_FORMAT');
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < MAX_ID;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A token id bertrt accepts from a file: below 2^24, as native check_config bounds vocab_size. */
const MAX_ID = 1 << 24;

function parseTemplate(j: Record<string, unknown>): Template {
  const specialIds = new Map<string, number>();
  if (j.type === 'BertProcessing') {
    const pair = (k: string): [string, number] => {
      const v = j[k];
      if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !isId(v[1])) throw bad(`post_processor.${k} must be [token, id]`);
      return v as [string, number];
    };
    const [sep, sepId] = pair('sep');
    const [cls, clsId] = pair('cls');
    specialIds.set(sep, sepId).set(cls, clsId);
    return {
      single: [{ special: cls, typeId: 0 }, { sequence: 0, typeId: 0 }, { special: sep, typeId: 0 }],
      pair: [
        { special: cls, typeId: 0 },
        { sequence: 0, typeId: 0 },
        { special: sep, typeId: 0 },
        { sequence: 1, typeId: 1 },
        { special: sep, typeId: 1 },
      ],
      specialIds,
    };
  }
  if (j.type !== 'TemplateProcessing') {
    throw new BertrtError(`tokenizer.json: post_processor type "${String(j.type)}" is not supported`, 'E_UNSUPPORTED');
  }
  if (!isObject(j.special_tokens)) throw bad('post_processor.special_tokens must be an object');
  for (const [name, v] of Object.entries(j.special_tokens)) {
    if (!isObject(v) || !Array.isArray(v.ids) || !v.ids.every(isId)) throw bad(`post_processor special token "${name}" needs "ids", a list of token ids`);
    if (v.ids.length !== 1) throw new BertrtError(`tokenizer.json: special token "${name}" maps to several ids`, 'E_UNSUPPORTED');
    specialIds.set(name, v.ids[0]);
  }
  const pieces = (key: 'single' | 'pair'): TemplatePiece[] => {
    const list = j[key];
    if (!Array.isArray(list)) throw bad(`post_processor.${key} must be a list of template pieces`);
    return list.map((p, i): TemplatePiece => {
      const where = `post_processor.${key}[${i}]`;
      const piece = isObject(p) ? (p.SpecialToken ?? p.Sequence) : undefined;
      if (!isObject(p) || !isObject(piece)) throw bad(`${where} must be {"SpecialToken": …} or {"Sequence": …}`);
      const typeId = piece.type_id ?? 0;
      if (!Number.isSafeInteger(typeId) || (typeId as number) < 0 || (typeId as number) > 1023) throw bad(`${where}.type_id must be an integer in [0, 1023]`);
      if (isObject(p.SpecialToken)) {
        if (typeof piece.id !== 'string' || !specialIds.has(piece.id)) throw bad(`${where} names special token ${JSON.stringify(piece.id)}, which special_tokens does not define`);
        return { special: piece.id, typeId: typeId as number };
      }
      if (piece.id !== 'A' && piece.id !== 'B') throw bad(`${where}: a Sequence's id must be "A" or "B"`);
      return { sequence: piece.id === 'A' ? 0 : 1, typeId: typeId as number };
    });
  };
  return { single: pieces('single'), pair: pieces('pair'), specialIds };
}

export class Tokenizer {
  private readonly addedRegex: RegExp | null;
  private readonly addedByContent: Map<string, AddedToken>;
  private readonly addedById: Map<number, string>;
  private readonly specialIdSet: Set<number>;
  /** the single-pass path, when the normalizer and pre-tokenizer are BERT's own (see fast-bert.ts) */
  private readonly fast: FastBert | null;
  private readonly fastStripsAccents: boolean;
  /** no added token holds whitespace, so a cut at whitespace never splits one (see EncodeOptions.fromEnd) */
  private readonly tailSafe: boolean;

  private constructor(
    readonly model: WordPiece,
    private readonly normalizer: Normalizer | null,
    private readonly preTokenizer: PreTokenizer,
    private readonly template: Template,
    readonly addedTokens: AddedToken[],
    private readonly decoderPrefix: string,
    private readonly cleanup: boolean,
    private readonly padding: { token: string; id: number } | null = null,
    options: TokenizerOptions = {},
  ) {
    this.addedByContent = new Map(addedTokens.map((t) => [t.content, t]));
    this.addedById = new Map(addedTokens.map((t) => [t.id, t.content]));
    const escaped = [...this.addedByContent.keys()]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.addedRegex = escaped.length ? new RegExp(escaped.join('|'), 'gu') : null;
    this.specialIdSet = new Set(addedTokens.filter((t) => t.special).map((t) => t.id));
    this.fast =
      options.singlePass !== false && normalizer instanceof BertNormalizer && normalizer.options.cleanText && preTokenizer instanceof BertPreTokenizer
        ? new FastBert(normalizer.options, model)
        : null;
    for (const id of template.specialIds.values()) this.specialIdSet.add(id);
    this.fastStripsAccents = normalizer instanceof BertNormalizer && (normalizer.options.stripAccents ?? normalizer.options.lowercase);
    this.tailSafe = addedTokens.every((t) => ![...t.content].some((c) => isBoundary(c.charCodeAt(0))));
  }

  /** tokenizer.json if the directory has one, else vocab.txt with tokenizer_config.json. */
  static fromDir(dir: string, options: TokenizerOptions = {}): Tokenizer {
    const tj = path.join(dir, 'tokenizer.json');
    if (fs.existsSync(tj)) {
      try {
        return Tokenizer.fromJSON(readJson(tj), options);
      } catch (e) {
        // name the file, not just its kind
        const kind = 'tokenizer.json: ';
        if (e instanceof BertrtError && e.message.startsWith(kind)) throw new BertrtError(`${tj}: ${e.message.slice(kind.length)}`, e.code);
        throw e;
      }
    }
    const vocab = path.join(dir, 'vocab.txt');
    if (!fs.existsSync(vocab)) throw new BertrtError(`${dir} has neither tokenizer.json nor vocab.txt`, 'E_MODEL_NOT_FOUND');
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const cfg = fs.existsSync(cfgFile) ? readJson(cfgFile) : {};
    return Tokenizer.fromVocab(fs.readFileSync(vocab, 'utf8'), cfg, options);
  }

  static fromJSON(j: Record<string, unknown>, options: TokenizerOptions = {}): Tokenizer {
    try {
      return Tokenizer.parse(j, options);
    } catch (e) {
      if (e instanceof BertrtError) throw e;
      // a shape no check above foresaw: still a typed error, never a TypeError from deep inside
      throw bad(`malformed (${(e as Error).message})`);
    }
  }

  private static parse(j: Record<string, unknown>, options: TokenizerOptions): Tokenizer {
    if (!isObject(j)) throw bad('not a JSON object');
    const m = j.model;
    if (!isObject(m) || m.type !== 'WordPiece') {
      throw new BertrtError(`tokenizer.json: model type "${String(isObject(m) ? m.type : m)}" is not supported (WordPiece only)`, 'E_UNSUPPORTED');
    }
    if (!isObject(m.vocab)) throw bad('model.vocab must be an object of token: id');
    const vocab = new Map<string, number>();
    for (const [token, id] of Object.entries(m.vocab)) {
      if (!isId(id)) throw bad(`model.vocab: token ${JSON.stringify(token).slice(0, 80)} has id ${JSON.stringify(id)}, not an integer in [0, ${MAX_ID})`);
      vocab.set(token, id);
    }
    const str = (v: unknown, field: string, d: string) => {
      if (v === undefined || v === null) return d;
      if (typeof v !== 'string') throw bad(`${field} must be a string`);
      return v;
    };
    const maxChars = m.max_input_chars_per_word ?? 100;
    if (!Number.isSafeInteger(maxChars) || (maxChars as number) < 1) throw bad('model.max_input_chars_per_word must be a positive integer');
    const wp = new WordPiece(vocab, {
      unkToken: str(m.unk_token, 'model.unk_token', '[UNK]'),
      continuingSubwordPrefix: str(m.continuing_subword_prefix, 'model.continuing_subword_prefix', '##'),
      maxInputCharsPerWord: maxChars as number,
    });
    if (j.added_tokens !== undefined && j.added_tokens !== null && !Array.isArray(j.added_tokens)) throw bad('added_tokens must be a list');
    const added = ((j.added_tokens as unknown[]) ?? []).map((t, i) => {
      if (!isObject(t) || !isId(t.id) || typeof t.content !== 'string' || t.content === '') throw bad(`added_tokens[${i}] needs an integer "id" and a non-empty "content"`);
      if (t.normalized === true && t.special !== true) {
        throw new BertrtError(`tokenizer.json: normalized added token "${t.content}" is not supported`, 'E_UNSUPPORTED');
      }
      return { id: t.id, content: t.content, special: t.special === true };
    });
    const pp = j.post_processor;
    if (pp !== undefined && pp !== null && !isObject(pp)) throw bad('post_processor must be an object');
    const template = pp
      ? parseTemplate(pp)
      : { single: [{ sequence: 0 as const, typeId: 0 }], pair: [{ sequence: 0 as const, typeId: 0 }, { sequence: 1 as const, typeId: 1 }], specialIds: new Map() };
    for (const k of ['normalizer', 'pre_tokenizer', 'decoder', 'padding'] as const) {
      if (j[k] !== undefined && j[k] !== null && !isObject(j[k])) throw bad(`${k} must be an object`);
    }
    const dec = (j.decoder as Record<string, unknown> | null) ?? { prefix: '##', cleanup: true };
    const pad = j.padding as { pad_token?: string; pad_id?: number } | null;
    const tok = new Tokenizer(
      wp,
      normalizerFromJson(j.normalizer as Record<string, unknown> | null),
      preTokenizerFromJson(j.pre_tokenizer as Record<string, unknown> | null),
      template,
      added,
      str(dec.prefix, 'decoder.prefix', '##'),
      dec.cleanup !== false,
      pad && typeof pad.pad_token === 'string' && isId(pad.pad_id) ? { token: pad.pad_token, id: pad.pad_id } : null,
      options,
    );
    // every id the tokenizer can emit must name a token it knows (checked against the model when one loads)
    for (const [name, id] of template.specialIds) {
      if (tok.idToToken(id) === undefined) throw bad(`post_processor: special token "${name}" has id ${id}, which neither the vocabulary nor added_tokens has`);
    }
    return tok;
  }

  /** The classic BERT files: one token per line in vocab.txt, options from tokenizer_config.json. */
  static fromVocab(vocabText: string, cfg: Record<string, unknown>, options: TokenizerOptions = {}): Tokenizer {
    const lines = vocabText.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    const vocab = new Map<string, number>();
    lines.forEach((l, i) => vocab.set(l.replace(/\r$/, ''), i));
    const tok = (k: string, d: string) => {
      const v = cfg[k];
      // tokenizer_config.json may hold a token as a string or as an AddedToken object { content, ... }
      if (v && typeof v === 'object' && 'content' in v) return String((v as { content: unknown }).content);
      return typeof v === 'string' ? v : d;
    };
    const unk = tok('unk_token', '[UNK]');
    const cls = tok('cls_token', '[CLS]');
    const sep = tok('sep_token', '[SEP]');
    const specials = [tok('pad_token', '[PAD]'), unk, cls, sep, tok('mask_token', '[MASK]')];
    const added = specials.filter((s) => vocab.has(s)).map((s) => ({ id: vocab.get(s)!, content: s, special: true }));
    const lower = cfg.do_lower_case !== false;
    const normalizer = new BertNormalizer({
      cleanText: true,
      handleChineseChars: cfg.tokenize_chinese_chars !== false,
      stripAccents: typeof cfg.strip_accents === 'boolean' ? cfg.strip_accents : null,
      lowercase: lower,
    });
    for (const t of [unk, cls, sep]) if (!vocab.has(t)) throw new BertrtError(`vocab.txt has no ${JSON.stringify(t)} token`, 'E_MODEL_FORMAT');
    const template = parseTemplate({ type: 'BertProcessing', sep: [sep, vocab.get(sep)], cls: [cls, vocab.get(cls)] });
    const wp = new WordPiece(vocab, { unkToken: unk, continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
    return new Tokenizer(wp, normalizer, new BertPreTokenizer(), template, added, '##', true, null, options);
  }

  get vocabSize(): number {
    return this.model.size;
  }

  /** The token string of an id: the vocabulary's, else an added token's. */
  idToToken(id: number): string | undefined {
    return this.model.idToTokenString(id) ?? this.addedById.get(id);
  }

  /** The largest id an encoding can hold (vocabulary, added tokens, template and padding): a model that runs
   *  this tokenizer needs at least maxId + 1 embedding rows. */
  get maxId(): number {
    let m = this.model.size - 1;
    for (const t of this.addedTokens) m = Math.max(m, t.id);
    for (const id of this.template.specialIds.values()) m = Math.max(m, id);
    return Math.max(m, this.padId);
  }

  tokenToId(token: string): number | undefined {
    return this.model.tokenToId(token);
  }

  /** Number of special tokens the template adds around one text (pair=false) or two. */
  numSpecialTokens(pair: boolean): number {
    return (pair ? this.template.pair : this.template.single).filter((p) => 'special' in p).length;
  }

  /** Tokens of one text; with `limit`, stops once that many tokens exist (at the next word boundary). A
   *  generator: it yields after each slice of about SLICE_UNITS characters, cut where the text's own word
   *  boundaries are, so a caller can give the event loop a turn between slices (encodeAsync) and the result is
   *  the same as in one go. */
  private *tokenizeSteps(text: string, limit = Infinity): Generator<void, WordTokens> {
    const st: TokenizeState = { out: { tokens: [], wordIds: [] }, word: 0, since: 0 };
    const out = st.out;
    const matches = this.addedRegex ? text.matchAll(this.addedRegex) : null;
    // Plain text between the added tokens; on the single pass in slices cut at whitespace, where it closes every
    // word, so the slices add up to the whole. One generator per text and plain calls per slice: a short text
    // pays for no machinery it does not use.
    for (let last = 0; ; ) {
      const m = matches?.next();
      const end = m && !m.done ? m.value.index : text.length;
      if (this.fast) {
        for (let b = last; b < end && out.tokens.length < limit; ) {
          let e = Math.min(end, b + SLICE_UNITS - st.since);
          while (e < end && !isBoundary(text.charCodeAt(e))) e++;
          // The single pass normalizes one code point at a time; where accents are stripped, two marks in a row
          // may be reordered by NFD, whose alignment is positional over the cluster: such a slice is composed.
          const marks = this.fastStripsAccents && MARK_PAIR.test(b === 0 && e === text.length ? text : text.slice(b, e));
          if (marks) {
            Tokenizer.drive(this.composedSteps(text, b, e, st, limit)); // counts its own characters
          } else {
            st.word = this.fast.run(text, b, e, out.tokens, out.wordIds, st.word, limit);
            st.since += e - b;
          }
          b = e;
          if (st.since >= SLICE_UNITS) {
            st.since = 0;
            yield;
          }
        }
      } else if (end > last) {
        yield* this.composedSteps(text, last, end, st, limit);
      }
      if (!m || m.done || out.tokens.length >= limit) return out;
      const t = this.addedByContent.get(m.value[0])!;
      out.tokens.push({ id: t.id, start: m.value.index, end: m.value.index + m.value[0].length });
      out.wordIds.push(st.word++);
      last = m.value.index + m.value[0].length;
    }
  }

  /** The composed path over text[begin, end): normalizer, pre-tokenizer, model, yielding between words once
   *  SLICE_UNITS characters have gone by. */
  private *composedSteps(text: string, begin: number, end: number, st: TokenizeState, limit: number): Generator<void> {
    let a = alignedFrom(text.slice(begin, end));
    if (begin > 0) {
      a.starts = a.starts.map((s) => s + begin);
      a.ends = a.ends.map((e) => e + begin);
    }
    if (this.normalizer) a = this.normalizer.normalize(a);
    for (const w of this.preTokenizer.split(a)) {
      if (st.out.tokens.length >= limit) break;
      const before = st.out.tokens.length;
      this.model.tokenize(w, st.out.tokens);
      for (let i = before; i < st.out.tokens.length; i++) st.out.wordIds.push(st.word);
      st.word++;
      st.since += w.chars.length;
      if (st.since >= SLICE_UNITS) {
        st.since = 0;
        yield;
      }
    }
  }

  /** With `tail`, the tokens of just enough of the first text's end. */
  private *tailSteps(plan: EncodePlan): Generator<void, WordTokens> {
    const text = plan.text;
    // Suffixes cut at whitespace, growing fourfold until they hold `tail` tokens or are the whole text. The single
    // pass ends a word at every whitespace character, so a suffix's tokens are the text's last tokens exactly.
    for (let units = Math.max(1024, plan.tail * 16); ; units *= 4) {
      let start = Math.max(0, text.length - units);
      while (start > 0 && !isBoundary(text.charCodeAt(start))) start--;
      const w = yield* this.tokenizeSteps(start > 0 ? text.slice(start) : text);
      if (start === 0) return w;
      if (w.tokens.length >= plan.tail) {
        for (const t of w.tokens) {
          t.start += start;
          t.end += start;
        }
        return w;
      }
    }
  }

  private static drive<T>(g: Generator<void, T>): T {
    for (;;) {
      const r = g.next();
      if (r.done) return r.value;
    }
  }

  private static async driveAsync<T>(g: Generator<void, T>): Promise<T> {
    for (;;) {
      const r = g.next();
      if (r.done) return r.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private tokenizeText(text: string, limit = Infinity): WordTokens {
    return Tokenizer.drive(this.tokenizeSteps(text, limit));
  }

  /** Tokenizes `text` (and `pair`) and builds the encoding as HF does; see EncodeOptions. */
  encode(text: string, pair?: string | null, options: EncodeOptions = {}): Encoding {
    const plan = this.plan(text, pair, options);
    const a = Tokenizer.drive(plan.tail ? this.tailSteps(plan) : this.tokenizeSteps(plan.text, plan.limit));
    const b = plan.pair !== null ? this.tokenizeText(plan.pair, plan.stopAfter) : null;
    return this.finish(plan, a, b, options);
  }

  /** encode() that gives the event loop a turn after every slice of about 2,048 characters: a long text never
   *  holds it for more than one slice. Same result as encode(). */
  async encodeAsync(text: string, pair?: string | null, options: EncodeOptions = {}): Promise<Encoding> {
    const plan = this.plan(text, pair, options);
    const a = await Tokenizer.driveAsync(plan.tail ? this.tailSteps(plan) : this.tokenizeSteps(plan.text, plan.limit));
    const b = plan.pair !== null ? await Tokenizer.driveAsync(this.tokenizeSteps(plan.pair, plan.stopAfter)) : null;
    return this.finish(plan, a, b, options);
  }

  private plan(text: string, pair: string | null | undefined, options: EncodeOptions): EncodePlan {
    if (typeof text !== 'string') throw invalidArgument(`encode: text must be a string, got ${typeof text}`);
    if (pair !== undefined && pair !== null && typeof pair !== 'string') {
      throw invalidArgument(`encode: pair must be a string, got ${typeof pair}`);
    }
    const hasPair = typeof pair === 'string';
    const t = options.truncation ?? (options.maxLength !== undefined ? { maxLength: options.maxLength } : null);
    const stopAfter = options.stopAfter ?? Infinity;
    if (stopAfter !== Infinity && (!Number.isInteger(stopAfter) || stopAfter < 1)) throw invalidArgument('encode: stopAfter must be a positive integer');
    // Without overflow windows, a single text cut from the right needs only its first maxLength tokens.
    const early = t && !hasPair && options.returnOverflowing === false && (t.direction ?? 'right') === 'right' ? t.maxLength + 1 : Infinity;
    // Ill-formed UTF-16 (a lone surrogate) is read as U+FFFD, the replacement character, which is what HF's
    // bindings receive for such a string; the offsets do not move (both are one code unit).
    // Cut from the left, with no overflow windows and `fromEnd`: only the text's end needs tokenizing, which is
    // exact where whitespace always ends a word (the single pass, with no added token holding whitespace).
    const tail =
      options.fromEnd === true && t && !hasPair && options.returnOverflowing === false && t.direction === 'left' && this.fast !== null && this.tailSafe
        ? t.maxLength + 1
        : 0;
    return {
      text: wellFormed(text),
      pair: hasPair ? wellFormed(pair) : null,
      truncation: t,
      limit: Math.min(early, stopAfter),
      stopAfter,
      tail,
    };
  }

  private finish(plan: EncodePlan, a: WordTokens, b: WordTokens | null, options: EncodeOptions): Encoding {
    const { text, pair, truncation: t } = plan;
    const addSpecial = options.addSpecialTokens !== false;
    const hasPair = pair !== null;
    let parts: [Window[], Window[] | null] = [[whole(a)], b ? [whole(b)] : null];
    if (t) parts = this.truncate(a, b, t, addSpecial, options.returnOverflowing !== false);
    const unit = options.offsets ?? 'utf16';
    if (unit !== 'utf16' && unit !== 'codepoint') throw invalidArgument(`encode: offsets must be 'utf16' or 'codepoint'`);
    const conv = unit === 'codepoint' ? [codePointIndex(text), hasPair ? codePointIndex(pair) : null] : [null, null];
    const build = (wa: Window, wb: Window | null) => this.assemble(wa, wb, addSpecial, conv[0], conv[1]);
    // Overflowing windows combine as HF's Encoding::merge_with does: each first-sequence window with the second
    // sequence and its windows, then the first sequence with the second's windows.
    const [wa, wb] = parts;
    const main = build(wa[0], wb ? wb[0] : null);
    if (options.returnOverflowing === false) return main;
    for (const ao of wa.slice(1)) {
      main.overflowing.push(build(ao, wb ? wb[0] : null));
      if (wb) for (const bo of wb.slice(1)) main.overflowing.push(build(ao, bo));
    }
    if (wb) for (const bo of wb.slice(1)) main.overflowing.push(build(wa[0], bo));
    return main;
  }

  /** Encodes many texts (or [text, pair] tuples); with `padding`, pads them to one length for a dense batch. */
  encodeBatch(inputs: Array<string | [string, string]>, options: EncodeOptions & { padding?: PaddingOptions } = {}): Encoding[] {
    if (!Array.isArray(inputs)) throw invalidArgument('encodeBatch: inputs must be an array');
    const out = inputs.map((x) => (Array.isArray(x) ? this.encode(x[0], x[1], options) : this.encode(x, null, options)));
    if (options.padding) this.pad(out, options.padding);
    return out;
  }

  /** Pads encodings in place with the pad token (attention mask 0, special-tokens mask 1, offsets [0, 0]). */
  pad(encodings: Encoding[], options: PaddingOptions = {}): void {
    if (!Array.isArray(encodings)) throw invalidArgument('pad: encodings must be an array');
    if (typeof options !== 'object' || options === null) throw invalidArgument('padding must be an object');
    // bounded by what a caller can mean: a padded length past MAX_PAD_LENGTH is a mistake, not a batch, and
    // would otherwise make V8 abort the process for want of memory
    if (options.length !== undefined && (!Number.isInteger(options.length) || options.length < 0 || options.length > MAX_PAD_LENGTH)) {
      throw invalidArgument(`padding.length must be an integer in [0, ${MAX_PAD_LENGTH}]`);
    }
    if (options.direction !== undefined && options.direction !== 'right' && options.direction !== 'left') throw invalidArgument(`padding.direction must be 'right' or 'left'`);
    let len = options.length ?? encodings.reduce((a, e) => Math.max(a, e.ids.length), 0);
    const m = options.padToMultipleOf;
    if (m !== undefined) {
      if (!Number.isInteger(m) || m <= 0 || m > MAX_PAD_LENGTH) throw invalidArgument(`padToMultipleOf must be an integer in [1, ${MAX_PAD_LENGTH}]`);
      len = Math.ceil(len / m) * m;
    }
    if (len * encodings.length > MAX_PADDED_TOKENS) {
      throw invalidArgument(`padding ${encodings.length} encodings to ${len} tokens makes ${len * encodings.length} tokens, more than ${MAX_PADDED_TOKENS}`);
    }
    const left = options.direction === 'left';
    for (const e of encodings) {
      const n = len - e.ids.length;
      if (n <= 0) continue;
      const padI32 = (arr: Int32Array, v: number) => {
        const r = new Int32Array(len).fill(v);
        r.set(arr, left ? n : 0);
        return r;
      };
      e.ids = padI32(e.ids, this.padId);
      e.typeIds = padI32(e.typeIds, 0);
      e.attentionMask = padI32(e.attentionMask, 0);
      e.specialTokensMask = padI32(e.specialTokensMask, 1);
      const fill = <T>(arr: T[], v: T): T[] => (left ? [...Array<T>(n).fill(v), ...arr] : [...arr, ...Array<T>(n).fill(v)]);
      e.offsets = fill(e.offsets, [0, 0] as [number, number]);
      e.wordIds = fill(e.wordIds, null);
      e.sequenceIds = fill(e.sequenceIds, null);
      e.tokens = fill(e.tokens, this.padToken);
    }
  }

  private get padToken(): string {
    return this.padding?.token ?? '[PAD]';
  }

  private get padId(): number {
    return this.padding?.id ?? this.model.tokenToId(this.padToken) ?? 0;
  }

  // HF's truncate_encodings: the token budget (max length less the special tokens) split between the sequences,
  // each cut into its kept window plus overflowing windows.
  private truncate(a: WordTokens, b: WordTokens | null, t: TruncationOptions, addSpecial: boolean, overflow = true): [Window[], Window[] | null] {
    const stride = t.stride ?? 0;
    const strategy = t.strategy ?? 'longest_first';
    const dir = t.direction ?? 'right';
    if (!Number.isInteger(t.maxLength) || t.maxLength < 0) throw invalidArgument('truncation: maxLength must be a non-negative integer');
    if (!Number.isInteger(stride) || stride < 0) throw invalidArgument('truncation: stride must be a non-negative integer');
    if (!['longest_first', 'only_first', 'only_second'].includes(strategy)) throw invalidArgument(`truncation: unknown strategy "${strategy}"`);
    if (dir !== 'right' && dir !== 'left') throw invalidArgument(`truncation: direction must be 'right' or 'left'`);
    const special = addSpecial ? this.numSpecialTokens(b !== null) : 0;
    if (t.maxLength < special) throw invalidArgument(`truncation: maxLength ${t.maxLength} leaves no room for the ${special} special tokens`);
    const max = t.maxLength - special;
    const n1 = a.tokens.length;
    const n2 = b ? b.tokens.length : 0;
    const cut = (w: WordTokens, keep: number) => windows(w, keep, stride, dir, overflow);
    if (n1 + n2 <= max) return [[whole(a)], b ? [whole(b)] : null];
    if (strategy === 'longest_first') {
      if (!b) return [cut(a, max), null];
      let [s, l] = n1 <= n2 ? [n1, n2] : [n2, n1];
      if (s > max) l = s;
      else l = Math.max(s, max - s);
      if (s + l > max) {
        s = Math.floor(max / 2);
        l = s + (max % 2);
      }
      const [k1, k2] = n1 <= n2 ? [s, l] : [l, s];
      return [cut(a, k1), cut(b, k2)];
    }
    const target = strategy === 'only_first' ? a : b;
    if (!target) throw invalidArgument('truncation: only_second needs a pair');
    const remove = n1 + n2 - max;
    if (target.tokens.length <= remove) {
      throw invalidArgument(`truncation: the ${strategy === 'only_first' ? 'first' : 'second'} sequence is too short to remove ${remove} tokens (${strategy})`);
    }
    const keep = target.tokens.length - remove;
    return strategy === 'only_first' ? [cut(a, keep), b ? [whole(b)] : null] : [[whole(a)], cut(b!, keep)];
  }

  private assemble(wa: Window, wb: Window | null, addSpecial: boolean, cpa: Int32Array | null, cpb: Int32Array | null): Encoding {
    const layout: TemplatePiece[] = addSpecial
      ? wb
        ? this.template.pair
        : this.template.single
      : wb
        ? [{ sequence: 0, typeId: 0 }, { sequence: 1, typeId: 1 }]
        : [{ sequence: 0, typeId: 0 }];
    const seqs = [wa, wb];
    const conv = [cpa, cpb];
    let n = 0;
    for (const p of layout) n += 'special' in p ? 1 : seqs[p.sequence]!.tokens.length;
    const e: Encoding = {
      ids: new Int32Array(n),
      typeIds: new Int32Array(n),
      attentionMask: new Int32Array(n).fill(1),
      specialTokensMask: new Int32Array(n),
      offsets: new Array<[number, number]>(n),
      wordIds: new Array<number | null>(n),
      sequenceIds: new Array<number | null>(n),
      tokens: new Array<string>(n),
      overflowing: [],
    };
    let k = 0;
    for (const p of layout) {
      if ('special' in p) {
        const id = this.template.specialIds.get(p.special);
        if (id === undefined) throw new BertrtError(`special token ${p.special} has no id`, 'E_MODEL_FORMAT');
        e.ids[k] = id;
        e.typeIds[k] = p.typeId;
        e.specialTokensMask[k] = 1;
        e.offsets[k] = [0, 0];
        e.wordIds[k] = null;
        e.sequenceIds[k] = null;
        e.tokens[k] = p.special;
        k++;
        continue;
      }
      const s = seqs[p.sequence]!;
      const cp = conv[p.sequence];
      for (let i = 0; i < s.tokens.length; i++, k++) {
        const t = s.tokens[i];
        e.ids[k] = t.id;
        e.typeIds[k] = p.typeId;
        e.offsets[k] = cp ? [cp[t.start], cp[t.end]] : [t.start, t.end];
        e.wordIds[k] = s.wordIds[i];
        e.sequenceIds[k] = p.sequence;
        e.tokens[k] = this.idToToken(t.id) ?? '';
      }
    }
    return e;
  }

  /** The WordPiece decoder: continuation pieces glued to the previous token, others after a space, and HF's
   *  cleanup (no space before . , ! ? and English contractions) applied token by token as HF applies it. */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const skip = options.skipSpecialTokens !== false;
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skip && this.specialIdSet.has(id)) continue;
      const t = this.model.idToTokenString(id);
      if (t === undefined) throw invalidArgument(`decode: id ${id} is not in the vocabulary`);
      tokens.push(t);
    }
    return this.decodeTokens(tokens);
  }

  /** The decoder over token strings (HF's convert_tokens_to_string). */
  decodeTokens(tokens: string[]): string {
    let out = '';
    tokens.forEach((t, i) => {
      const piece = i === 0 ? t : t.startsWith(this.decoderPrefix) ? t.slice(this.decoderPrefix.length) : ' ' + t;
      out += this.cleanup ? cleanupSpaces(piece) : piece;
    });
    return out;
  }
}

interface Window {
  tokens: Token[];
  wordIds: number[];
}

function whole(w: WordTokens): Window {
  return { tokens: w.tokens, wordIds: w.wordIds };
}

/** HF's Encoding::truncate: the kept window of `keep` tokens, then the overflowing windows, stepping by
 *  keep - stride, from the right end (direction 'right' keeps the start) or from the left. */
function windows(w: WordTokens, keep: number, stride: number, dir: 'right' | 'left', overflow = true): Window[] {
  const n = w.tokens.length;
  if (keep >= n) return [whole(w)];
  if (keep === 0) return [{ tokens: [], wordIds: [] }, whole(w)];
  if (stride >= keep) throw invalidArgument(`truncation: stride ${stride} must be smaller than the ${keep} tokens kept per window`);
  if (!overflow) {
    // only the kept window is wanted (returnOverflowing false): no slices of the rest
    const [s, e] = dir === 'right' ? [0, keep] : [n - keep, n];
    return [{ tokens: w.tokens.slice(s, e), wordIds: w.wordIds.slice(s, e) }];
  }
  const step = keep - stride;
  // bounded before any window is sliced: a stride close to the kept length over a long text makes one window per
  // token, each `keep` long
  const count = 1 + Math.ceil((n - keep) / step);
  if (count > MAX_WINDOWS || count * keep > MAX_WINDOW_TOKENS) {
    throw new BertrtError(`truncation: ${n} tokens in windows of ${keep} with stride ${stride} make ${count} windows (${count * keep} tokens), more than ${MAX_WINDOWS} windows or ${MAX_WINDOW_TOKENS} tokens`, 'E_INPUT_TOO_LONG');
  }
  const ranges: Array<[number, number]> = [];
  if (dir === 'right') {
    for (let start = 0; start < n; start += step) {
      const stop = Math.min(start + keep, n);
      ranges.push([start, stop]);
      if (stop === n) break;
    }
  } else {
    for (let last = n - 1; last >= 0; last -= step) {
      const stop = last + 1;
      const start = Math.max(0, stop - keep);
      ranges.push([start, stop]);
      if (start === 0) break;
    }
  }
  return ranges.map(([s, e]) => ({ tokens: w.tokens.slice(s, e), wordIds: w.wordIds.slice(s, e) }));
}

/** UTF-16 index -> code point index, for one string (length + 1 entries). */
function codePointIndex(s: string): Int32Array {
  const m = new Int32Array(s.length + 1);
  let cp = 0;
  for (let i = 0; i < s.length; i++) {
    m[i] = cp;
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        m[++i] = cp;
      }
    }
    cp++;
  }
  m[s.length] = cp;
  return m;
}

/** The WordPiece decoder's cleanup: no space before punctuation and English contractions. */
function cleanupSpaces(s: string): string {
  return s
    .replace(/ \./g, '.')
    .replace(/ \?/g, '?')
    .replace(/ !/g, '!')
    .replace(/ ,/g, ',')
    .replace(/ ' /g, "'")
    .replace(/ n't/g, "n't")
    .replace(/ 'm/g, "'m")
    .replace(/ do not/g, " don't")
    .replace(/ 's/g, "'s")
    .replace(/ 've/g, "'ve")
    .replace(/ 're/g, "'re");
}
