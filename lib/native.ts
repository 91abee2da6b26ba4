// Loads the native addon (a prebuild from prebuilds/, else build/Release from a local compile) and types its
// whole surface. Nothing else in lib/ touches the addon object directly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from './errors';

export interface NativeConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenAct: string;
  /** RoBERTa's positions: padding_idx (the pad token's id); absent: BERT's 0, 1, 2, ... */
  paddingIdx?: number;
  /** MPNet's relative attention: buckets (and their max distance); absent: none */
  relativeAttentionBuckets?: number;
  relativeAttentionMaxDistance?: number;
  /** ALBERT, ELECTRA: the embedding tables' width when it is not hiddenSize (then projected) */
  embeddingSize?: number;
  /** ALBERT: layers share the weights of their group (encoder.layer.<group>) */
  layerGroups?: number;
  /** DeBERTa-v2's disentangled attention: span (position_buckets, or max_relative_positions without buckets), the
   *  bucketing's max position, whether rel_embeddings is LayerNormed, whether there is an absolute position table */
  disentangled?: { span: number; buckets: number; maxRelativePositions: number; normRel: boolean; positionTable: boolean };
  /** ModernBERT's block */
  modern?: { normBias: boolean; attentionBias: boolean; mlpBias: boolean; ropeThetaGlobal: number; ropeThetaLocal: number; globalEvery: number; localWindow: number };
  /** NomicBERT, GTE: RoPE in the post-norm layer instead of a position table (theta; ntk: GTE's NTK scaling factor, 1
   *  for none; dynamic: NomicBERT's dynamic NTK scaling of each sequence past `trained` tokens by its own length) */
  rotary?: { theta: number; ntk: number; dynamic?: { factor: number; trained: number } };
  /** a gated FFN: hiddenAct(intermediate.dense(x)) * intermediate.up(x) (SwiGLU with 'silu', GeGLU with 'gelu') */
  gatedFfn?: boolean;
  /** which post-norm linear layers carry biases (absent: all, as BERT): Q/K/V and the attention output, the FFN's
   *  input projections, its output projection */
  biases?: { attention: boolean; mlpIn: boolean; mlpOut: boolean };
}

export interface NativeTensorDesc {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  /** absolute byte offsets in the file */
  begin: number;
  end: number;
  /** index into the weights files given to load (0 when one) */
  file?: number;
}

export interface NativeEngine {
  /** device 'cuda' / 'auto' try libbertrt_cuda.so (at cudaLibrary) first and fall back to the CPU engine. */
  load(
    config: NativeConfig,
    weightsPath: string | string[],
    tensors: NativeTensorDesc[],
    threads: number,
    precision: Precision,
    device?: Device,
    cudaLibrary?: string,
  ): Promise<void>;
  /** Packed batch in, hidden states [tokens × hiddenSize] out. */
  run(ids: Int32Array, typeIds: Int32Array | null, cuSeqlens: Int32Array, keyLens?: Int32Array | null): Promise<Float32Array>;
  /** Rows x [rows × hiddenSize] against the word-embedding matrix (the tied MLM decoder): [rows × vocabSize]. */
  vocabLogits(x: Float32Array, bias: Float32Array | null): Promise<Float32Array>;
  /** The SPLADE head: per sequence of rows (cuSeqlens), max (sum) over its rows of log(1 + relu(x . word + bias)):
   *  [sequences × vocabSize]; the logits are never stored. */
  vocabSparse(x: Float32Array, cuSeqlens: Int32Array, bias: Float32Array | null, sum: boolean): Promise<Float32Array>;
  close(): void;
  readonly hiddenSize: number | undefined;
  readonly weightBytes: number | undefined;
  /** kernel table the GEMMs run on, e.g. "avx512", or "cuda-fp16" / "cuda-int8" */
  readonly gemmIsa: string | undefined;
  /** "cpu" or "cuda:0 (<GPU name, compute capability, memory>)" */
  readonly device: string | undefined;
  /** why a CUDA request runs on the CPU; '' when it did not fall back */
  readonly deviceNote: string | undefined;
}

/** Where inference runs: the CPU engine, the CUDA backend, or CUDA when usable and the CPU otherwise. */
export type Device = 'cpu' | 'cuda' | 'auto';

export interface CudaInfo {
  available: boolean;
  /** the libbertrt_cuda.so that was tried ('' when none was found) */
  library: string;
  /** GPU name, compute capability and memory, when available */
  device: string;
  /** why CUDA is unavailable */
  reason: string;
}

/** What the encoder's GEMMs compute in; LayerNorm, softmax, GELU and the residual stream stay FP32. */
export type Precision = 'fp32' | 'int8' | 'bf16' | 'fp8';

export interface NativeInfo {
  version: string;
  isa: string;
  isas: string[];
  /** kernel table INT8 runs on (AVX-512 needs VNNI) */
  int8Isa: string;
  /** every kernel table whose INT8 kernels run here (BERTRT_ISA can force one) */
  int8Isas: string[];
  /** whether precision 'bf16' can run here (AVX512-BF16) */
  bf16: boolean;
  cpu: string;
  cpuFlags: string;
  physicalCores: number;
  /** the default thread count: physical cores, within the affinity mask and the cgroup's CPU quota */
  usableCpus: number;
  threads: number;
  compiler: string;
}

export interface MicrobenchSpec {
  op: 'peak' | 'peak-int8' | 'gemm' | 'gemm_s8' | 'gemm_bf16' | 'quantize' | 'attention' | 'attention_bf16' | 'layernorm';
  /** kernel table to use (default: the one in use) */
  isa?: string;
  m?: number;
  n?: number;
  k?: number;
  gelu?: boolean;
  /** gemm: weights that are exact halves, kept in 16 bits and widened in the GEMM (as an F16 checkpoint's) */
  halves?: boolean;
  batch?: number;
  len?: number;
  heads?: number;
  headDim?: number;
  /** attention: a sliding window, |i - j| <= window (0: global) */
  window?: number;
  rows?: number;
  hidden?: number;
  minSeconds?: number;
}

export interface MicrobenchResult {
  op: string;
  isa: string;
  shape: string;
  /** best single call */
  seconds: number;
  gflops: number;
  gbps: number;
}

/** An ONNX graph run by onnxruntime through its C API on bertrt's job thread (native/onnx). */
export interface NativeOnnxEngine {
  load(path: string, options: { library: string; threads: number; padId: number; widthHint: number; output: string }): Promise<void>;
  /** Packed batch in (padded per batch inside); hidden states [tokens × width], or [sequences × width] when pooled. */
  run(ids: Int32Array, typeIds: Int32Array | null, cuSeqlens: Int32Array, keyLens?: Int32Array | null): Promise<Float32Array>;
  close(): void;
  /** the output is one vector per sequence (sentence_embedding), not one per token */
  readonly pooled: boolean | undefined;
  readonly width: number | undefined;
  /** the graph takes token_type_ids */
  readonly tokenTypes: boolean | undefined;
  /** the output read */
  readonly output: string | undefined;
  /** inputs and the output read, e.g. "input_ids:int64[?,?], attention_mask:int64[?,?] -> last_hidden_state:float32[?,?,384]" */
  readonly signature: string | undefined;
  /** the onnxruntime library file and its version */
  readonly library: string | undefined;
  readonly version: string | undefined;
}

export interface OnnxRuntimeInfo {
  available: boolean;
  library: string;
  version: string;
  /** the C API version this build asks onnxruntime for */
  apiVersion: number;
  reason: string;
}

/** One dense layer of an output head, packed once for the FP32 GEMM (see native/addon: Linear). */
export interface NativeLinear {
  run(x: Float32Array, threads: number): Promise<Float32Array>;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

export interface NativeAddon {
  Engine: new () => NativeEngine;
  Linear: new (weight: Float32Array, n: number, k: number, bias: Float32Array | null, activation: 'none' | 'gelu' | 'gelu_tanh') => NativeLinear;
  OnnxEngine: new () => NativeOnnxEngine;
  onnxInfo(library: string): OnnxRuntimeInfo;
  setErrorClass(cls: typeof BertrtError): void;
  info(): NativeInfo;
  microbench(spec: MicrobenchSpec): Promise<MicrobenchResult>;
  cudaInfo(library: string): CudaInfo;
}

export const packageRoot = path.resolve(__dirname, '..');

/** The CUDA backend library: $BERTRT_CUDA_LIB, else the prebuilt one for this platform, else a local
 *  `npm run build:cuda` build; '' when there is none. */
export function cudaLibrary(): string {
  if (process.env.BERTRT_CUDA_LIB) return process.env.BERTRT_CUDA_LIB;
  const candidates = [
    path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'libbertrt_cuda.so'),
    path.join(packageRoot, 'build', 'cuda', 'libbertrt_cuda.so'),
  ];
  return candidates.find((c) => fs.existsSync(c)) ?? '';
}

/** onnxruntime for the ONNX backend, in order: `explicit`, $BERTRT_ONNXRUNTIME, the library of the onnxruntime-node
 *  package when it is installed, else '' (the system's libonnxruntime.so.1). */
export function onnxruntimeLibrary(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.BERTRT_ONNXRUNTIME) return process.env.BERTRT_ONNXRUNTIME;
  let pkg: string;
  try {
    pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  } catch {
    return '';
  }
  const file = process.platform === 'win32' ? 'onnxruntime.dll' : process.platform === 'darwin' ? 'libonnxruntime.dylib' : 'libonnxruntime.so.1';
  const bin = path.join(pkg, 'bin');
  let napis: string[] = [];
  try {
    napis = fs.readdirSync(bin).filter((d) => d.startsWith('napi-v')).sort().reverse();
  } catch {
    return '';
  }
  for (const n of napis) {
    const f = path.join(bin, n, process.platform, process.arch, file);
    if (fs.existsSync(f)) return f;
  }
  return '';
}

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => unknown;
    addon = load(packageRoot) as NativeAddon;
  } catch (e) {
    throw new BertrtError(
      `bertrt's native addon could not be loaded (${(e as Error).message}). ` +
        'No prebuild matches this platform and no local build exists: run `npm run build` (needs cmake and a C++17 compiler).',
      'E_NATIVE_UNAVAILABLE',
    );
  }
  addon.setErrorClass(BertrtError);
  return addon;
}
