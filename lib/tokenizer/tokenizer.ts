// The tokenizer: added tokens split out of the raw text, then normalizer → pre-tokenizer → WordPiece → template
// post-processor, as tokenizer.json composes them. Loads tokenizer.json, or vocab.txt + tokenizer_config.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, invalidArgument } from '../errors';
import { readJson } from '../model/config';
import { alignedFrom } from './aligned';
import { BertNormalizer, type Normalizer, normalizerFromJson } from './normalizer';
import { BertPreTokenizer, type PreTokenizer, preTokenizerFromJson } from './pretokenizer';
import { type Token, WordPiece } from './wordpiece';

export interface Encoding {
  ids: Int32Array;
  typeIds: Int32Array;
  attentionMask: Int32Array;
  specialTokensMask: Int32Array;
  /** [start, end) in UTF-16 code units of the original string; [0, 0] for special tokens */
  offsets: Array<[number, number]>;
  /** index of the word each token came from (per sequence), null for special tokens */
  wordIds: Array<number | null>;
  /** which input each token belongs to: 0 (first text), 1 (pair), null for special tokens */
  sequenceIds: Array<number | null>;
  tokens: string[];
}

export interface EncodeOptions {
  /** Longest output in tokens, special tokens included. Longer input is cut from the right (the first text's
   *  end first for pairs, longest-first), the way HF truncation='longest_first' does. */
  maxLength?: number;
  addSpecialTokens?: boolean;
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
  special: boolean[];
}

function parseTemplate(j: Record<string, unknown>): Template {
  const specialIds = new Map<string, number>();
  if (j.type === 'BertProcessing') {
    const [sep, sepId] = j.sep as [string, number];
    const [cls, clsId] = j.cls as [string, number];
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
  const pieces = (list: unknown): TemplatePiece[] =>
    (list as Array<Record<string, { id: string; type_id: number }>>).map((p) => {
      if (p.SpecialToken) return { special: p.SpecialToken.id, typeId: p.SpecialToken.type_id };
      return { sequence: p.Sequence.id === 'A' ? 0 : 1, typeId: p.Sequence.type_id };
    });
  for (const [name, v] of Object.entries(j.special_tokens as Record<string, { ids: number[] }>)) {
    if (v.ids.length !== 1) throw new BertrtError(`tokenizer.json: special token "${name}" maps to several ids`, 'E_UNSUPPORTED');
    specialIds.set(name, v.ids[0]);
  }
  return { single: pieces(j.single), pair: pieces(j.pair), specialIds };
}

export class Tokenizer {
  private readonly addedRegex: RegExp | null;
  private readonly addedByContent: Map<string, AddedToken>;
  private readonly specialIdSet: Set<number>;

  private constructor(
    readonly model: WordPiece,
    private readonly normalizer: Normalizer | null,
    private readonly preTokenizer: PreTokenizer,
    private readonly template: Template,
    readonly addedTokens: AddedToken[],
    private readonly decoderPrefix: string,
    private readonly cleanup: boolean,
  ) {
    this.addedByContent = new Map(addedTokens.map((t) => [t.content, t]));
    const escaped = [...this.addedByContent.keys()]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.addedRegex = escaped.length ? new RegExp(escaped.join('|'), 'gu') : null;
    this.specialIdSet = new Set(addedTokens.filter((t) => t.special).map((t) => t.id));
    for (const id of template.specialIds.values()) this.specialIdSet.add(id);
  }

  /** tokenizer.json if the directory has one, else vocab.txt with tokenizer_config.json. */
  static fromDir(dir: string): Tokenizer {
    const tj = path.join(dir, 'tokenizer.json');
    if (fs.existsSync(tj)) return Tokenizer.fromJSON(readJson(tj));
    const vocab = path.join(dir, 'vocab.txt');
    if (!fs.existsSync(vocab)) throw new BertrtError(`${dir} has neither tokenizer.json nor vocab.txt`, 'E_MODEL_NOT_FOUND');
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const cfg = fs.existsSync(cfgFile) ? readJson(cfgFile) : {};
    return Tokenizer.fromVocab(fs.readFileSync(vocab, 'utf8'), cfg);
  }

  static fromJSON(j: Record<string, unknown>): Tokenizer {
    const m = j.model as Record<string, unknown>;
    if (!m || m.type !== 'WordPiece') {
      throw new BertrtError(`tokenizer.json: model type "${String(m?.type)}" is not supported (WordPiece only)`, 'E_UNSUPPORTED');
    }
    const vocab = new Map(Object.entries(m.vocab as Record<string, number>));
    const wp = new WordPiece(vocab, {
      unkToken: String(m.unk_token ?? '[UNK]'),
      continuingSubwordPrefix: String(m.continuing_subword_prefix ?? '##'),
      maxInputCharsPerWord: Number(m.max_input_chars_per_word ?? 100),
    });
    const added = ((j.added_tokens as Array<Record<string, unknown>>) ?? []).map((t) => {
      if (t.normalized === true && t.special !== true) {
        throw new BertrtError(`tokenizer.json: normalized added token "${String(t.content)}" is not supported`, 'E_UNSUPPORTED');
      }
      return { id: Number(t.id), content: String(t.content), special: t.special === true };
    });
    const pp = j.post_processor as Record<string, unknown> | null;
    const template = pp
      ? parseTemplate(pp)
      : { single: [{ sequence: 0 as const, typeId: 0 }], pair: [{ sequence: 0 as const, typeId: 0 }, { sequence: 1 as const, typeId: 1 }], specialIds: new Map() };
    const dec = (j.decoder as Record<string, unknown> | null) ?? { prefix: '##', cleanup: true };
    return new Tokenizer(
      wp,
      normalizerFromJson(j.normalizer as Record<string, unknown> | null),
      preTokenizerFromJson(j.pre_tokenizer as Record<string, unknown> | null),
      template,
      added,
      String(dec.prefix ?? '##'),
      dec.cleanup !== false,
    );
  }

  /** The classic BERT files: one token per line in vocab.txt, options from tokenizer_config.json. */
  static fromVocab(vocabText: string, cfg: Record<string, unknown>): Tokenizer {
    const lines = vocabText.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    const vocab = new Map<string, number>();
    lines.forEach((l, i) => vocab.set(l.replace(/\r$/, ''), i));
    const tok = (k: string, d: string) => String(cfg[k] ?? d);
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
    const template = parseTemplate({ type: 'BertProcessing', sep: [sep, vocab.get(sep)], cls: [cls, vocab.get(cls)] });
    const wp = new WordPiece(vocab, { unkToken: unk, continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
    return new Tokenizer(wp, normalizer, new BertPreTokenizer(), template, added, '##', true);
  }

  get vocabSize(): number {
    return this.model.size;
  }

  tokenToId(token: string): number | undefined {
    return this.model.tokenToId(token);
  }

  /** Number of special tokens the template adds around one text (pair=false) or two. */
  numSpecialTokens(pair: boolean): number {
    return (pair ? this.template.pair : this.template.single).filter((p) => 'special' in p).length;
  }

  private tokenizeText(text: string): WordTokens {
    const out: WordTokens = { tokens: [], wordIds: [], special: [] };
    let word = 0;
    const runPlain = (begin: number, end: number) => {
      if (end <= begin) return;
      let a = alignedFrom(text.slice(begin, end));
      if (begin > 0) {
        a.starts = a.starts.map((s) => s + begin);
        a.ends = a.ends.map((e) => e + begin);
      }
      if (this.normalizer) a = this.normalizer.normalize(a);
      for (const w of this.preTokenizer.split(a)) {
        const before = out.tokens.length;
        this.model.tokenize(w, out.tokens);
        for (let i = before; i < out.tokens.length; i++) {
          out.wordIds.push(word);
          out.special.push(false);
        }
        word++;
      }
    };
    let last = 0;
    if (this.addedRegex) {
      this.addedRegex.lastIndex = 0;
      for (const m of text.matchAll(this.addedRegex)) {
        runPlain(last, m.index);
        const t = this.addedByContent.get(m[0])!;
        out.tokens.push({ id: t.id, start: m.index, end: m.index + m[0].length });
        out.wordIds.push(word++);
        out.special.push(false);
        last = m.index + m[0].length;
      }
    }
    runPlain(last, text.length);
    return out;
  }

  encode(text: string, pair?: string | null, options: EncodeOptions = {}): Encoding {
    if (typeof text !== 'string') throw invalidArgument(`encode: text must be a string, got ${typeof text}`);
    if (pair !== undefined && pair !== null && typeof pair !== 'string') {
      throw invalidArgument(`encode: pair must be a string, got ${typeof pair}`);
    }
    const addSpecial = options.addSpecialTokens !== false;
    const seqs = [this.tokenizeText(text)];
    if (typeof pair === 'string') seqs.push(this.tokenizeText(pair));
    if (options.maxLength !== undefined) {
      if (!Number.isInteger(options.maxLength) || options.maxLength < 0) throw invalidArgument('encode: maxLength must be a non-negative integer');
      const budget = options.maxLength - (addSpecial ? this.numSpecialTokens(seqs.length === 2) : 0);
      if (budget < 0) throw invalidArgument(`encode: maxLength ${options.maxLength} leaves no room for the special tokens`);
      truncateLongestFirst(seqs, budget);
    }
    return this.assemble(seqs, addSpecial);
  }

  private assemble(seqs: WordTokens[], addSpecial: boolean): Encoding {
    const layout: TemplatePiece[] = addSpecial
      ? seqs.length === 2
        ? this.template.pair
        : this.template.single
      : seqs.map((_, i) => ({ sequence: i as 0 | 1, typeId: i }));
    let n = 0;
    for (const p of layout) n += 'special' in p ? 1 : seqs[p.sequence].tokens.length;
    const e: Encoding = {
      ids: new Int32Array(n),
      typeIds: new Int32Array(n),
      attentionMask: new Int32Array(n).fill(1),
      specialTokensMask: new Int32Array(n),
      offsets: [],
      wordIds: [],
      sequenceIds: [],
      tokens: [],
    };
    let k = 0;
    for (const p of layout) {
      if ('special' in p) {
        const id = this.template.specialIds.get(p.special);
        if (id === undefined) throw new BertrtError(`special token ${p.special} has no id`, 'E_MODEL_FORMAT');
        e.ids[k] = id;
        e.typeIds[k] = p.typeId;
        e.specialTokensMask[k] = 1;
        e.offsets.push([0, 0]);
        e.wordIds.push(null);
        e.sequenceIds.push(null);
        e.tokens.push(p.special);
        k++;
        continue;
      }
      const s = seqs[p.sequence];
      for (let i = 0; i < s.tokens.length; i++, k++) {
        const t = s.tokens[i];
        e.ids[k] = t.id;
        e.typeIds[k] = p.typeId;
        e.offsets.push([t.start, t.end]);
        e.wordIds.push(s.wordIds[i]);
        e.sequenceIds.push(p.sequence);
        e.tokens.push(this.model.idToTokenString(t.id) ?? '');
      }
    }
    return e;
  }

  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const skip = options.skipSpecialTokens !== false;
    let out = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skip && this.specialIdSet.has(id)) continue;
      const t = this.model.idToTokenString(id);
      if (t === undefined) throw invalidArgument(`decode: id ${id} is not in the vocabulary`);
      if (t.startsWith(this.decoderPrefix)) out += t.slice(this.decoderPrefix.length);
      else out += (out.length ? ' ' : '') + t;
    }
    return this.cleanup ? cleanupSpaces(out) : out;
  }
}

/** HF's truncation 'longest_first': remove one token at a time from whichever sequence is longer. */
function truncateLongestFirst(seqs: WordTokens[], budget: number): void {
  const lens = seqs.map((s) => s.tokens.length);
  let total = lens.reduce((a, b) => a + b, 0);
  while (total > budget) {
    const i = lens.length === 2 && lens[1] > lens[0] ? 1 : 0;
    lens[i]--;
    total--;
  }
  seqs.forEach((s, i) => {
    s.tokens.length = lens[i];
    s.wordIds.length = lens[i];
    s.special.length = lens[i];
  });
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
    .replace(/ 's/g, "'s")
    .replace(/ 've/g, "'ve")
    .replace(/ 're/g, "'re");
}
