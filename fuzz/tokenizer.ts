// Differential fuzzing of the tokenizer against HF `tokenizers` (its official Node binding): seeded random
// inputs built from the pieces that break tokenizers (vocabulary words and their fragments, long words, runs of
// combining marks, CJK, astral characters, every kind of whitespace and control character, added tokens inside
// words, lone surrogates, random code points from every plane), encoded by both for each tokenizer
// configuration, compared on ids, offsets (code points, as HF reports them), special-token masks and word ids;
// every mismatch is minimized to a shortest input that still differs. tests/fuzz.test.ts runs a seeded slice in
// CI; `npm run fuzz` runs a million and more.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Encoding, Tokenizer } from '../lib';
import { readFixture, rng } from '../tests/helpers/fixtures';

export const root = path.resolve(__dirname, '..');

export { rng };

export interface Config {
  name: string;
  /** tokenizer.json for both engines */
  json: Record<string, unknown>;
}

/** The tokenizer configurations the conformance fixtures cover: the embedded MiniLM and four variants of its
 *  normalizer and pre-tokenizer (cased, multilingual, NFKC + split, NFD + strip), then Tokenizers II's (mpnet,
 *  XLM-R, Unigram with byte fallback, RoBERTa, ModernBERT, char BPE), and two with UnicodeScripts in front. */
export function configs(): Config[] {
  const dir = path.join(root, 'tests', 'fixtures', 'tokenizer');
  const out: Config[] = [];
  for (const name of ['minilm', 'cased', 'multilingual', 'nfkc-split', 'nfd-strip', 'mpnet', 'xlmr', 'unigram-first', 'roberta', 'modernbert', 'char-bpe']) {
    const f = readFixture(path.join(dir, `${name}.refs.br`)).tokenizer;
    let json: Record<string, any>;
    if (f.file) json = readFixture(path.join(root, f.file.replace(/\.gz$/, '.br')));
    else {
      json = structuredClone(f.json);
      json.model.vocab = JSON.parse(fs.readFileSync(path.join(root, f.vocab_from), 'utf8')).model.vocab;
    }
    json.padding = null;
    json.truncation = null;
    out.push({ name, json });
  }
  // UnicodeScripts, which none of those files uses: in front of BERT's pre-tokenizer and of XLM-R's Metaspace
  for (const [name, from] of [['scripts-bert', 'multilingual'], ['scripts-xlmr', 'xlmr']]) out.push({ name, json: withUnicodeScripts(out.find((c) => c.name === from)!.json) });
  return out;
}

/** A copy of a tokenizer.json with UnicodeScripts in front of its pre-tokenizer. */
export function withUnicodeScripts(json: Record<string, any>): Record<string, any> {
  const j = structuredClone(json);
  j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'UnicodeScripts' }, j.pre_tokenizer] };
  return j;
}

const PIECES = {
  space: [' ', ' ', ' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u2028', '\u200b', '\u2009', '\u180e', '\u0085'],
  punct: [...'.,;:!?-()[]{}"\'`~@#$%^&*_+=|\\/<>', '…', '«', '»', '¿', '¡', '—', '、', '。', '「', '」', '‹', '†', '¶'],
  marks: ['\u0300', '\u0301', '\u0308', '\u0316', '\u0327', '\u0328', '\u0345', '\u05ae', '\u0315', '\u302a', '\u302c', '\u302e', '\u302f', '\u093e', '\u094d', '\u0e31', '\u20dd', '\u1ab0', '\u0f39', '\u0670'],
  control: ['\u0000', '\u0001', '\u0007', '\u001b', '\u007f', '\u0080', '\u009f', '\u00ad', '\u200d', '\u200e', '\ufeff', '\ufffd', '\ufff9'],
  astral: ['🙂', '👩‍👩‍👧', '𝒜', '𝔘𝔫𝔦', '𠀀', '𪜀', '🇫🇷', '\u{1d165}\u{1d16d}', '\u{e0061}', '\u{10ffff}', '𐍈'],
  scripts: ['日本語', '中文', '한국어', 'Ελληνικά', 'русский', 'עברית', 'العربية', 'हिन्दी', 'ไทย', 'ქართული', 'Ǆǅǆ', 'ﬁ', 'ẞß', 'İı', 'Ω', 'K', 'Å', '½', '①', 'ｈｅｌｌｏ', 'ﾊﾝｶｸ', '각', '㎏', '\u1e9b\u0323'],
};

/** One random input. `vocab` gives real words and fragments; `added` the added tokens of the configuration. */
export function randomText(r: () => number, vocab: string[], added: string[]): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const n = 1 + Math.floor(r() * (r() < 0.1 ? 60 : 14));
  let s = '';
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.3) s += pick(vocab).replace(/^##/, '');
    else if (k < 0.38) s += pick(vocab).replace(/^##/, '') + pick(vocab).replace(/^##/, ''); // a word made of two pieces
    else if (k < 0.45) s += pick(PIECES.space);
    else if (k < 0.52) s += pick(PIECES.punct);
    else if (k < 0.58) s += pick(PIECES.marks) + (r() < 0.5 ? pick(PIECES.marks) : '');
    else if (k < 0.62) s += pick(PIECES.control);
    else if (k < 0.66) s += pick(PIECES.astral);
    else if (k < 0.72) s += pick(PIECES.scripts);
    else if (k < 0.75 && added.length) s += pick(added);
    else if (k < 0.77) {
      // a long word around max_input_chars_per_word
      const len = 90 + Math.floor(r() * 20);
      let w = '';
      while (w.length < len) w += String.fromCharCode(0x61 + Math.floor(r() * 26));
      s += w;
    } else if (k < 0.79) s += String.fromCharCode(0xd800 + Math.floor(r() * 0x800)); // a lone surrogate
    else if (k < 0.85) {
      // any code point of any plane but the surrogates
      let cp = r() < 0.7 ? Math.floor(r() * 0x3000) : Math.floor(r() * 0x110000);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41;
      s += String.fromCodePoint(cp);
    } else s += String.fromCharCode(0x41 + Math.floor(r() * 58));
    if (r() < 0.5) s += ' ';
  }
  return s;
}

interface HfTokenizer {
  encode(a: string, b?: string | null): Promise<HfEncoding>;
  encodeBatch(inputs: string[]): Promise<HfEncoding[]>;
}
interface HfEncoding {
  getIds(): number[];
  getOffsets(): number[][];
  getSpecialTokensMask(): number[];
  getWordIds(): Array<number | null | undefined>;
  getTypeIds(): number[];
}

export interface Engines {
  config: Config;
  ours: Tokenizer;
  composed: Tokenizer;
  hf: HfTokenizer;
  vocab: string[];
  added: string[];
}

export function engines(config: Config): Engines {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hfMod = require('tokenizers') as { Tokenizer: { fromFile(p: string): HfTokenizer & { disablePadding(): void; disableTruncation(): void } } };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bertrt-fuzz-')), 'tokenizer.json');
  fs.writeFileSync(file, JSON.stringify(config.json));
  const hf = hfMod.Tokenizer.fromFile(file);
  hf.disablePadding();
  hf.disableTruncation();
  const v = (config.json.model as { vocab: Record<string, number> | Array<[string, number]> }).vocab;
  const vocab = Array.isArray(v) ? v.map((x) => x[0]) : Object.keys(v);
  const added = ((config.json.added_tokens as Array<{ content: string }>) ?? []).map((t) => t.content);
  return { config, ours: Tokenizer.fromJSON(config.json), composed: Tokenizer.fromJSON(config.json, { singlePass: false }), hf, vocab, added };
}

/** The first field on which two encodings differ, or null. */
export function differs(ours: Encoding, hf: HfEncoding): string | null {
  const a = {
    ids: Array.from(ours.ids),
    types: Array.from(ours.typeIds),
    offsets: ours.offsets.flat(),
    special: Array.from(ours.specialTokensMask),
    words: ours.wordIds.map((w) => w ?? -1),
  };
  const b = {
    ids: hf.getIds(),
    types: hf.getTypeIds(),
    offsets: hf.getOffsets().flat(),
    special: hf.getSpecialTokensMask(),
    words: hf.getWordIds().map((w) => w ?? -1),
  };
  for (const k of Object.keys(a) as Array<keyof typeof a>) {
    if (a[k].length !== b[k].length || a[k].some((v, i) => v !== b[k][i])) return `${k}: ours ${JSON.stringify(a[k]).slice(0, 120)} HF ${JSON.stringify(b[k]).slice(0, 120)}`;
  }
  return null;
}

export type Input = string | [string, string];

export async function mismatch(e: Engines, x: Input): Promise<string | null> {
  const [a, b] = typeof x === 'string' ? [x, null] : x;
  let ours: Encoding;
  let composed: Encoding;
  try {
    ours = e.ours.encode(a, b, { offsets: 'codepoint' });
    composed = e.composed.encode(a, b, { offsets: 'codepoint' });
  } catch (err) {
    return `ours threw ${(err as Error).message}`;
  }
  const hf = await e.hf.encode(a, b);
  return differs(ours, hf) ?? (differs(composed, hf) ? `composed path: ${differs(composed, hf)}` : null);
}

/** A shortest input (by dropping code points, then whole halves) that still mismatches. */
export async function minimize(e: Engines, x: Input): Promise<Input> {
  const shrinkOne = async (s: string, rebuild: (t: string) => Input): Promise<string> => {
    let cps = [...s];
    for (let chunk = Math.max(1, cps.length >> 1); chunk >= 1; chunk >>= 1) {
      for (let i = 0; i + chunk <= cps.length; ) {
        const t = [...cps.slice(0, i), ...cps.slice(i + chunk)];
        if (await mismatch(e, rebuild(t.join('')))) cps = t;
        else i += chunk;
      }
    }
    return cps.join('');
  };
  if (typeof x === 'string') return shrinkOne(x, (t) => t);
  const a = await shrinkOne(x[0], (t) => [t, x[1]]);
  const b = await shrinkOne(x[1], (t) => [a, t]);
  return [a, b];
}

export interface FuzzReport {
  config: string;
  inputs: number;
  mismatches: Array<{ input: Input; minimized: Input; why: string }>;
  crashes: Array<{ input: Input; error: string }>;
}

/** `count` seeded inputs (one in eight a pair) through both engines, in batches through HF's encodeBatch. */
export async function fuzz(e: Engines, seed: number, count: number, maxReports = 10): Promise<FuzzReport> {
  const r = rng(seed);
  const report: FuzzReport = { config: e.config.name, inputs: 0, mismatches: [], crashes: [] };
  const BATCH = 2000;
  for (let done = 0; done < count; done += BATCH) {
    const inputs: Input[] = [];
    for (let i = 0; i < Math.min(BATCH, count - done); i++) {
      const t = randomText(r, e.vocab, e.added);
      inputs.push(r() < 0.125 ? [t, randomText(r, e.vocab, e.added)] : t);
    }
    // the binding's encodeBatch takes single texts; pairs go one by one
    const singles = inputs.filter((x): x is string => typeof x === 'string');
    const batch = await e.hf.encodeBatch(singles);
    let si = 0;
    const refs = await Promise.all(inputs.map((x) => (typeof x === 'string' ? batch[si++] : e.hf.encode(x[0], x[1]))));
    for (let i = 0; i < inputs.length; i++) {
      const x = inputs[i];
      const [a, b] = typeof x === 'string' ? [x, null] : x;
      let why: string | null;
      try {
        const ours = e.ours.encode(a, b, { offsets: 'codepoint' });
        why = differs(ours, refs[i]);
        if (!why) {
          const c = differs(e.composed.encode(a, b, { offsets: 'codepoint' }), refs[i]);
          if (c) why = `composed path: ${c}`;
        }
      } catch (err) {
        report.crashes.push({ input: x, error: String((err as Error).stack ?? err) });
        continue;
      }
      if (why && report.mismatches.length < maxReports) report.mismatches.push({ input: x, minimized: await minimize(e, x), why });
      else if (why) report.mismatches.push({ input: x, minimized: x, why });
    }
    report.inputs += inputs.length;
  }
  return report;
}
