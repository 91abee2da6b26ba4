// `npm run bench:retrieval`: what quantization costs in retrieval quality, for bertrt and its peers, on a real
// retrieval set built from this machine's manual pages (not the benchmark's sentences): each page's one-line
// summary (NAME: "ls - list directory contents") is a query whose one relevant document is the opening of the
// same page's DESCRIPTION section (at most 64 words), among the documents of every page in the set. Each engine
// embeds queries and documents (all-MiniLM-L6-v2, mean pooling, unit length), ranks the documents by cosine, and
// the report gives MRR@10 and recall@1 per engine and precision, with the change from bertrt FP32's.
// Engines: bertrt FP32 / BF16 / INT8; onnxruntime-node on the FP32 export and on quantize_dynamic's INT8 of it;
// OpenVINO (bench/openvino.ts) FP32, BF16 and NNCF INT8. Writes bench/results/retrieval.{md,json}.
// Options: --pairs N (default 1500).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Embedder, info } from '../dist';
import { cpuGeneration } from '../dist/bench';
import { calibration, OpenVinoPeer, padded } from './openvino';
import { type OrtModule, ortVersion, peerEmbed } from './peer';

const root = path.resolve(__dirname, '..');
const modelDir = path.join(root, 'models', 'all-MiniLM-L6-v2');
const cache = path.join(root, 'bench', '.cache');
const MAN = '/usr/share/man';
const argPairs = process.argv.indexOf('--pairs');
const PAIRS = argPairs > 0 ? Number(process.argv[argPairs + 1]) : 1500;
const THREADS = os.availableParallelism?.() ?? os.cpus().length;

/** roff source to plain text: requests and comments dropped, font and size escapes removed, named glyphs read. */
function plain(lines: string[]): string {
  const words: string[] = [];
  for (let l of lines) {
    if (l.startsWith('.\\"') || l.startsWith("'\\\"")) continue;
    const m = /^\.(B|I|BI|BR|IB|IR|RB|RI|SM|SB)\s+(.*)$/.exec(l);
    if (m) l = m[2].replace(/"/g, '');
    else if (l.startsWith('.') || l.startsWith("'")) continue;
    l = l
      .replace(/\\f(\[[^\]]*\]|\(..|.)/g, '')
      .replace(/\\s[-+]?\d/g, '')
      .replace(/\\\(em|\\\(en/g, '-')
      .replace(/\\\(lq|\\\(rq|\\\(oq|\\\(cq/g, '"')
      .replace(/\\\(..|\\\[[^\]]*\]/g, '')
      .replace(/\\[-e]/g, (x) => (x === '\\-' ? '-' : '\\'))
      .replace(/\\[&|^,/%:]/g, '')
      .replace(/\\ /g, ' ')
      .replace(/\\./g, '');
    words.push(...l.split(/\s+/).filter(Boolean));
  }
  return words.join(' ');
}

/** (query, document) per manual page in man1, man5, man7 and man8 that has both, one per distinct summary. */
export function retrievalSet(): Array<{ page: string; query: string; doc: string }> {
  const out: Array<{ page: string; query: string; doc: string }> = [];
  const seen = new Set<string>();
  for (const section of ['man1', 'man5', 'man7', 'man8']) {
    const dir = path.join(MAN, section);
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir).sort()) {
      const file = path.join(dir, f);
      if (!f.endsWith('.gz') || fs.lstatSync(file).isSymbolicLink()) continue;
      let src: string;
      try {
        src = zlib.gunzipSync(fs.readFileSync(file)).toString('utf8');
      } catch {
        continue;
      }
      if (src.startsWith('.so ')) continue; // an alias of another page
      const sections = new Map<string, string[]>();
      let cur: string[] | null = null;
      for (const line of src.split('\n')) {
        const h = /^\.S[Hh]\s+"?([^"]*)"?\s*$/.exec(line);
        if (h) sections.set(h[1].trim().toUpperCase(), (cur = []));
        else cur?.push(line);
      }
      const name = plain(sections.get('NAME') ?? []);
      const dash = name.indexOf(' - ');
      const query = dash >= 0 ? name.slice(dash + 3).trim() : '';
      const doc = plain(sections.get('DESCRIPTION') ?? []).split(' ').slice(0, 64).join(' ');
      if (query.split(' ').length < 3 || doc.split(' ').length < 12 || seen.has(query.toLowerCase())) continue;
      seen.add(query.toLowerCase());
      out.push({ page: `${section}/${f}`, query, doc });
    }
  }
  // spread over the sections and the alphabet, deterministically
  const step = Math.max(1, out.length / PAIRS);
  return Array.from({ length: Math.min(PAIRS, out.length) }, (_, i) => out[Math.floor(i * step)]);
}

export interface Score {
  engine: string;
  precision: string;
  mrr10: number;
  recall1: number;
}

export function score(engine: string, precision: string, q: ArrayLike<number>[], d: ArrayLike<number>[]): Score {
  let mrr = 0;
  let hits = 0;
  for (let i = 0; i < q.length; i++) {
    const dot = (v: ArrayLike<number>) => {
      let s = 0;
      for (let j = 0; j < v.length; j++) s += q[i][j] * v[j];
      return s;
    };
    const own = dot(d[i]);
    let rank = 1;
    for (let k = 0; k < d.length; k++) if (k !== i && dot(d[k]) > own) rank++;
    if (rank <= 10) mrr += 1 / rank;
    if (rank === 1) hits++;
  }
  return { engine, precision, mrr10: mrr / q.length, recall1: hits / q.length };
}

async function main(): Promise<void> {
  const set = retrievalSet();
  if (set.length < 1000) throw new Error(`only ${set.length} manual pages with a summary and a description under ${MAN}: the bench wants 1,000`);
  const digest = createHash('sha256').update(JSON.stringify(set)).digest('hex').slice(0, 16);
  console.log(`${set.length} queries and documents from ${MAN} (set sha256 ${digest})`);
  const queries = set.map((p) => p.query);
  const docs = set.map((p) => p.doc);
  const scores: Score[] = [];
  const report = (s: Score) => {
    scores.push(s);
    console.log(`  ${s.engine.padEnd(17)} ${s.precision.padEnd(5)} MRR@10 ${s.mrr10.toFixed(4)}  recall@1 ${s.recall1.toFixed(4)}`);
  };

  let tokenizer = null as Embedder['tokenizer'] | null;
  let maxLength = 0;
  for (const precision of ['fp32', 'bf16', 'int8'] as const) {
    const e = await Embedder.load(modelDir, { threads: THREADS, precision });
    tokenizer = e.tokenizer;
    maxLength = e.maxSeqLength;
    report(score('bertrt', precision, await e.embed(queries), await e.embed(docs)));
    await e.close();
  }
  // the peers get length-sorted batches of 32 (as sentence-transformers batches), each padded to its longest text
  const batches = (texts: string[]) => {
    const order = texts.map((_, i) => i).sort((a, b) => texts[b].length - texts[a].length);
    const out: number[][] = [];
    for (let i = 0; i < order.length; i += 32) out.push(order.slice(i, i + 32));
    return out;
  };
  const versions: Record<string, string> = {};
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as OrtModule;
  for (const [precision, file] of [['fp32', 'all-MiniLM-L6-v2.onnx'], ['int8', 'all-MiniLM-L6-v2-int8.onnx']] as const) {
    const onnx = path.join(cache, file);
    if (!fs.existsSync(onnx)) {
      console.log(`onnxruntime-node ${precision} skipped: ${path.relative(root, onnx)} is missing (tools/export_onnx.py --int8)`);
      continue;
    }
    versions.onnxruntimeNode = ortVersion();
    const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const embed = async (texts: string[]) => {
      const out: Float32Array[] = new Array(texts.length);
      for (const b of batches(texts)) (await peerEmbed(ort, session, tokenizer!, b.map((i) => texts[i]), maxLength)).forEach((v, k) => (out[b[k]] = v));
      return out;
    };
    report(score('onnxruntime-node', precision, await embed(queries), await embed(docs)));
    await session.release();
  }
  const calib = calibration(tokenizer!, maxLength);
  for (const precision of ['fp32', 'bf16', 'int8'] as const) {
    const ov = await OpenVinoPeer.start(path.join(cache, 'all-MiniLM-L6-v2.onnx'), precision, THREADS, calib);
    if (!ov) continue;
    versions.openvino = ov.version;
    const embed = async (texts: string[]) => {
      const bs = batches(texts);
      const got = await ov.embed(bs.map((b) => padded(b.map((i) => tokenizer!.encode(texts[i], null, { maxLength })))));
      const H = got.vectors.length / texts.length;
      const out: Float32Array[] = new Array(texts.length);
      bs.flat().forEach((i, k) => (out[i] = got.vectors.subarray(k * H, (k + 1) * H)));
      return out;
    };
    report(score('OpenVINO', `${precision}`, await embed(queries), await embed(docs)));
    ov.close();
  }

  const sys = info();
  const result = { date: new Date().toISOString(), machine: { cpu: sys.cpu + cpuGeneration(), physicalCores: sys.physicalCores }, set: { source: MAN, pairs: set.length, sha256: digest, examples: set.slice(0, 3) }, versions, scores };
  const out = path.join(root, 'bench', 'results');
  fs.writeFileSync(path.join(out, 'retrieval.json'), JSON.stringify(result, null, 2) + '\n');
  const base = scores.find((s) => s.engine === 'bertrt' && s.precision === 'fp32')!;
  const L = [
    '# Retrieval quality by precision: bertrt, onnxruntime-node and OpenVINO',
    '',
    `Measured ${result.date.slice(0, 10)} by \`npm run bench:retrieval\` (bench/retrieval.ts) on ${sys.cpu}${cpuGeneration()} (${sys.physicalCores} cores). Model: all-MiniLM-L6-v2 (mean pooling, unit length), the same weights in every engine.`,
    '',
    `The set: ${set.length} manual pages of this machine (${MAN}: man1, man5, man7, man8; sha256 of the set ${digest}). Each page's one-line summary is a query; its one relevant document is the opening of the same page's DESCRIPTION (at most 64 words), ranked by cosine among all ${set.length} documents. For example: ${set
      .slice(0, 2)
      .map((p) => `"${p.query}" → "${p.doc.slice(0, 70)}…"`)
      .join('; ')}.`,
    '',
    `Versions: onnxruntime-node ${versions.onnxruntimeNode ?? 'not run'} (INT8: quantize_dynamic, per-channel, tools/export_onnx.py --int8), OpenVINO ${versions.openvino ?? 'not run'} (INT8: NNCF static post-training quantization of the FP32 export, calibrated on 320 texts of tests/fixtures/tokenizer/corpus.json.gz).`,
    '',
    `One query is ${(100 / set.length).toFixed(3)}% of recall@1: differences of a few tenths of a percent are a handful of queries whose rank changed.`,
    '',
    '| engine | precision | MRR@10 | Δ vs bertrt FP32 | recall@1 | Δ |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...scores.map((s) => {
      const d = (a: number, b: number) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(2)}%`;
      return `| ${s.engine} | ${s.precision.toUpperCase()} | ${s.mrr10.toFixed(4)} | ${d(s.mrr10, base.mrr10)} | ${s.recall1.toFixed(4)} | ${d(s.recall1, base.recall1)} |`;
    }),
    '',
  ];
  fs.writeFileSync(path.join(out, 'retrieval.md'), L.join('\n'));
  console.log('wrote bench/results/retrieval.{md,json}');
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
