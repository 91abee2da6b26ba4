// `bertrt embed`: texts from the arguments, or streamed from a file or standard input one line at a time (plain
// text or a JSONL field), embedded in groups of --batch-lines, written in input order as JSONL, one JSON array or
// a float32 .npy matrix. Memory stays constant in the input's size: a group is read, embedded and written (with
// the output's backpressure respected) before the next is read. On a terminal, stderr shows a progress bar (texts,
// texts/s, tokens/s, and the share read with an ETA when the input is a file); otherwise, and at the end, one
// summary line.
import { SingleBar } from 'cli-progress';
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { Embedder, type EmbedOptions } from './embedder';
import { BertrtError, invalidArgument } from './errors';
import { lengthPastLimit, policyOptions } from './truncate';
import { type EmbeddingPrecision, quantizeEmbeddings } from './quantize';
import { PRECISIONS } from './server/formats';
import type { Device, Precision } from './native';
import type { EngineOptions } from './model/engine';

export interface EmbedCliOptions {
  model?: string;
  input?: string;
  field?: string;
  output?: string;
  format?: string;
  truncate: string;
  promptName?: string;
  dimensions?: number;
  batchLines: number;
  batchTokens?: number;
  shard?: string;
  normalize: boolean;
  threads?: number;
  precision: string;
  device: string;
  backend?: string;
  onnxFile?: string;
  onnxOutput?: string;
  quantize?: string;
  calibration?: string;
  outputs?: string;
  query?: boolean;
}

/** Lines --calibration may hold: the ranges come from their embeddings, held in memory at once. */
export const MAX_CALIBRATION_LINES = 100_000;

/** --backend / --onnx-file / --onnx-output as EngineOptions. */
export function backendOptions(opts: { backend?: string; onnxFile?: string; onnxOutput?: string }): Pick<EngineOptions, 'backend' | 'onnx'> {
  const out: Pick<EngineOptions, 'backend' | 'onnx'> = {};
  if (opts.backend !== undefined) out.backend = opts.backend as EngineOptions['backend'];
  if (opts.onnxFile !== undefined || opts.onnxOutput !== undefined) out.onnx = { file: opts.onnxFile, output: opts.onnxOutput };
  return out;
}

/** "i/n" → [i, n] with 0 <= i < n. */
export function parseShard(v: string | undefined): [number, number] {
  if (v === undefined) return [0, 1];
  const m = /^(\d+)\/(\d+)$/.exec(v);
  const [i, n] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(n >= 1) || !(i >= 0 && i < n)) throw invalidArgument(`--shard must be i/n with 0 <= i < n (got ${JSON.stringify(v)})`);
  return [i, n];
}

/** The .npy header (format 1.0) of a little-endian float32 [rows × cols] matrix, padded to 128 bytes so a
 *  header rewritten with the final row count has the same length. */
function npyHeader(rows: number, cols: number, descr = '<f4'): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  const total = 128;
  const head = Buffer.alloc(total, 0x20);
  Buffer.from([0x93]).copy(head, 0);
  head.write('NUMPY', 1, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(total - 10, 8);
  head.write(dict, 10, 'latin1');
  head[total - 1] = 0x0a;
  return head;
}

/** E_IO for a failed output stream (a full disk, a file that cannot be written), its cause kept. */
function outputError(err: Error): BertrtError {
  return new BertrtError(`cannot write the output: ${err.message}`, 'E_IO', { cause: err });
}

/** One chunk, waiting for 'drain' when the stream asks; once the stream has failed this rejects with E_IO, where a
 *  wait for a 'drain' that will not come would hang. */
async function write(out: Writable, chunk: string | Buffer): Promise<void> {
  if (out.errored) throw outputError(out.errored);
  if (out.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const settle = (err?: Error) => {
      out.off('drain', drained);
      out.off('error', settle);
      if (err) reject(outputError(err));
      else resolve();
    };
    const drained = () => settle();
    out.once('drain', drained);
    out.once('error', settle);
  });
}

/** --output opened before the model loads, so that a path that cannot be written fails at once with E_IO. Its
 *  errors are read from `errored` by write(); the listener keeps one from going unhandled between writes. */
function openOutput(file: string): Writable {
  let fd: number;
  try {
    fd = fs.openSync(file, 'w');
  } catch (err) {
    throw new BertrtError(`cannot write --output ${file}: ${(err as Error).message}`, 'E_IO', { cause: err });
  }
  return fs.createWriteStream('', { fd }).on('error', () => {});
}

/** Longest input line taken (bytes): a line is held whole while it is read, so this bounds the reader's memory. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** The input's lines split on '\n' bytes (a '\r' before one is dropped), decoded as UTF-8 only when this shard
 *  takes them; `read.bytes` counts every byte consumed, skipped lines included, for the progress bar. One chunk and
 *  one partial line are held at a time, and the stream is read only as fast as the lines are taken. */
async function* rawLines(input: Readable, shard: [number, number], read: { bytes: number }): AsyncGenerator<[number, string]> {
  let carry: Buffer[] = [];
  let carried = 0;
  let n = 0;
  const take = (line: Buffer): [number, string] | null => {
    const k = n++;
    if (k % shard[1] !== shard[0]) return null;
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
    return [k, line.toString('utf8', 0, end)];
  };
  const chunks = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Buffer | string>;
      try {
        next = await chunks.next();
      } catch (e) {
        // a read that fails (a directory, an I/O error): E_IO naming the input, as for the output
        throw new BertrtError(`cannot read the input: ${(e as Error).message}`, 'E_IO', { cause: e });
      }
      if (next.done) break;
      const chunk = next.value;
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let pos = 0;
      for (let nl = buf.indexOf(0x0a, pos); nl !== -1; nl = buf.indexOf(0x0a, pos)) {
        const piece = buf.subarray(pos, nl);
        const line = carried > 0 ? Buffer.concat([...carry, piece]) : piece;
        carry = [];
        carried = 0;
        pos = nl + 1;
        read.bytes += line.length + 1;
        const t = take(line);
        if (t) yield t;
      }
      if (pos < buf.length) {
        carry.push(buf.subarray(pos));
        carried += buf.length - pos;
        if (carried > MAX_LINE_BYTES) throw invalidArgument(`input line ${n + 1} is longer than ${MAX_LINE_BYTES} bytes`);
      }
    }
  } finally {
    await chunks.return?.(); // a stop before the end (a refused line, a failed write) closes the input too
  }
  if (carried > 0) {
    read.bytes += carried;
    const t = take(Buffer.concat(carry));
    if (t) yield t;
  }
}

/** The texts of this shard: each line, or each JSONL line's string `field`. */
async function* lines(input: Readable, field: string | undefined, shard: [number, number], read: { bytes: number }): AsyncGenerator<string> {
  for await (const [k, line] of rawLines(input, shard, read)) {
    if (field === undefined) {
      yield line;
      continue;
    }
    let v: unknown;
    try {
      v = (JSON.parse(line) as Record<string, unknown>)[field];
    } catch (e) {
      throw invalidArgument(`input line ${k + 1} is not JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'string') throw invalidArgument(`input line ${k + 1} has no string field "${field}"`);
    yield v;
  }
}

export async function embedCommand(args: string[], opts: EmbedCliOptions): Promise<void> {
  if (args.length > 0 && opts.input !== undefined) throw invalidArgument('embed: give texts as arguments or --input, not both');
  if (args.length === 0 && opts.input === undefined) throw invalidArgument('embed: no texts (give them as arguments, or --input FILE, or --input - for standard input)');
  const format = opts.format ?? (opts.input !== undefined ? 'jsonl' : 'json');
  if (!['jsonl', 'json', 'npy'].includes(format)) throw invalidArgument(`--format must be jsonl, json or npy (got ${JSON.stringify(format)})`);
  if (format === 'npy' && opts.output === undefined) throw invalidArgument('--format npy needs --output FILE (its header holds the row count, written last)');
  if (!['right', 'left', 'error', 'chunk'].includes(opts.truncate)) throw invalidArgument(`--truncate must be right, left, error or chunk (got ${JSON.stringify(opts.truncate)})`);
  if (opts.batchLines < 1) throw invalidArgument('--batch-lines must be at least 1');
  if (opts.batchTokens !== undefined && !(opts.batchTokens >= 1 && opts.batchTokens <= 1 << 18)) throw invalidArgument('--batch-tokens must be in [1, 262144]');
  const quantize = opts.quantize ?? 'float32';
  if (!(PRECISIONS as string[]).includes(quantize)) throw invalidArgument(`--quantize must be int8, uint8, binary or ubinary (got ${JSON.stringify(opts.quantize)})`);
  if ((quantize === 'int8' || quantize === 'uint8') && opts.calibration === undefined) {
    throw invalidArgument(`--quantize ${quantize} needs --calibration FILE: texts whose embeddings give every dimension's range, so that every group of the job gets the same buckets`);
  }
  if (opts.calibration !== undefined && quantize !== 'int8' && quantize !== 'uint8') throw invalidArgument('--calibration applies to --quantize int8 or uint8 only');
  // --outputs: one JSON object per text with the outputs asked for (Embedder.encode: one forward pass)
  const outputs = (opts.outputs ?? 'dense').split(',').map((s) => s.trim());
  if (outputs.length === 0 || !outputs.every((o) => o === 'dense' || o === 'sparse' || o === 'colbert') || new Set(outputs).size < outputs.length) {
    throw invalidArgument(`--outputs must list dense, sparse and colbert, comma-separated, each once (got ${JSON.stringify(opts.outputs)})`);
  }
  const multi = !(outputs.length === 1 && outputs[0] === 'dense');
  if (multi && format === 'npy') throw invalidArgument('--outputs with sparse or colbert writes JSON objects: use --format jsonl or json');
  if (multi && quantize !== 'float32') throw invalidArgument('--quantize applies to dense vectors alone (--outputs dense)');
  if (multi && opts.truncate === 'chunk') throw invalidArgument('--truncate chunk applies to dense vectors alone (--outputs dense)');
  if (opts.query && !multi) throw invalidArgument('--query applies to ColBERT vectors (--outputs colbert)');
  const shard = parseShard(opts.shard);
  const embedOptions: EmbedOptions = {
    normalize: opts.normalize,
    truncate: opts.truncate as EmbedOptions['truncate'],
    promptName: opts.promptName,
    truncateDim: opts.dimensions,
    batchTokens: opts.batchTokens,
  };

  let input: Readable | null = null;
  if (opts.input !== undefined) {
    if (opts.input === '-') input = process.stdin;
    else {
      try {
        fs.accessSync(opts.input, fs.constants.R_OK);
      } catch (e) {
        throw invalidArgument(`cannot read --input ${opts.input}: ${(e as Error).message}`);
      }
      input = fs.createReadStream(opts.input);
    }
  }
  const out: Writable = opts.output !== undefined ? openOutput(opts.output) : process.stdout;
  let e: Embedder;
  try {
    e = await Embedder.load(opts.model, { threads: opts.threads, precision: opts.precision as Precision, device: opts.device as Device, ...backendOptions(opts) });
  } catch (err) {
    if (out !== process.stdout) out.destroy();
    throw err;
  }
  const t0 = performance.now();
  let count = 0;
  let cut = 0;
  let tokens = 0;
  const read = { bytes: 0 };
  const progress = input && process.stderr.isTTY ? new Progress(input instanceof fs.ReadStream ? fs.statSync(opts.input!).size : 0) : null;
  embedOptions.onTokens = (n) => (tokens += n);
  const max = e.maxSeqLength;
  const dim = opts.dimensions ?? e.dimension;
  const width = quantize === 'binary' || quantize === 'ubinary' ? Math.ceil(dim / 8) : dim;
  const descr = quantize === 'float32' ? '<f4' : quantize === 'int8' || quantize === 'binary' ? '|i1' : '|u1';
  let calibration: Float32Array[] | undefined;
  if (opts.calibration !== undefined) {
    let lines: string[];
    try {
      lines = fs.readFileSync(opts.calibration, 'utf8').split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0);
    } catch (err) {
      await e.close();
      throw invalidArgument(`cannot read --calibration ${opts.calibration}: ${(err as Error).message}`);
    }
    if (lines.length < 2 || lines.length > MAX_CALIBRATION_LINES) {
      await e.close();
      throw invalidArgument(`--calibration needs 2 to ${MAX_CALIBRATION_LINES} non-empty lines (${opts.calibration} has ${lines.length})`);
    }
    calibration = await e.embed(lines, { ...embedOptions, onTokens: undefined });
  }
  const quantized = (vecs: Float32Array[]): Array<Float32Array | Int8Array | Uint8Array> =>
    quantize === 'float32' ? vecs : quantizeEmbeddings(vecs, quantize as EmbeddingPrecision, { calibration });
  try {
    const texts: AsyncIterable<string> | string[] = input ? lines(input, opts.field, shard, read) : args.filter((_, k) => k % shard[1] === shard[0]);
    if (format === 'npy') await write(out, npyHeader(0, width, descr));
    if (format === 'json') await write(out, '[');
    // One group's vectors are written while the next group runs on the engine's threads: serializing and writing
    // (main thread) overlap with inference (the engine's pool) instead of taking turns with it.
    const room = max - e.tokenizer.numSpecialTokens(false);
    const writeVecs = async (floats: Float32Array[] | string[]) => {
      if (typeof floats[0] === 'string') {
        const sep = format === 'json' ? ',' : '\n';
        await write(out, (format === 'json' && count > 0 ? ',' : '') + floats.join(sep) + (format === 'jsonl' ? '\n' : ''));
        count += floats.length;
        progress?.update(count, tokens, read.bytes);
        return;
      }
      const vecs = quantized(floats as Float32Array[]);
      if (format === 'npy') {
        await write(out, Buffer.concat(vecs.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength))));
      } else {
        const sep = format === 'json' ? ',' : '\n';
        const body = vecs.map((v) => JSON.stringify(Array.from(v))).join(sep);
        await write(out, (format === 'json' && count > 0 ? ',' : '') + body + (format === 'jsonl' ? '\n' : ''));
      }
      count += vecs.length;
      progress?.update(count, tokens, read.bytes);
    };
    const prompt = opts.promptName !== undefined ? e.prompts[opts.promptName] : undefined;
    if (multi && opts.promptName !== undefined && prompt === undefined) throw invalidArgument(`unknown --prompt-name ${JSON.stringify(opts.promptName)} (the model defines: ${Object.keys(e.prompts).join(', ') || 'none'})`);
    const encodeGroup = async (g: string[]): Promise<string[]> => {
      const r = await e.encode(g, {
        dense: outputs.includes('dense'),
        sparse: outputs.includes('sparse'),
        colbert: outputs.includes('colbert'),
        isQuery: opts.query === true,
        normalize: opts.normalize,
        truncate: opts.truncate as 'right' | 'left' | 'error',
        prompt,
        batchTokens: opts.batchTokens,
        onTokens: (n) => (tokens += n),
      });
      return g.map((_, i) =>
        JSON.stringify({
          ...(r.dense ? { dense: Array.from(r.dense[i]) } : {}),
          ...(r.sparse ? { sparse: { indices: Array.from(r.sparse[i].indices), values: Array.from(r.sparse[i].values) } } : {}),
          ...(r.colbert ? { colbert: Array.from({ length: r.colbert[i].rows }, (_, k) => Array.from(r.colbert![i].data.subarray(k * r.colbert![i].dim, (k + 1) * r.colbert![i].dim))) } : {}),
        }),
      );
    };
    let inFlight: Promise<Float32Array[] | string[]> | null = null;
    let group: string[] = [];
    const flush = async () => {
      if (group.length === 0) return;
      const g = group;
      group = [];
      // the texts the policy will cut, counted for the summary: tokenizing stops one token past the limit, and a
      // text of fewer UTF-16 units than the limit's text tokens cannot pass it (every token spans one at least)
      if (opts.truncate === 'right' || opts.truncate === 'left') {
        for (const t of g) if (t.length > room && lengthPastLimit(await e.tokenizer.encodeAsync(t, null, policyOptions(max, 'error')), max)) cut++;
      }
      const next: Promise<Float32Array[] | string[]> = multi ? encodeGroup(g) : e.embed(g, embedOptions);
      next.catch(() => {}); // awaited below; marked handled so a failure while the previous group is written is not "unhandled"
      if (inFlight) await writeVecs(await inFlight);
      inFlight = next;
    };
    for await (const t of texts) {
      group.push(t);
      if (group.length >= opts.batchLines) await flush();
    }
    await flush();
    if (inFlight) await writeVecs(await inFlight);
    if (format === 'json') await write(out, ']\n');
  } finally {
    progress?.stop();
    await e.close();
    if (out !== process.stdout) {
      if (out.errored) out.destroy();
      else await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(outputError(err)) : resolve())));
    }
  }
  if (format === 'npy') {
    // the real row count, over the placeholder
    const fd = fs.openSync(opts.output!, 'r+');
    try {
      fs.writeSync(fd, npyHeader(count, width, descr), 0, 128, 0);
    } finally {
      fs.closeSync(fd);
    }
  }
  const s = (performance.now() - t0) / 1000;
  if (opts.input !== undefined || cut > 0) {
    const note = cut > 0 ? `; ${cut} longer than ${max} tokens, cut from the ${opts.truncate} (--truncate error refuses them)` : '';
    const rate = (n: number) => (n / Math.max(s, 1e-9)).toFixed(0);
    process.stderr.write(`bertrt: embedded ${count} texts (${tokens} tokens) in ${s.toFixed(1)} s (${rate(count)} texts/s, ${rate(tokens)} tokens/s)${note}\n`);
  }
}

/** The terminal progress bar (cli-progress) on stderr: by bytes read when the input's size is known (then with
 *  a percentage and an ETA), else counts and rates only. */
class Progress {
  private readonly bar: SingleBar;
  private readonly t0 = performance.now();

  constructor(private readonly size: number) {
    const rates = '{texts} texts | {textRate} texts/s | {tokenRate} tokens/s';
    this.bar = new SingleBar({
      stream: process.stderr,
      format: size > 0 ? `{bar} {percentage}% | ${rates} | ETA {eta_formatted}` : `${rates} | {duration_formatted}`,
      etaBuffer: 20,
      fps: 5,
      hideCursor: true,
      clearOnComplete: false,
    });
    this.bar.start(size > 0 ? size : 1, 0, { texts: 0, textRate: 0, tokenRate: 0 });
  }

  update(texts: number, tokens: number, bytes: number): void {
    const s = Math.max((performance.now() - this.t0) / 1000, 1e-9);
    this.bar.update(this.size > 0 ? Math.min(bytes, this.size) : 0, { texts, textRate: Math.round(texts / s), tokenRate: Math.round(tokens / s) });
  }

  stop(): void {
    if (this.size > 0) this.bar.update(this.size);
    this.bar.stop();
  }
}

