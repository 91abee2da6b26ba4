#!/usr/bin/env node
// bertrt command line: `bertrt embed`, `bertrt tokenize`, `bertrt info`, `bertrt serve`, `bertrt bench`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import type { EmbedCliOptions } from './cli-embed';
import { BertrtError } from './errors';
import { readSentenceConfig, sentenceDimension } from './heads/pooling';
import { readConfig } from './model/config';
import { resolveModel } from './model/resolve';
import { cudaLibrary, type Device, native, onnxruntimeLibrary, type Precision } from './native';
import { findWeights } from './model/checkpoint';
import { findOnnxFile, onnxModelConfig } from './model/onnx';

function intOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new BertrtError(`not a non-negative integer: ${v}`, 'E_INVALID_ARGUMENT');
  return n;
}

function portOption(v: string): number {
  const n = intOption(v);
  if (n > 65535) throw new BertrtError(`--port must be an integer in [0, 65535], got ${v}`, 'E_INVALID_ARGUMENT');
  return n;
}

const VERSION = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

const MODEL_HELP = 'model directory or Hub id (org/name[@revision]); default: the embedded all-MiniLM-L6-v2';

const program = new Command();
program.name('bertrt').description('BERT inference for Node.js').version(VERSION, '-V, --version').showHelpAfterError();

program
  .command('embed')
  .description('embed each TEXT, or each line of --input, and print the vectors: a JSON array of them for TEXT arguments, one JSON array per line (JSONL, in input order) for --input')
  .argument('[text...]', 'texts to embed (or use --input)')
  .option('-m, --model <model>', MODEL_HELP)
  .option('-i, --input <file>', "read texts from FILE ('-': standard input), one per line; streamed, in constant memory")
  .option('--field <name>', 'the input is JSONL: embed this string field of each line')
  .option('-o, --output <file>', 'write to FILE instead of standard output')
  .option('-f, --format <f>', 'jsonl (one vector per line; the default with --input), json (one array) or npy (a float32 matrix; needs --output)')
  .option('--truncate <policy>', 'texts longer than the model takes: right (cut, the default), left, error (refuse) or chunk (pool every window)', 'right')
  .option('--prompt-name <name>', "a prompt of the model's config_sentence_transformers.json, prepended to every text")
  .option('--dimensions <n>', 'keep the first N dimensions (Matryoshka models), before normalizing', intOption)
  .option('--batch-lines <n>', 'texts read, embedded and written at a time', intOption, 1024)
  .option('--batch-tokens <n>', 'tokens per engine call (default 16384)', intOption)
  .option('--shard <i/n>', 'embed every n-th line from line i (0-based), so a job runner can split a corpus: lines i, i+n, i+2n, ...')
  .option('--no-normalize', 'do not L2-normalize the vectors')
  .option('--quantize <q>', "int8, uint8, binary or ubinary: write quantized embeddings (sentence-transformers' quantize_embeddings; npy: an int8 / uint8 matrix, binary packed 8 dimensions a byte)")
  .option('--outputs <list>', 'dense (the default), sparse, colbert, comma-separated: one JSON object per text with each output asked for, from one forward pass (sparse: bge-m3\'s head or SPLADE; colbert: bge-m3 or a pylate ColBERT model)')
  .option('--query', 'with --outputs colbert: encode the texts as queries (a ColBERT model\'s query prefix and [MASK] expansion)')
  .option('--calibration <file>', 'with --quantize int8 / uint8: texts, one per line, whose embeddings give each dimension\'s range')
  .option('-t, --threads <n>', 'threads (default: physical cores within the CPU quota)', intOption)
  .option('-p, --precision <p>', 'fp32 (default), int8, bf16, or fp8 (CUDA only)', 'fp32')
  .option('-d, --device <d>', "cpu (default), cuda (falls back to the CPU, saying why) or auto", 'cpu')
  .option('--backend <b>', "native (bertrt's engine on the checkpoint) or onnx (the folder's ONNX file on onnxruntime); default: native when there is a checkpoint")
  .option('--onnx-file <f>', 'the ONNX file inside the model folder (e.g. onnx/model_quantized.onnx); implies --backend onnx')
  .option('--onnx-output <name>', "the graph output to read (default: sentence_embedding, else last_hidden_state)")
  .action(async (texts: string[], opts: EmbedCliOptions) => {
    const { embedCommand } = await import('./cli-embed');
    await embedCommand(texts, opts);
  });

program
  .command('tokenize')
  .description("print each TEXT's tokens as JSON: ids, tokens, offsets (UTF-16, [start, end)), special-token mask")
  .argument('<text...>', 'texts to tokenize')
  .option('-m, --model <model>', MODEL_HELP)
  .option('--no-special-tokens', 'do not add [CLS] / [SEP] (or the model\'s own)')
  .action(async (texts: string[], opts: { model?: string; specialTokens: boolean }) => {
    const { Tokenizer } = await import('./tokenizer/tokenizer');
    const tok = await Tokenizer.fromPretrained(opts.model);
    const out = [];
    for (const t of texts) {
      const e = await tok.encodeAsync(t, null, { addSpecialTokens: opts.specialTokens });
      out.push({ text: t, ids: Array.from(e.ids), tokens: e.tokens, offsets: e.offsets, specialTokensMask: Array.from(e.specialTokensMask) });
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  });

program
  .command('info')
  .description('print the model, its dimension, the CPU features found and the build')
  .option('-m, --model <model>', MODEL_HELP)
  .action(async (opts: { model?: string }) => {
    const dir = await resolveModel(opts.model);
    const onnxFolder = !findWeights(dir) && findOnnxFile(dir) !== null;
    const c = onnxFolder ? onnxModelConfig(dir) : readConfig(dir);
    const sentence = readSentenceConfig(dir);
    const i = native().info();
    const out = {
      ...(onnxFolder ? { backend: 'onnx', onnxFile: findOnnxFile(dir) } : { backend: 'native' }),
      model: dir,
      modelType: c.modelType,
      dimension: sentenceDimension(sentence, c.hiddenSize),
      hiddenSize: c.hiddenSize,
      pooling: sentence.pooling.join('+'),
      dense: sentence.dense.map((d) => `${d.inFeatures}->${d.outFeatures}`),
      layers: c.numHiddenLayers,
      heads: c.numAttentionHeads,
      maxPositions: c.maxTokens,
      build: { version: i.version, compiler: i.compiler },
      cuda: native().cudaInfo(cudaLibrary()),
      onnxruntime: native().onnxInfo(onnxruntimeLibrary()),
      cpu: { brand: i.cpu, flags: i.cpuFlags, kernels: i.isa, int8Kernels: i.int8Isa, int8Available: i.int8Isas, bf16: i.bf16, available: i.isas, physicalCores: i.physicalCores },
      threads: i.threads,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  });

program
  .command('serve')
  .description('HTTP server: HF text-embeddings-inference routes and OpenAI /v1/embeddings, with dynamic batching')
  .option('-m, --model <spec>', 'NAME=MODEL, or MODEL: a directory or a Hub id (repeatable; the first is the default model)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--port <port>', 'port (0: any free one)', portOption, 8080)
  .option('-p, --precision <p>', 'fp32 (default), int8, bf16, or fp8 (CUDA only)', 'fp32')
  .option('-d, --device <d>', "cpu (default), cuda (falls back to the CPU, saying why) or auto", 'cpu')
  .option('-t, --threads <n>', 'engine threads (default: physical cores within the CPU quota)', intOption)
  .option('--max-batch-tokens <n>', 'tokens per engine batch', intOption, 16384)
  .option('--max-batch-requests <n>', 'requests per engine batch', intOption, 256)
  .option('--max-wait-ms <n>', 'how long a partial batch waits for company while the engine is idle (0: it runs at once)', intOption, 0)
  .option('--max-batches-in-flight <n>', 'engine batches per model at once; those past the first only when full (default: 2 on a GPU, 1 on the CPU)', intOption)
  .option('--max-concurrent-requests <n>', 'pending requests per model before answering 429', intOption, 512)
  .option('--max-client-batch-size <n>', 'inputs per request', intOption, 64)
  .option('--max-body-bytes <n>', 'request body limit', intOption, 4 * 1024 * 1024)
  .option('--payload-limit <n>', "TEI's name for --max-body-bytes", intOption)
  .option('--api-key <key>', 'require "Authorization: Bearer <key>" on every route but /health')
  .option('--headers-timeout-ms <n>', 'close a connection whose request headers have not all arrived after this long', intOption, 10000)
  .option('--request-timeout-ms <n>', 'close a connection whose whole request (body included) has not arrived after this long', intOption, 60000)
  .option('--keep-alive-timeout-ms <n>', 'close an idle keep-alive connection after this long', intOption, 5000)
  .option('--max-connections <n>', 'open connections at most (one more is closed at once)', intOption, 1024)
  .option('--auto-truncate', 'cut inputs longer than the model takes instead of answering 413, on every route')
  .option('--backend <b>', "native (bertrt's engine on the checkpoint) or onnx (the folder's ONNX file on onnxruntime); default: native when there is a checkpoint")
  .option('--onnx-file <f>', 'the ONNX file inside the model folder (e.g. onnx/model_quantized.onnx); implies --backend onnx')
  .option('--onnx-output <name>', "the graph output to read (default: sentence_embedding, else last_hidden_state)")
  .action(async (opts: Record<string, any>) => {
    const { createServer } = await import('./server/app');
    const { backendOptions } = await import('./cli-embed');
    const engine = backendOptions(opts);
    const { DEFAULT_MODEL } = await import('./model/resolve');
    const specs = (opts.model as string[]).length ? (opts.model as string[]) : [];
    const models = specs.map((s) => {
      const eq = s.indexOf('=');
      return eq > 0 ? { name: s.slice(0, eq), dir: s.slice(eq + 1), ...engine } : { name: s.split('@')[0].split('/').filter(Boolean).pop() ?? s, dir: s, ...engine };
    });
    if (models.length === 0) models.push({ name: DEFAULT_MODEL, dir: undefined as unknown as string, ...engine });
    const server = await createServer({
      models,
      precision: opts.precision,
      device: opts.device,
      threads: opts.threads,
      maxBatchTokens: opts.maxBatchTokens,
      maxBatchRequests: opts.maxBatchRequests,
      maxWaitMs: opts.maxWaitMs,
      maxBatchesInFlight: opts.maxBatchesInFlight,
      maxConcurrentRequests: opts.maxConcurrentRequests,
      maxClientBatchSize: opts.maxClientBatchSize,
      maxBodyBytes: opts.payloadLimit ?? opts.maxBodyBytes,
      apiKey: opts.apiKey,
      headersTimeoutMs: opts.headersTimeoutMs,
      requestTimeoutMs: opts.requestTimeoutMs,
      keepAliveTimeoutMs: opts.keepAliveTimeoutMs,
      maxConnections: opts.maxConnections,
      autoTruncate: opts.autoTruncate === true,
    });
    const address = await server.app.listen({ host: opts.host, port: opts.port });
    const i = native().info();
    process.stderr.write(
      `bertrt ${i.version} serving ${models.map((m) => m.name).join(', ')} on ${address} ` +
        `(precision ${opts.precision}, ${i.threads} threads, kernels ${opts.precision === 'int8' ? i.int8Isa : i.isa}${opts.apiKey ? ', bearer key required' : ''})\n`,
    );
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`bertrt: ${signal}: finishing in-flight requests\n`);
      server.close().then(
        () => process.exit(0),
        (e: unknown) => {
          process.stderr.write(`bertrt: shutdown failed: ${String(e)}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('pull')
  .description('download a model from the Hub into the shared Hub cache (what `embed` and `serve` would fetch) and print its folder')
  .argument('<id>', 'Hub id, org/name[@revision]')
  .option('-r, --revision <rev>', 'branch, tag or commit (default main)')
  .option('--tokenizer-only', "only the tokenizer's files")
  .action(async (id: string, opts: { revision?: string; tokenizerOnly?: boolean }) => {
    const dir = await resolveModel(id, { revision: opts.revision }, opts.tokenizerOnly ? 'tokenizer' : 'model');
    process.stdout.write(dir + '\n');
  });

program
  .command('models')
  .description('list the models in the Hub cache: id, revisions, size, last used')
  .option('--json', 'as JSON')
  .action(async (opts: { json?: boolean }) => {
    const { listCache } = await import('./hub/cache');
    const { hubCacheDir } = await import('./hub/hub');
    const list = listCache();
    if (opts.json) {
      process.stdout.write(JSON.stringify(list.map((m) => ({ ...m, lastUsed: m.lastUsed.toISOString() })), null, 2) + '\n');
      return;
    }
    process.stdout.write(`${hubCacheDir()}\n`);
    if (!list.length) process.stdout.write('  (empty)\n');
    for (const m of list) {
      const revs = Object.entries(m.refs).map(([r, c]) => `${r}=${c.slice(0, 8)}`);
      const pinned = m.commits.filter((c) => !Object.values(m.refs).includes(c)).map((c) => c.slice(0, 8));
      process.stdout.write(`  ${m.id.padEnd(40)} ${[...revs, ...pinned].join(',').padEnd(24)} ${(m.bytes / 1e6).toFixed(1).padStart(9)} MB  ${m.lastUsed.toISOString().slice(0, 19).replace('T', ' ')}\n`);
    }
  });

program
  .command('rm')
  .description('delete a model (all its revisions) from the Hub cache')
  .argument('<id>', 'Hub id, org/name')
  .action(async (id: string) => {
    const { removeFromCache } = await import('./hub/cache');
    const m = removeFromCache(id);
    process.stdout.write(`removed ${m.id} (${(m.bytes / 1e6).toFixed(1)} MB)\n`);
  });

program
  .command('bench')
  .description('kernel microbenchmarks against the measured peak and end-to-end sequences/s on this machine; with --accuracy, how close a reduced precision comes to FP32 on your texts')
  .option('-m, --model <model>', MODEL_HELP)
  .option('-t, --threads <n>', 'threads (default: physical cores within the CPU quota)', intOption)
  .option('-p, --precision <p>', 'fp32 (default), int8 or bf16', 'fp32')
  .option('--accuracy <file>', 'instead of timing: embed each line of FILE in FP32 and at --precision (int8 when that is fp32) and print cosine and nearest-neighbour agreement as JSON')
  .action(async (opts: { model?: string; threads?: number; precision: string; accuracy?: string }) => {
    const dir = await resolveModel(opts.model);
    if (opts.accuracy !== undefined) {
      let text: string;
      try {
        text = fs.readFileSync(opts.accuracy, 'utf8');
      } catch (e) {
        throw new BertrtError(`cannot read the --accuracy file ${opts.accuracy}: ${(e as Error).message}`, 'E_INVALID_ARGUMENT');
      }
      const texts = text.split('\n').map((t) => t.trim()).filter(Boolean);
      if (texts.length < 2) throw new BertrtError(`${opts.accuracy}: --accuracy needs at least 2 texts (one per line), found ${texts.length}`, 'E_INVALID_ARGUMENT');
      const { compareToFp32 } = await import('./accuracy');
      const r = await compareToFp32(dir, (opts.precision === 'fp32' ? 'int8' : opts.precision) as Precision, texts);
      process.stdout.write(JSON.stringify({ precision: r.precision, texts: r.texts, cosine: r.cosine, top1Agreement: r.top1Agreement, top1ClearMargin: r.top1ClearMargin }, null, 2) + '\n');
      return;
    }
    const { fp32Peak, microbenchBf16, microbenchInt8, microbenchModel, timeAsync } = await import('./bench');
    const { Encoder } = await import('./model/engine');
    const precision = opts.precision as Precision;
    const enc = await Encoder.load(dir, { threads: opts.threads, precision });
    try {
      const i = native().info();
      const int8 = precision === 'int8';
      const peak = int8 ? await native().microbench({ op: 'peak-int8' }) : await fp32Peak();
      process.stdout.write(`${i.cpu}, ${i.physicalCores} cores, ${precision} kernels ${int8 ? i.int8Isa : i.isa}; ${int8 ? 'INT8 VNNI' : 'FP32 FMA'} peak ${peak.gflops.toFixed(1)} G${int8 ? 'OPS' : 'FLOPS'}\n`);
      const tokens = 32 * 128;
      const micro = int8 ? await microbenchInt8(enc.config, tokens) : precision === 'bf16' ? await microbenchBf16(enc.config, tokens) : await microbenchModel(enc.config, tokens, 128);
      for (const r of micro) {
        const perf = r.gflops ? `${r.gflops.toFixed(1)} G${int8 ? 'OPS' : 'FLOPS'}, ${((100 * r.gflops) / peak.gflops).toFixed(0)}% of peak` : `${r.gbps.toFixed(1)} GB/s`;
        process.stdout.write(`  ${r.op.padEnd(15)} ${r.shape.padEnd(20)} ${(r.seconds * 1e3).toFixed(3).padStart(8)} ms  ${perf}\n`);
      }
      for (const [batch, len] of [[1, 16], [8, 128], [32, 128]]) {
        const ids = new Int32Array(batch * len).fill(1996);
        const cuSeqlens = Int32Array.from({ length: batch + 1 }, (_, k) => k * len);
        const t = await timeAsync(() => enc.run({ ids, typeIds: null, cuSeqlens }), 3, 1);
        process.stdout.write(`  encoder ${batch}x${len}: ${(batch / t.median).toFixed(1)} seq/s, ${(t.median * 1e3).toFixed(2)} ms per batch (median)\n`);
      }
    } finally {
      enc.close();
    }
  });

// Standard output closed under us: a reader that left (`bertrt embed … | head`) ends the command quietly, as Unix
// tools do; any other failure (a full disk) is named, not thrown from the stream as an unhandled 'error' event.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') process.stderr.write(`bertrt: cannot write standard output: ${e.message} (E_IO)\n`);
  process.exit(e.code === 'EPIPE' ? 0 : 1);
});

program.parseAsync(process.argv).catch((e: unknown) => {
  const msg = e instanceof BertrtError ? `bertrt: ${e.message} (${e.code})` : `bertrt: ${(e as Error).message ?? e}`;
  process.stderr.write(msg + '\n');
  process.exitCode = e instanceof BertrtError && e.code === 'E_INVALID_ARGUMENT' ? 2 : 1;
});
