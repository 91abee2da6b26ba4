// A loaded encoder: config + weights handed to the native engine. Shared by every head.
import { BertrtError, invalidArgument } from '../errors';
import { cudaLibrary, type Device, type NativeEngine, type NativeOnnxEngine, native, onnxruntimeLibrary, type Precision } from '../native';
import { checkEncoderWeights } from './bert';
import { type ModelConfig, readConfig } from './config';
import type { ModelSource } from './resolve';
import { findWeights, openCheckpoint } from './checkpoint';
import { findOnnxFile, onnxModelConfig, type OnnxOptions } from './onnx';
import { toNativeTensors } from './safetensors';
import type { Tokenizer } from '../tokenizer/tokenizer';

export interface EngineOptions extends ModelSource {
  /** Threads for this model's inference (default: the physical cores, at most the CPUs of the affinity mask and of
   *  the cgroup's CPU quota, rounded up). */
  threads?: number;
  /** 'fp32' (default, the reference), 'int8' (weights quantized per channel at load, activations per token),
   *  'bf16' (bfloat16 GEMM inputs, FP32 sums; CPUs with AVX512-BF16 only, E_UNSUPPORTED elsewhere) or 'fp8' (E4M3
   *  weights per channel and activations per token on the CUDA backend only: a GPU of compute capability 8.9 or newer
   *  with cuBLASLt; E_UNSUPPORTED, saying why, anywhere else: there is no CPU fallback for it). */
  precision?: Precision;
  /** 'cpu' (default), 'cuda' (the CUDA backend; if it cannot run, the CPU with a warning saying why) or 'auto'
   *  (CUDA when usable, else the CPU, silently). On CUDA, 'fp32' runs FP16 tensor-core GEMMs with FP32
   *  accumulation, LayerNorm, softmax and residual stream; 'int8' runs INT8 tensor-core GEMMs; 'fp8' FP8 ones (Ada,
   *  Hopper); 'bf16' is CPU-only. */
  device?: Device;
  /** 'native' (bertrt's engine on the checkpoint's weights) or 'onnx' (the folder's ONNX file run by onnxruntime);
   *  default: native when the folder has weights bertrt reads, else ONNX when it has an ONNX file (or `onnx` is given). */
  backend?: 'native' | 'onnx';
  /** The ONNX backend's file, output and onnxruntime library; giving it selects the ONNX backend. */
  onnx?: OnnxOptions;
}

/** What an ONNX-backed encoder runs: the file, the graph's signature, onnxruntime's library and version. */
export interface OnnxInfo {
  file: string;
  signature: string;
  output: string;
  library: string;
  version: string;
}

/** A packed batch: sequence i owns tokens [cuSeqlens[i], cuSeqlens[i+1]). */
export interface PackedBatch {
  ids: Int32Array;
  typeIds: Int32Array | null;
  cuSeqlens: Int32Array;
  /** per sequence, how many of its first tokens are keys (the rest only query: ColBERT's query expansion, the
   *  attention mask's zeros); absent: every token */
  keyLens?: Int32Array;
}

export class Encoder {
  #engine: NativeEngine | NativeOnnxEngine | null;
  #hidden: number;

  private constructor(
    readonly dir: string,
    readonly config: ModelConfig,
    readonly precision: Precision,
    engine: NativeEngine | NativeOnnxEngine,
    /** set when the encoder is an ONNX graph run by onnxruntime */
    readonly onnx: OnnxInfo | null = null,
    /** the engine's thread count (0: the default, every usable core); output heads run on as many */
    readonly threads = 0,
  ) {
    this.#engine = engine;
    this.#hidden = onnx ? (engine as NativeOnnxEngine).width! : config.hiddenSize;
    this.pooled = onnx ? (engine as NativeOnnxEngine).pooled === true : false;
    this.takesTokenTypes = onnx ? (engine as NativeOnnxEngine).tokenTypes === true : config.typeVocabSize > 0;
  }

  /** run() gives one vector per sequence (an ONNX graph's pooled sentence_embedding), not one per token. */
  readonly pooled: boolean;
  /** the engine reads token type ids (pack them) */
  readonly takesTokenTypes: boolean;

  get backend(): 'native' | 'onnx' {
    return this.onnx ? 'onnx' : 'native';
  }

  static async load(dir: string, options: EngineOptions = {}): Promise<Encoder> {
    const threads = options.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0 || threads > 1024) throw invalidArgument('threads must be an integer in [0, 1024]');
    const precision = options.precision ?? 'fp32';
    if (!['fp32', 'int8', 'bf16', 'fp8'].includes(precision)) throw invalidArgument(`precision must be 'fp32', 'int8', 'bf16' or 'fp8', got ${JSON.stringify(precision)}`);
    const device = options.device ?? 'cpu';
    if (!['cpu', 'cuda', 'auto'].includes(device)) throw invalidArgument(`device must be 'cpu', 'cuda' or 'auto', got ${JSON.stringify(device)}`);
    const backend = options.backend ?? (options.onnx !== undefined || (!findWeights(dir) && findOnnxFile(dir)) ? 'onnx' : 'native');
    if (backend !== 'native' && backend !== 'onnx') throw invalidArgument(`backend must be 'native' or 'onnx', got ${JSON.stringify(backend)}`);
    if (backend === 'onnx') return Encoder.loadOnnx(dir, options, threads, precision, device);
    const config = readConfig(dir);
    const weights = openCheckpoint(dir);
    const tensors = toNativeTensors(weights, config.modelType);
    const file = weights.path;
    checkEncoderWeights(config, tensors, file);
    const engine = new (native().Engine)();
    await engine.load(config, weights.files, tensors, threads, precision, device, device === 'cpu' ? '' : cudaLibrary());
    if (device === 'cuda' && engine.deviceNote) process.emitWarning(`bertrt: CUDA is not usable (${engine.deviceNote}); ${dir} runs on the CPU`, 'BertrtWarning');
    return new Encoder(dir, config, precision, engine, null, threads);
  }

  private static async loadOnnx(dir: string, options: EngineOptions, threads: number, precision: Precision, device: Device): Promise<Encoder> {
    const o = options.onnx ?? {};
    if (typeof o !== 'object' || o === null) throw invalidArgument('onnx must be an object: { file?, output?, library? }');
    const file = findOnnxFile(dir, o.file);
    if (!file) throw new BertrtError(`${dir} has no ONNX file (model.onnx, onnx/model.onnx; or name one with onnx.file)`, 'E_MODEL_NOT_FOUND');
    if (precision !== 'fp32') {
      throw new BertrtError(`precision '${precision}' cannot apply to an ONNX file: it runs at the precision it was exported in (pick a quantized file, e.g. onnx.file 'onnx/model_quantized.onnx')`, 'E_UNSUPPORTED');
    }
    if (device === 'cuda') throw new BertrtError("the ONNX backend runs on the CPU; device 'cuda' is for the native engine", 'E_UNSUPPORTED');
    const config = onnxModelConfig(dir);
    const engine = new (native().OnnxEngine)();
    await engine.load(file, { library: onnxruntimeLibrary(o.library), threads, padId: config.padTokenId, widthHint: config.hiddenSize, output: o.output ?? '' });
    const info: OnnxInfo = { file, signature: engine.signature!, output: engine.output!, library: engine.library!, version: engine.version! };
    return new Encoder(dir, config.hiddenSize > 0 ? config : { ...config, hiddenSize: engine.width! }, precision, engine, info, threads);
  }

  /** kernel table the GEMMs run on (the ONNX backend: "onnxruntime <version>") */
  get gemmIsa(): string | undefined {
    if (this.onnx) return `onnxruntime ${this.onnx.version}`;
    return (this.#engine as NativeEngine | null)?.gemmIsa;
  }

  /** "cpu" or "cuda:0 (<GPU>)" */
  get device(): string | undefined {
    if (this.onnx) return this.#engine ? 'cpu' : undefined;
    return (this.#engine as NativeEngine | null)?.device;
  }

  /** Bytes the native engine holds for the model's weights (an F16 checkpoint run in FP32 keeps its GEMM weights in
   *  16 bits); undefined for the ONNX backend, whose memory onnxruntime owns. */
  get weightBytes(): number | undefined {
    if (this.onnx) return undefined;
    return (this.#engine as NativeEngine | null)?.weightBytes;
  }

  /** Why a CUDA request runs on the CPU ('' when it did not fall back). */
  get deviceNote(): string | undefined {
    if (this.onnx) return this.#engine ? '' : undefined;
    return (this.#engine as NativeEngine | null)?.deviceNote;
  }

  /** Width of run()'s rows: the hidden size (a pooled ONNX graph: its sentence vector's width). */
  get hiddenSize(): number {
    return this.#hidden;
  }

  /** Hidden states [tokens × hiddenSize] of a packed batch (pooled: [sequences × hiddenSize]); runs on the
   *  engine's threads. */
  run(batch: PackedBatch): Promise<Float32Array> {
    if (!this.#engine) return Promise.reject(new BertrtError('model is closed', 'E_CLOSED'));
    if (typeof batch !== 'object' || batch === null) throw new BertrtError('run: the batch must be an object { ids, typeIds, cuSeqlens }', 'E_INVALID_ARGUMENT');
    // a graph without a token_type_ids input is not fed one
    return this.#engine.run(batch.ids, this.onnx && !this.takesTokenTypes ? null : batch.typeIds, batch.cuSeqlens, batch.keyLens ?? null);
  }

  /** The native engine, or why an MLM-decoder feature cannot run (a rejection; the engine's own argument checks
   *  still throw synchronously). */
  #nativeOnly(what: string): NativeEngine | Promise<never> {
    if (!this.#engine) return Promise.reject(new BertrtError('model is closed', 'E_CLOSED'));
    if (this.onnx) return Promise.reject(new BertrtError(`${what} reads the word embeddings, which an ONNX graph does not expose: load the model's checkpoint (backend 'native')`, 'E_UNSUPPORTED'));
    return this.#engine as NativeEngine;
  }

  /** x [rows × hiddenSize] times the word-embedding matrix, plus bias: [rows × vocabSize] scores (the tied MLM
   *  decoder), computed natively from the weights the engine already holds. */
  vocabLogits(x: Float32Array, bias: Float32Array | null): Promise<Float32Array> {
    const e = this.#nativeOnly('the MLM decoder');
    return e instanceof Promise ? e : e.vocabLogits(x, bias);
  }

  /** The SPLADE head natively: for each sequence of rows x (cuSeqlens), max (or sum) over its rows of
   *  log(1 + relu(x . word[v] + bias[v])) for every vocabulary entry v: [sequences × vocabSize]. */
  vocabSparse(x: Float32Array, cuSeqlens: Int32Array, bias: Float32Array | null, sum: boolean): Promise<Float32Array> {
    const e = this.#nativeOnly('the sparse head');
    return e instanceof Promise ? e : e.vocabSparse(x, cuSeqlens, bias, sum);
  }

  close(): void {
    this.#engine?.close();
    this.#engine = null;
  }
}

/** Refuses, at load, a tokenizer that cannot feed this model: an id it can emit past the embedding table, or a
 *  length limit that leaves no room for one token of text beside the special tokens (every call would fail). */
export function checkTokenizerFits(dir: string, config: ModelConfig, tokenizer: Tokenizer, maxLength: number): void {
  if (tokenizer.maxId >= config.vocabSize) {
    throw new BertrtError(`${dir}: the tokenizer can emit token id ${tokenizer.maxId} but the model has only ${config.vocabSize} embeddings`, 'E_MODEL_FORMAT');
  }
  const special = tokenizer.numSpecialTokens(false);
  if (maxLength <= special) {
    throw new BertrtError(`${dir}: the model takes at most ${maxLength} tokens, which leaves no room for text beside its ${special} special tokens`, 'E_MODEL_FORMAT');
  }
}
