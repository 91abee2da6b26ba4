// OpenVINO as a peer of bench/run.ts: a Python child (bench/openvino_peer.py, in tools/.venv with `pip install
// openvino nncf`) that answers batches over a pipe and times each inference call itself. The npm openvino-node
// package cannot be installed here (its postinstall downloads the runtime), hence the child.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import * as zlib from 'node:zlib';
import type { Encoding, Tokenizer } from '../dist/tokenizer/tokenizer';

const root = path.resolve(__dirname, '..');

/** R rows padded to L tokens, flat; what the child feeds OpenVINO. */
export interface PaddedBatch {
  ids: number[];
  mask: number[];
  rows: number;
  len: number;
}

export function padded(encs: Encoding[]): PaddedBatch {
  const len = Math.max(...encs.map((e) => e.ids.length));
  const ids: number[] = [];
  const mask: number[] = [];
  for (const e of encs) {
    for (let j = 0; j < len; j++) {
      ids.push(j < e.ids.length ? e.ids[j] : 0);
      mask.push(j < e.ids.length ? 1 : 0);
    }
  }
  return { ids, mask, rows: encs.length, len };
}

/** NNCF's calibration input for OpenVINO's INT8: 320 texts of the tokenizer corpus (not any benchmark's texts) in
 *  batches of 32, tokenized by `tokenizer`. */
export function calibration(tokenizer: Tokenizer, maxLength: number): PaddedBatch[] {
  const file = path.join(root, 'tests', 'fixtures', 'tokenizer', 'corpus.json.gz');
  const corpus = (JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8')) as string[]).filter((t) => t.split(' ').length >= 4);
  const out: PaddedBatch[] = [];
  for (let i = 0; i < 320; i += 32) out.push(padded(corpus.slice(i, i + 32).map((t) => tokenizer.encode(t, null, { maxLength }))));
  return out;
}

export class OpenVinoPeer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<(line: string) => void> = [];
  private readonly exited: Promise<string>;
  version = '';
  /** the inference precision OpenVINO compiled with (its INFERENCE_PRECISION_HINT) */
  precisionHint = '';
  /** the inference threads it compiled with (its INFERENCE_NUM_THREADS) */
  threads = 0;

  private constructor(python: string) {
    this.child = spawn(python, [path.join(__dirname, 'openvino_peer.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    this.child.stderr.on('data', (d) => (stderr += d));
    createInterface({ input: this.child.stdout }).on('line', (l) => this.waiting.shift()?.(l));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(`the child exited with ${code}: ${stderr.slice(-800)}`)));
  }

  /** The child with the model compiled (threads 0: OpenVINO's default), or null (saying why) where Python, OpenVINO
   *  or the export is missing. */
  static async start(onnx: string, precision: 'fp32' | 'bf16' | 'int8', threads: number, calibration: PaddedBatch[]): Promise<OpenVinoPeer | null> {
    const python = process.env.BERTRT_PYTHON ?? path.join(root, 'tools', '.venv', 'bin', 'python');
    if (!fs.existsSync(python) || !fs.existsSync(onnx)) {
      console.log(`OpenVINO peer skipped: needs ${path.relative(root, python)} with openvino and nncf, and ${path.relative(root, onnx)}`);
      return null;
    }
    const peer = new OpenVinoPeer(python);
    try {
      const r = await peer.ask({ op: 'load', onnx, precision, threads, calibration });
      peer.version = r.version;
      peer.precisionHint = r.precision_hint;
      peer.threads = r.threads;
      return peer;
    } catch (e) {
      console.log(`OpenVINO peer skipped: ${(e as Error).message}`);
      peer.child.kill();
      return null;
    }
  }

  private async ask(msg: object): Promise<any> {
    const line = await Promise.race([
      new Promise<string>((resolve) => {
        this.waiting.push(resolve);
        this.child.stdin.write(JSON.stringify(msg) + '\n');
      }),
      this.exited.then((why) => Promise.reject(new Error(why))),
    ]);
    const r = JSON.parse(line);
    if (r.error) throw new Error(r.error);
    return r;
  }

  /** `calls` back-to-back inferences of one batch (after one untimed call): each call's seconds. */
  async time(batch: PaddedBatch, calls: number): Promise<number[]> {
    return (await this.ask({ op: 'time', batch, calls })).seconds;
  }

  /** The batches' unit-length mean-pooled vectors, and each batch's seconds (inference and pooling). */
  async embed(batches: PaddedBatch[]): Promise<{ seconds: number[]; vectors: Float32Array }> {
    const r = await this.ask({ op: 'embed', batches });
    const b = Buffer.from(r.vectors, 'base64');
    return { seconds: r.seconds, vectors: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)) };
  }

  close(): void {
    this.child.stdin.end();
  }
}
