// Structure-aware fuzzing of what bertrt reads from a model folder: tokenizer.json (Tokenizer.fromJSON), and a
// whole tiny model (config.json, the safetensors header and bytes, modules.json, sentence-transformers files)
// through Embedder.load and one embed. Every outcome must be a success or a BertrtError; a success must give
// finite vectors. Anything else (a TypeError, a RangeError, a native crash) is a failure.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, Embedder, type Precision, Tokenizer } from '../lib';
import { familyFixture, safetensorsBytes, tinyTensors, writeTinyModel } from '../tests/helpers/fixtures';
import '../tests/helpers/fixtures-setup'; // (npm run fuzz runs outside mocha: the packed fixture weights, unpacked)
import { type Json, mutate, WEIRD } from './mutate';
import { rng, root } from './tokenizer';

export interface CaseReport {
  cases: number;
  /** cases whose input was accepted (the rest were refused with a BertrtError) */
  accepted: number;
  failures: string[];
}

function untyped(e: unknown): boolean {
  return !(e instanceof BertrtError);
}

const PROBES = ['hello world', 'The cat sat on the [MASK].', 'naïve café 日本語 🙂', '', 'a'.repeat(300)];

/** A small tokenizer.json (the embedded model's, with its vocabulary cut to 2,000 entries so a case is cheap). */
function smallTokenizerJson(): Json {
  const j = JSON.parse(fs.readFileSync(path.join(root, 'models', 'all-MiniLM-L6-v2', 'tokenizer.json'), 'utf8'));
  j.model.vocab = Object.fromEntries(Object.entries(j.model.vocab as Record<string, number>).filter(([, id]) => id < 2000));
  return j;
}

export async function fuzzTokenizerJson(seed: number, cases: number): Promise<CaseReport> {
  const r = rng(seed ^ 0x51ed);
  const base = smallTokenizerJson();
  const failures: string[] = [];
  let accepted = 0;
  for (let i = 0; i < cases; i++) {
    const doc = mutate(base, r);
    let tok: Tokenizer;
    try {
      tok = Tokenizer.fromJSON(doc as Record<string, unknown>);
      accepted++;
    } catch (e) {
      if (untyped(e)) failures.push(`fromJSON: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
      continue;
    }
    for (const p of PROBES) {
      try {
        tok.encode(p, r() < 0.3 ? p : null, { truncation: r() < 0.3 ? { maxLength: 8, stride: 2 } : undefined });
        tok.decode([101, 7592, 102]);
      } catch (e) {
        if (untyped(e)) failures.push(`encode after a successful load: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
      }
    }
  }
  return { cases, accepted, failures };
}

/** Mutations of a tiny model folder: one of its JSON files mutated, or the safetensors header mutated as JSON,
 *  or its bytes flipped, cut or grown. */
function mutateModel(dir: string, r: () => number): string {
  const k = r();
  const file = (n: string) => path.join(dir, n);
  if (k < 0.3) {
    const cfg = JSON.parse(fs.readFileSync(file('config.json'), 'utf8'));
    fs.writeFileSync(file('config.json'), JSON.stringify(mutate(cfg, r)));
    return 'config.json';
  }
  const b = fs.readFileSync(file('model.safetensors'));
  const n = Number(b.readBigUInt64LE(0));
  if (k < 0.65) {
    const h = mutate(JSON.parse(b.subarray(8, 8 + n).toString()), r);
    let s = JSON.stringify(h);
    while (s.length % 8) s += ' ';
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(s)));
    fs.writeFileSync(file('model.safetensors'), Buffer.concat([len, Buffer.from(s), b.subarray(8 + n)]));
    return 'safetensors header';
  }
  if (k < 0.8) {
    for (let i = 0; i < 1 + Math.floor(r() * 8); i++) b[Math.floor(r() * Math.min(b.length, 8 + n + 64))] = Math.floor(r() * 256);
    fs.writeFileSync(file('model.safetensors'), b);
    return 'safetensors bytes';
  }
  if (k < 0.9) {
    fs.writeFileSync(file('model.safetensors'), b.subarray(0, Math.floor(r() * b.length)));
    return 'safetensors cut';
  }
  const st = [
    ['modules.json', [{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' }, { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' }]],
    ['config_sentence_transformers.json', { prompts: { query: 'query: ' } }],
    ['sentence_bert_config.json', { max_seq_length: 16 }],
  ] as const;
  fs.mkdirSync(file('1_Pooling'), { recursive: true });
  fs.writeFileSync(path.join(file('1_Pooling'), 'config.json'), JSON.stringify(mutate({ pooling_mode_mean_tokens: true, include_prompt: true }, r)));
  for (const [name, doc] of st) fs.writeFileSync(file(name), JSON.stringify(r() < 0.5 ? mutate(doc as unknown as Json, r) : doc));
  return 'sentence-transformers files';
}

/** The seeded family fixtures (tests/fixtures/families) that carry a tokenizer: every architecture but BERT and
 *  DistilBERT, whose tiny models the plain mode mutates. */
export const FAMILIES = ['albert', 'deberta-v2', 'electra', 'gte', 'modernbert', 'mpnet', 'nomic-bert', 'xlm-roberta'];

/** Load a folder in `precision` and embed a short and an over-long text: a success with finite vectors, or a
 *  BertrtError; anything else is pushed onto `failures` under `what`. Returns whether the load succeeded. */
async function loadAndEmbed(dir: string, what: string, failures: string[], precision?: Precision, promptName?: string): Promise<boolean> {
  const where = (err: unknown) => (err as Error).stack?.split('\n').slice(0, 3).join(' | ');
  let e: Embedder;
  try {
    e = await Embedder.load(dir, precision ? { precision } : {});
  } catch (err) {
    if (untyped(err)) failures.push(`${what}: load threw ${where(err)}`);
    return false;
  }
  try {
    const vs = await e.embed(['the cat sat on the mat', 'hello ' + 'word '.repeat(200)], { promptName });
    if (!vs.every((v) => v.every(Number.isFinite))) failures.push(`${what}: a non-finite vector was returned`);
  } catch (err) {
    if (untyped(err)) failures.push(`${what}: embed threw ${where(err)}`);
  } finally {
    await e.close();
  }
  return true;
}

/** Mutated model folders: the tiny BERT, or (families) each family fixture in turn, whose configs take their own
 *  paths (positions, relative buckets, windows, factorized embeddings, fused and gated tensors cut by byte range). */
export async function fuzzModelFiles(seed: number, cases: number, families = false): Promise<CaseReport> {
  const r = rng(seed ^ (families ? 0xfa41 : 0xf11e));
  const weights = safetensorsBytes(tinyTensors());
  const failures: string[] = [];
  let accepted = 0;
  for (let i = 0; i < cases; i++) {
    const dir = families ? familyFixture(FAMILIES[i % FAMILIES.length]).dir : writeTinyModel({ weights });
    const what = `${families ? `${FAMILIES[i % FAMILIES.length]} ` : ''}${mutateModel(dir, r)}`;
    if (await loadAndEmbed(dir, what, failures, undefined, r() < 0.2 ? 'query' : undefined)) accepted++;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { cases, accepted, failures };
}

/** Every key of every family fixture's config.json set, one at a time, to each hostile value (and removed), loaded
 *  in each precision: a load that succeeds must embed to finite vectors, a refusal must be a BertrtError. Where the
 *  random mutations above touch a family's own keys a few times, this tries each of them with every value. */
export async function sweepFamilyConfigs(values: Json[] = WEIRD, precisions: Precision[] = ['fp32', 'int8', 'bf16']): Promise<CaseReport> {
  const failures: string[] = [];
  let cases = 0, accepted = 0;
  for (const name of FAMILIES) {
    const { dir } = familyFixture(name);
    const file = path.join(dir, 'config.json');
    const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, Json>;
    for (const key of Object.keys(config))
      for (const v of [undefined, ...values]) {
        const doc = { ...config };
        if (v === undefined) delete doc[key];
        else doc[key] = v;
        fs.writeFileSync(file, JSON.stringify(doc));
        for (const p of precisions) {
          cases++;
          if (await loadAndEmbed(dir, `${name} ${p} ${key}=${v === undefined ? '(removed)' : JSON.stringify(v).slice(0, 40)}`, failures, p)) accepted++;
        }
      }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { cases, accepted, failures };
}
