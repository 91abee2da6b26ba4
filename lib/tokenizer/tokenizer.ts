// The tokenizer: added tokens split out of the raw text, then normalizer → pre-tokenizer → model (WordPiece, BPE,
// Unigram, WordLevel) → post-processor, as tokenizer.json composes them; a decoder back to text. Loads
// tokenizer.json, or the legacy files: vocab.txt (+ tokenizer_config.json), vocab.json + merges.txt.
import { type ModelSource, resolveModel } from '../model/resolve';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, invalidArgument } from '../errors';
import { readJson } from '../model/config';
import { type AddedMatch, AddedMatcher, type AddedToken } from './added';
import { type Aligned, alignedFrom, charIndexOfUnits, prepend, slice } from './aligned';
import { type Decoder, ByteLevelDecoder, decoderFromJson, WordPieceDecoder } from './decoder';
import { BYTE_SPACE } from './bytelevel';
import { FastBert } from './fast-bert';
import { CACHE_LIMIT, CACHEABLE, type Token, type TokenModel } from './model';
import { BertNormalizer, type Normalizer, normalizerFromJson, toByteLevel } from './normalizer';
import { type PostProcessor, plainProcessor, postProcessorFromJson, type TemplatePiece } from './postprocessor';
import { BertPreTokenizer, ByteLevelPreTokenizer, Metaspace, type PreTokenizer, preTokenizerFromJson } from './pretokenizer';
import { modelFromJson, WordPiece } from './models';
import { isGpt2Space } from './unicode';

export type { AddedToken } from './added';

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

/** A token named in tokenizer_config.json: a string, or an AddedToken object { content, ... }. */
function configToken(cfg: Record<string, unknown>) {
  return (k: string, d: string): string => {
    const v = cfg[k];
    if (v && typeof v === 'object' && 'content' in v) return String((v as { content: unknown }).content);
    return typeof v === 'string' ? v : d;
  };
}

function specialToken(id: number, content: string): AddedToken {
  return { id, content, special: true, normalized: false, lstrip: false, rstrip: false, singleWord: false };
}

export class Tokenizer {
  /** non-normalized added tokens, found in the raw text; normalized ones, found in each normalized piece */
  private readonly rawAdded: AddedMatcher;
  private readonly normAdded: AddedMatcher;
  private readonly addedById: Map<number, AddedToken>;
  private readonly addedByContent: Map<string, AddedToken>;
  private readonly specialContents: Set<string>;
  private readonly specialIdSet: Set<number>;
  /** the single-pass path, when the normalizer and pre-tokenizer are BERT's own (see fast-bert.ts) */
  private readonly fast: FastBert | null;
  private readonly fastStripsAccents: boolean;
  /** Byte-level BPE with no normalizer (RoBERTa's pipeline): the tokens of each GPT-2 span of the original text,
   *  by the span's text, with offsets relative to it. A span's tokens and their offsets depend on its text alone
   *  there, so a repeated word costs one lookup instead of the aligned slices and the byte-level mapping. */
  private readonly spanCache: Map<string, Int32Array> | null;
  /** Metaspace (split) before a model with string triples (XLM-R's pipeline): each word's key is built straight
   *  from the normalized chars and its tokens mapped back by char index, with no aligned slice per word. */
  private readonly metaspace: Metaspace | null;
  /** no added token holds whitespace, so a cut at whitespace never splits one (see EncodeOptions.fromEnd) */
  private readonly tailSafe: boolean;

  private constructor(
    readonly model: TokenModel,
    private readonly normalizer: Normalizer | null,
    private readonly preTokenizer: PreTokenizer,
    private readonly post: PostProcessor,
    readonly addedTokens: AddedToken[],
    private readonly decoder: Decoder | null,
    private readonly padding: { token: string; id: number } | null = null,
    options: TokenizerOptions = {},
  ) {
    this.addedById = new Map(addedTokens.map((t) => [t.id, t]));
    this.addedByContent = new Map(addedTokens.map((t) => [t.content, t]));
    this.rawAdded = new AddedMatcher(addedTokens.filter((t) => !t.normalized).map((t) => ({ pattern: t.content, token: t })));
    // a normalized token is matched as the normalizer spells it (HF's normalized_cache)
    this.normAdded = new AddedMatcher(
      addedTokens.filter((t) => t.normalized).map((t) => ({ pattern: normalizer ? normalizer.normalize(alignedFrom(t.content)).chars.join('') : t.content, token: t })),
    );
    this.specialContents = new Set(addedTokens.filter((t) => t.special).map((t) => t.content));
    this.specialIdSet = new Set(addedTokens.filter((t) => t.special).map((t) => t.id));
    for (const sp of post.specials.values()) for (const id of sp.ids) this.specialIdSet.add(id);
    const spaced = (t: AddedToken) => /\s/u.test(t.content) || t.lstrip || t.rstrip;
    this.fast =
      options.singlePass !== false &&
      model instanceof WordPiece &&
      normalizer instanceof BertNormalizer &&
      normalizer.options.cleanText &&
      preTokenizer instanceof BertPreTokenizer &&
      !addedTokens.some((t) => t.normalized && spaced(t))
        ? new FastBert(normalizer.options, model)
        : null;
    this.spanCache = options.singlePass !== false && normalizer === null && preTokenizer instanceof ByteLevelPreTokenizer && preTokenizer.useRegex ? new Map() : null;
    this.metaspace =
      options.singlePass !== false && preTokenizer instanceof Metaspace && preTokenizer.splitWords && preTokenizer.replacement.length === 1 && model.triples ? preTokenizer : null;
    this.fastStripsAccents = normalizer instanceof BertNormalizer && (normalizer.options.stripAccents ?? normalizer.options.lowercase);
    this.tailSafe = addedTokens.every((t) => ![...t.content].some((c) => isBoundary(c.charCodeAt(0))) && !t.lstrip && !t.rstrip);
  }

  /** tokenizer.json if the directory has one; else the legacy files: vocab.txt (BERT's WordPiece, options from
   *  tokenizer_config.json) or vocab.json + merges.txt (RoBERTa's byte-level BPE). A SentencePiece .model alone is
   *  refused with the conversion to run. */
  /** The tokenizer of a model directory, a Hub id (only its tokenizer files are fetched) or, with no name, of the
   *  embedded model: transformers' AutoTokenizer.from_pretrained. */
  static async fromPretrained(model?: string, options: TokenizerOptions & ModelSource = {}): Promise<Tokenizer> {
    const { revision, hub, ...rest } = options;
    return Tokenizer.fromDir(await resolveModel(model, { revision, hub }, 'tokenizer'), rest);
  }

  static fromDir(dir: string, options: TokenizerOptions = {}): Tokenizer {
    const tj = path.join(dir, 'tokenizer.json');
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const cfg = () => (fs.existsSync(cfgFile) ? readJson(cfgFile) : {});
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
    if (fs.existsSync(vocab)) return Tokenizer.fromVocab(fs.readFileSync(vocab, 'utf8'), cfg(), options);
    const vj = path.join(dir, 'vocab.json');
    const merges = path.join(dir, 'merges.txt');
    if (fs.existsSync(vj) && fs.existsSync(merges)) return Tokenizer.fromBpeFiles(readJson(vj), fs.readFileSync(merges, 'utf8'), cfg(), options);
    const spm = ['sentencepiece.bpe.model', 'spiece.model', 'tokenizer.model'].find((f) => fs.existsSync(path.join(dir, f)));
    if (spm) {
      throw new BertrtError(
        `${dir} has a SentencePiece ${spm} but no tokenizer.json; bertrt reads tokenizer.json. Convert it once with Python transformers: AutoTokenizer.from_pretrained(dir).save_pretrained(dir)`,
        'E_UNSUPPORTED',
      );
    }
    throw new BertrtError(`${dir} has no tokenizer.json, vocab.txt or vocab.json + merges.txt`, 'E_MODEL_NOT_FOUND');
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
    const model = modelFromJson(j.model);
    if (j.added_tokens !== undefined && j.added_tokens !== null && !Array.isArray(j.added_tokens)) throw bad('added_tokens must be a list');
    const flag = (t: Record<string, unknown>, k: string, d: boolean, i: number) => {
      const v = t[k] ?? d;
      if (typeof v !== 'boolean') throw bad(`added_tokens[${i}].${k} must be true or false`);
      return v;
    };
    const added = ((j.added_tokens as unknown[]) ?? []).map((t, i): AddedToken => {
      if (!isObject(t) || !isId(t.id) || typeof t.content !== 'string' || t.content === '') throw bad(`added_tokens[${i}] needs an integer "id" and a non-empty "content"`);
      const special = flag(t, 'special', false, i);
      return {
        id: t.id,
        content: t.content,
        special,
        normalized: flag(t, 'normalized', !special, i),
        lstrip: flag(t, 'lstrip', false, i),
        rstrip: flag(t, 'rstrip', false, i),
        singleWord: flag(t, 'single_word', false, i),
      };
    });
    for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'padding'] as const) {
      if (j[k] !== undefined && j[k] !== null && !isObject(j[k])) throw bad(`${k} must be an object`);
    }
    const pp = j.post_processor as Record<string, unknown> | null | undefined;
    const post = pp ? postProcessorFromJson(pp) : plainProcessor();
    const dec = j.decoder as Record<string, unknown> | null | undefined;
    const pad = j.padding as { pad_token?: string; pad_id?: number } | null;
    const tok = new Tokenizer(
      model,
      normalizerFromJson((j.normalizer as Record<string, unknown> | null) ?? null),
      preTokenizerFromJson((j.pre_tokenizer as Record<string, unknown> | null) ?? null),
      post,
      added,
      dec ? decoderFromJson(dec) : null,
      pad && typeof pad.pad_token === 'string' && isId(pad.pad_id) ? { token: pad.pad_token, id: pad.pad_id } : null,
      options,
    );
    // every id the tokenizer can emit must name a token it knows (checked against the model when one loads)
    for (const [name, sp] of post.specials) {
      for (const id of sp.ids) if (tok.idToToken(id) === undefined) throw bad(`post_processor: special token "${name}" has id ${id}, which neither the vocabulary nor added_tokens has`);
    }
    return tok;
  }

  /** The classic BERT files: one token per line in vocab.txt, options from tokenizer_config.json. */
  static fromVocab(vocabText: string, cfg: Record<string, unknown>, options: TokenizerOptions = {}): Tokenizer {
    const lines = vocabText.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    const vocab = new Map<string, number>();
    lines.forEach((l, i) => vocab.set(l.replace(/\r$/, ''), i));
    const tok = configToken(cfg);
    const unk = tok('unk_token', '[UNK]');
    const cls = tok('cls_token', '[CLS]');
    const sep = tok('sep_token', '[SEP]');
    const specials = [tok('pad_token', '[PAD]'), unk, cls, sep, tok('mask_token', '[MASK]')];
    const added = specials.filter((s) => vocab.has(s)).map((s) => specialToken(vocab.get(s)!, s));
    const lower = cfg.do_lower_case !== false;
    const normalizer = new BertNormalizer({
      cleanText: true,
      handleChineseChars: cfg.tokenize_chinese_chars !== false,
      stripAccents: typeof cfg.strip_accents === 'boolean' ? cfg.strip_accents : null,
      lowercase: lower,
    });
    for (const t of [unk, cls, sep]) if (!vocab.has(t)) throw new BertrtError(`vocab.txt has no ${JSON.stringify(t)} token`, 'E_MODEL_FORMAT');
    const post = postProcessorFromJson({ type: 'BertProcessing', sep: [sep, vocab.get(sep)], cls: [cls, vocab.get(cls)] });
    const wp = new WordPiece(vocab, { unkToken: unk, continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
    return new Tokenizer(wp, normalizer, new BertPreTokenizer(), post, added, new WordPieceDecoder('##', true), null, options);
  }

  /** RoBERTa's legacy files: vocab.json (token → id) and merges.txt, byte-level, `<s> A </s></s> B </s>`; what
   *  transformers' RobertaTokenizerFast builds from them (add_prefix_space from tokenizer_config.json). */
  static fromBpeFiles(vocabJson: Record<string, unknown>, mergesText: string, cfg: Record<string, unknown>, options: TokenizerOptions = {}): Tokenizer {
    const merges = mergesText
      .split('\n')
      .map((l) => l.replace(/\r$/, ''))
      .filter((l, i) => l !== '' && !(i === 0 && l.startsWith('#version')));
    const tok = configToken(cfg);
    const bos = tok('bos_token', '<s>');
    const eos = tok('eos_token', '</s>');
    const cls = tok('cls_token', bos);
    const sep = tok('sep_token', eos);
    const prefixSpace = cfg.add_prefix_space === true;
    const model = modelFromJson({ type: 'BPE', vocab: vocabJson, merges, unk_token: null }, 'vocab.json / merges.txt');
    const need = (t: string) => {
      const id = model.tokenToId(t);
      if (id === undefined) throw new BertrtError(`vocab.json has no ${JSON.stringify(t)} token`, 'E_MODEL_FORMAT');
      return id;
    };
    const added = [bos, tok('pad_token', '<pad>'), eos, tok('unk_token', '<unk>'), cls, sep]
      .filter((t, i, all) => all.indexOf(t) === i && model.tokenToId(t) !== undefined)
      .map((t) => specialToken(model.tokenToId(t)!, t));
    const mask = tok('mask_token', '<mask>');
    if (model.tokenToId(mask) !== undefined) added.push({ ...specialToken(model.tokenToId(mask)!, mask), lstrip: true });
    const post = postProcessorFromJson({ type: 'RobertaProcessing', sep: [sep, need(sep)], cls: [cls, need(cls)], trim_offsets: true, add_prefix_space: prefixSpace });
    return new Tokenizer(model, null, new ByteLevelPreTokenizer(prefixSpace, true), post, added, new ByteLevelDecoder(), null, options);
  }

  get vocabSize(): number {
    return this.model.size;
  }

  /** The token string of an id: the vocabulary's, else an added token's. */
  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.model.idToTokenString(id);
  }

  /** The largest id an encoding can hold (vocabulary, added tokens, template and padding): a model that runs
   *  this tokenizer needs at least maxId + 1 embedding rows. */
  get maxId(): number {
    let m = this.model.size - 1;
    for (const t of this.addedTokens) m = Math.max(m, t.id);
    for (const sp of this.post.specials.values()) for (const id of sp.ids) m = Math.max(m, id);
    return Math.max(m, this.padId);
  }

  /** An added token's id, else the vocabulary's (HF's token_to_id). */
  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.model.tokenToId(token);
  }

  /** The special token among the added tokens (and the template's) that looks like `kind`: the mask token
   *  ([MASK], <mask>), unknown, padding, classifier or separator token, or undefined. */
  specialTokenFor(kind: 'mask' | 'unk' | 'pad' | 'cls' | 'sep'): string | undefined {
    const names: Record<typeof kind, string[]> = {
      mask: ['[MASK]', '<mask>'],
      unk: ['[UNK]', '<unk>'],
      pad: ['[PAD]', '<pad>'],
      cls: ['[CLS]', '<s>'],
      sep: ['[SEP]', '</s>'],
    };
    return names[kind].find((n) => this.tokenToId(n) !== undefined);
  }

  /** Number of special tokens the template adds around one text (pair=false) or two. */
  numSpecialTokens(pair: boolean): number {
    let n = 0;
    for (const p of pair ? this.post.pair : this.post.single) if ('special' in p) n += this.post.specials.get(p.special)!.ids.length;
    return n;
  }

  /** Tokens of one text; with `limit`, stops once that many tokens exist (at the next word boundary). A
   *  generator: it yields after each slice of about SLICE_UNITS characters, cut where the text's own word
   *  boundaries are, so a caller can give the event loop a turn between slices (encodeAsync) and the result is
   *  the same as in one go. */
  private *tokenizeSteps(text: string, limit = Infinity): Generator<void, WordTokens> {
    const st: TokenizeState = { out: { tokens: [], wordIds: [] }, word: 0, since: 0 };
    const out = st.out;
    const matches = this.rawAdded.empty ? null : this.rawAdded.matches(text);
    // Plain text between the added tokens; on the single pass in slices cut at whitespace, where it closes every
    // word, so the slices add up to the whole. One generator per text and plain calls per slice: a short text
    // pays for no machinery it does not use.
    for (let last = 0; ; ) {
      const r = matches?.next();
      const m = r && !r.done ? r.value : null;
      const end = m ? m.start : text.length;
      if (this.fast) {
        for (let b = last; b < end && out.tokens.length < limit; ) {
          let e = Math.min(end, b + SLICE_UNITS - st.since);
          while (e < end && !isBoundary(text.charCodeAt(e))) e++;
          // The single pass normalizes one code point at a time; where accents are stripped, two marks in a row
          // may be reordered by NFD, whose alignment is positional over the cluster: such a slice is composed.
          // So is a slice whose normalized text holds a normalized added token.
          const piece = () => (b === 0 && e === text.length ? text : text.slice(b, e));
          const composed = (this.fastStripsAccents && MARK_PAIR.test(piece())) || (!this.normAdded.empty && this.normAdded.test(this.fast.normalizedText(piece())));
          if (composed) {
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
      if (!m || out.tokens.length >= limit) return out;
      out.tokens.push({ id: m.token.id, start: m.start, end: m.end, added: true });
      out.wordIds.push(st.word++);
      last = m.end;
    }
  }

  /** The composed path over text[begin, end): normalizer, the normalized added tokens, pre-tokenizer, model,
   *  yielding between words once SLICE_UNITS characters have gone by. */
  private *composedSteps(text: string, begin: number, end: number, st: TokenizeState, limit: number): Generator<void> {
    let a = alignedFrom(text.slice(begin, end), begin);
    if (this.normalizer) a = this.normalizer.normalize(a);
    // HF slices the normalized piece again, so it begins where its first char came from (what Metaspace's
    // prepend_scheme "first" looks at)
    if (a.chars.length) a.origin = a.starts[0];
    for (const piece of this.splitNormalizedAdded(a)) {
      if (st.out.tokens.length >= limit) break;
      if ('token' in piece) {
        st.out.tokens.push({ id: piece.token.id, start: piece.start, end: piece.end, added: true });
        st.out.wordIds.push(st.word++);
        continue;
      }
      if (this.metaspace) {
        yield* this.metaspaceWords(piece, st, limit);
        continue;
      }
      if (this.spanCache && !((this.preTokenizer as ByteLevelPreTokenizer).addPrefixSpace && piece.chars[0] !== ' ')) {
        yield* this.byteLevelSpans(text, piece, st, limit);
        continue;
      }
      for (const w of this.preTokenizer.split(piece)) {
        if (st.out.tokens.length >= limit) break;
        if (w.chars.length === 0) continue;
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
  }

  /** Metaspace's words of a normalized piece through the model's triples: the same tokens as its aligned words
   *  through model.tokenize. A word is split off before every space (or replacement char), which becomes the
   *  replacement; the first word gets the replacement prepended, aligned to its first char, when the scheme says. */
  private *metaspaceWords(a: Aligned, st: TokenizeState, limit: number): Generator<void> {
    const ms = this.metaspace!;
    const rep = ms.replacement;
    const chars = a.chars;
    const n = chars.length;
    if (n === 0) return;
    const out = st.out;
    const model = this.model;
    const isRep = (c: string) => c === ' ' || c === rep;
    const prefix = !isRep(chars[0]) && (ms.prependScheme === 'always' || (ms.prependScheme === 'first' && (a.origin ?? 0) === 0));
    for (let b = 0; b < n; ) {
      if (out.tokens.length >= limit) break;
      let e = b + 1;
      while (e < n && !isRep(chars[e])) e++;
      const pre = prefix && b === 0;
      let key = pre ? rep : '';
      let astral = false;
      for (let i = b; i < e; i++) {
        const c = chars[i];
        if (c.length === 2) astral = true;
        key += c === ' ' ? rep : c;
      }
      const before = out.tokens.length;
      if (astral) {
        // UTF-16 units and chars differ: the aligned word, as the pre-tokenizer makes it
        const w: Aligned = { chars: chars.slice(b, e).map((c) => (c === ' ' ? rep : c)), starts: a.starts.slice(b, e), ends: a.ends.slice(b, e), origin: a.starts[b] };
        model.tokenize(pre ? prepend(w, rep) : w, out.tokens);
      } else {
        const p = model.triples!(key);
        // char j of the key is chars[b + j], or chars[b + j - 1] after a prepended replacement (which is the first char's)
        const shift = pre ? 1 : 0;
        for (let i = 0; i < p.length; i += 3) {
          const s0 = Math.max(b, b + p[i + 1] - shift);
          const s1 = Math.max(b, b + p[i + 2] - 1 - shift);
          out.tokens.push({ id: p[i], start: a.starts[s0], end: a.ends[s1] });
        }
      }
      for (let i = before; i < out.tokens.length; i++) out.wordIds.push(st.word);
      st.word++;
      st.since += e - b;
      b = e;
      if (st.since >= SLICE_UNITS) {
        st.since = 0;
        yield;
      }
    }
  }

  /** The words of an un-normalized piece of `text` (its chars are the text's own, one to one) through the span
   *  cache: the same tokens as the pre-tokenizer's words through the model. */
  private *byteLevelSpans(text: string, piece: Aligned, st: TokenizeState, limit: number): Generator<void> {
    const cache = this.spanCache!;
    const out = st.out;
    for (const [b, e] of (this.preTokenizer as ByteLevelPreTokenizer).spans(piece)) {
      if (out.tokens.length >= limit) break;
      if (e <= b) continue;
      const from = piece.starts[b];
      const key = text.slice(from, piece.ends[e - 1]);
      let p = cache.get(key);
      if (!p) {
        const tokens: Token[] = [];
        this.model.tokenize(toByteLevel(slice(piece, b, e)), tokens);
        p = new Int32Array(tokens.length * 3);
        tokens.forEach((t, i) => p!.set([t.id, t.start - from, t.end - from], i * 3));
        if (key.length < CACHEABLE) {
          if (cache.size >= CACHE_LIMIT) cache.clear();
          cache.set(key, p);
        }
      }
      for (let i = 0; i < p.length; i += 3) {
        out.tokens.push({ id: p[i], start: from + p[i + 1], end: from + p[i + 2] });
        out.wordIds.push(st.word);
      }
      st.word++;
      st.since += e - b;
      if (st.since >= SLICE_UNITS) {
        st.since = 0;
        yield;
      }
    }
  }

  /** A normalized piece cut at the normalized added tokens it holds: the pieces between, and the tokens with
   *  their original ranges. */
  private splitNormalizedAdded(a: Aligned): Array<Aligned | AddedMatch> {
    if (this.normAdded.empty || a.chars.length === 0) return [a];
    const s = a.chars.join('');
    const ms = this.normAdded.find(s);
    if (ms.length === 0) return [a];
    const at = charIndexOfUnits(a.chars, s.length);
    const charAt = (u: number) => (at ? at[u] : u);
    const out: Array<Aligned | AddedMatch> = [];
    let last = 0;
    for (const m of ms) {
      const b = charAt(m.start);
      const e = charAt(m.end);
      if (b > last) out.push(slice(a, last, b));
      out.push({ start: a.starts[b], end: a.ends[e - 1], token: m.token });
      last = e;
    }
    if (last < a.chars.length) out.push(slice(a, last, a.chars.length));
    return out;
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
    const build = (wa: Window, wb: Window | null) => this.assemble(wa, wb, addSpecial, conv[0], conv[1], text, pair);
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

  private assemble(wa: Window, wb: Window | null, addSpecial: boolean, cpa: Int32Array | null, cpb: Int32Array | null, ta: string, tb: string | null): Encoding {
    const layout: TemplatePiece[] = addSpecial
      ? wb
        ? this.post.pair
        : this.post.single
      : wb
        ? this.post.pair.filter((x) => 'sequence' in x)
        : this.post.single.filter((x) => 'sequence' in x);
    const seqs = [wa, wb];
    const conv = [cpa, cpb];
    let n = 0;
    for (const p of layout) n += 'special' in p ? this.post.specials.get(p.special)!.ids.length : seqs[p.sequence]!.tokens.length;
    // the four id arrays share one allocation (typed-array buffers are the costly part of a short encoding)
    const ints = new Int32Array(4 * n);
    const e: Encoding = {
      ids: ints.subarray(0, n),
      typeIds: ints.subarray(n, 2 * n),
      attentionMask: ints.subarray(2 * n, 3 * n).fill(1),
      specialTokensMask: ints.subarray(3 * n, 4 * n),
      offsets: new Array<[number, number]>(n),
      wordIds: new Array<number | null>(n),
      sequenceIds: new Array<number | null>(n),
      tokens: new Array<string>(n),
      overflowing: [],
    };
    const trim = this.post.trim;
    let k = 0;
    for (const p of layout) {
      if ('special' in p) {
        const sp = this.post.specials.get(p.special)!;
        for (let x = 0; x < sp.ids.length; x++, k++) {
          e.ids[k] = sp.ids[x];
          e.typeIds[k] = p.typeId;
          e.specialTokensMask[k] = 1;
          e.offsets[k] = [0, 0];
          e.wordIds[k] = null;
          e.sequenceIds[k] = null;
          e.tokens[k] = sp.tokens[x];
        }
        continue;
      }
      const s = seqs[p.sequence]!;
      const cp = conv[p.sequence];
      const src = p.sequence === 0 ? ta : tb!;
      for (let i = 0; i < s.tokens.length; i++, k++) {
        const t = s.tokens[i];
        // an added token is the text it matched (with the whitespace lstrip / rstrip took), as HF's token value
        const token = t.added ? src.slice(t.start, t.end) : (this.model.idToTokenString(t.id) ?? '');
        let start = t.start;
        let end = t.end;
        if (trim) {
          const r = trimOffsets(token, start, end, i === 0, trim.addPrefixSpace);
          if (r !== null) [start, end] = r;
        }
        e.ids[k] = t.id;
        e.typeIds[k] = p.typeId;
        e.offsets[k] = cp ? [cp[start], cp[end]] : [start, end];
        e.wordIds[k] = s.wordIds[i];
        e.sequenceIds[k] = p.sequence;
        e.tokens[k] = token;
      }
    }
    return e;
  }

  /** HF's decode: ids to token strings (an added token's content first, the vocabulary's else; special tokens
   *  left out unless skipSpecialTokens is false), then the decoder, joined. */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const skip = options.skipSpecialTokens !== false;
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const t = this.idToToken(id);
      if (t === undefined) throw invalidArgument(`decode: id ${id} is not in the vocabulary`);
      if (skip && (this.specialContents.has(t) || (this.specialIdSet.has(id) && !this.addedById.has(id)))) continue;
      tokens.push(t);
    }
    return this.decodeTokens(tokens);
  }

  /** The decoder over token strings (HF's convert_tokens_to_string); with no decoder, tokens joined by spaces. */
  decodeTokens(tokens: string[]): string {
    if (!this.decoder) return tokens.join(' ');
    return this.decoder.chain(tokens).join('');
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

/** HF's process_offsets (ByteLevel, RobertaProcessing trim_offsets): the token's leading and trailing spaces
 *  (the byte-level space, or whitespace) leave its offsets; a first token keeps the one space add_prefix_space
 *  put there. */
/** the byte-level space (U+0120) or whitespace: all single UTF-16 units, so tokens are scanned by code unit */
const trimmable = (u: number) => u === BYTE_SPACE_UNIT || isGpt2Space(u);
const BYTE_SPACE_UNIT = BYTE_SPACE.charCodeAt(0);

/** RobertaProcessing's trim_offsets for one token: its range less the spaces at either end, or null when it has
 *  none (most tokens). */
function trimOffsets(token: string, start: number, end: number, first: boolean, addPrefixSpace: boolean): [number, number] | null {
  if (token.length === 0 || (!trimmable(token.charCodeAt(0)) && !trimmable(token.charCodeAt(token.length - 1)))) return null;
  let lead = 0;
  while (lead < token.length && trimmable(token.charCodeAt(lead))) lead++;
  let trail = 0;
  while (trail < token.length && trimmable(token.charCodeAt(token.length - 1 - trail))) trail++;
  if (lead > 0) {
    if ((first || start === 0) && addPrefixSpace && lead === 1) lead = 0;
    start = Math.min(start + lead, end);
  }
  if (trail > 0 && end >= trail) end = Math.max(end - trail, start);
  return [start, end];
}

