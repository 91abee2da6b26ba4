// A loaded encoder: config + weights handed to the native engine. Shared by every head.
import { BertrtError, invalidArgument } from '../errors';
import { cudaLibrary, type Device, type NativeEngine, native, type Precision } from '../native';
import { checkEncoderWeights } from './bert';
import { type ModelConfig, readConfig } from './config';
import type { ModelSource } from './resolve';
import { openCheckpoint } from './checkpoint';
import { toNativeTensors } from './safetensors';
import type { Tokenizer } from '../tokenizer/tokenizer';

export interface EngineOptions extends ModelSource {
  /** Threads for this model's inference (default: physical cores). */
  threads?: number;
  /** 'fp32' (default, the reference), 'int8' (weights quantized per channel at load, activations per token) or
   *  'bf16' (bfloat16 GEMM inputs, FP32 sums; CPUs with AVX512-BF16 only, E_UNSUPPORTED elsewhere). */
  precision?: Precision;
  /** 'cpu' (default), 'cuda' (the CUDA backend; if it cannot run, the CPU with a warning saying why) or 'auto'
   *  (CUDA when usable, else the CPU, silently). On CUDA, 'fp32' runs FP16 tensor-core GEMMs with FP32
   *  accumulation, LayerNorm, softmax and residual stream; 'int8' runs INT8 tensor-core GEMMs; 'bf16' is CPU-only. */
  device?: Device;
}

/** A packed batch: sequence i owns tokens [cuSeqlens[i], cuSeqlens[i+1]). */
export interface PackedBatch {
  ids: Int32Array;
  typeIds: Int32Array | null;
  cuSeqlens: Int32Array;
}

export class Encoder {
  #engine: NativeEngine | null;

  private constructor(
    readonly dir: string,
    readonly config: ModelConfig,
    readonly precision: Precision,
    engine: NativeEngine,
  ) {
    this.#engine = engine;
  }

  static async load(dir: string, options: EngineOptions = {}): Promise<Encoder> {
    const threads = options.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0 || threads > 1024) throw invalidArgument('threads must be an integer in [0, 1024]');
    const precision = options.precision ?? 'fp32';
    if (!['fp32', 'int8', 'bf16'].includes(precision)) throw invalidArgument(`precision must be 'fp32', 'int8' or 'bf16', got ${JSON.stringify(precision)}`);
    const config = readConfig(dir);
    const weights = openCheckpoint(dir);
    const tensors = toNativeTensors(weights, config.modelType);
    const file = weights.path;
    checkEncoderWeights(config, tensors, file);
    const device = options.device ?? 'cpu';
    if (!['cpu', 'cuda', 'auto'].includes(device)) throw invalidArgument(`device must be 'cpu', 'cuda' or 'auto', got ${JSON.stringify(device)}`);
    const engine = new (native().Engine)();
    await engine.load(config, weights.files, tensors, threads, precision, device, device === 'cpu' ? '' : cudaLibrary());
    if (device === 'cuda' && engine.deviceNote) process.emitWarning(`bertrt: CUDA is not usable (${engine.deviceNote}); ${dir} runs on the CPU`, 'BertrtWarning');
    return new Encoder(dir, config, precision, engine);
  }

  /** kernel table the GEMMs run on */
  get gemmIsa(): string | undefined {
    return this.#engine?.gemmIsa;
  }

  /** "cpu" or "cuda:0 (<GPU>)" */
  get device(): string | undefined {
    return this.#engine?.device;
  }

  /** Why a CUDA request runs on the CPU ('' when it did not fall back). */
  get deviceNote(): string | undefined {
    return this.#engine?.deviceNote;
  }

  get hiddenSize(): number {
    return this.config.hiddenSize;
  }

  /** Hidden states [tokens × hiddenSize] of a packed batch; runs on the engine's threads. */
  run(batch: PackedBatch): Promise<Float32Array> {
    if (!this.#engine) return Promise.reject(new BertrtError('model is closed', 'E_CLOSED'));
    return this.#engine.run(batch.ids, batch.typeIds, batch.cuSeqlens);
  }

  /** x [rows × hiddenSize] times the word-embedding matrix, plus bias: [rows × vocabSize] scores (the tied MLM
   *  decoder), computed natively from the weights the engine already holds. */
  vocabLogits(x: Float32Array, bias: Float32Array | null): Promise<Float32Array> {
    if (!this.#engine) return Promise.reject(new BertrtError('model is closed', 'E_CLOSED'));
    return this.#engine.vocabLogits(x, bias);
  }

  /** The SPLADE head natively: for each sequence of rows x (cuSeqlens), max (or sum) over its rows of
   *  log(1 + relu(x . word[v] + bias[v])) for every vocabulary entry v: [sequences × vocabSize]. */
  vocabSparse(x: Float32Array, cuSeqlens: Int32Array, bias: Float32Array | null, sum: boolean): Promise<Float32Array> {
    if (!this.#engine) return Promise.reject(new BertrtError('model is closed', 'E_CLOSED'));
    return this.#engine.vocabSparse(x, cuSeqlens, bias, sum);
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
