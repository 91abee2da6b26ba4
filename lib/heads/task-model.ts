// A BERT model with its task head: the encoder runs natively; the head's (small) weights are read from the same
// safetensors file into TS, where the head math runs. A task that needs tensors the file lacks fails with
// E_MODEL_FORMAT naming them.
import { pack } from '../batch';
import { BertrtError } from '../errors';
import { checkTokenizerFits, Encoder, type EngineOptions } from '../model/engine';
import { resolveModel } from '../model/resolve';
import { openCheckpoint } from '../model/checkpoint';
import { readTensor, type SafetensorsHeader } from '../model/safetensors';
import { type Encoding, Tokenizer, type TruncationStrategy } from '../tokenizer/tokenizer';
import { encodeWithin, type Truncate } from '../truncate';
import type { HeadActivation } from '../model/families';
import { gelu, geluTanh, layerNorm, linear } from './math';

/** The activation a head names, resolved through the config where it points there (hidden_act, ...; NomicBERT's
 *  remote-code configs call SiLU's gated form activation_function "swiglu"). */
export function activationName(act: HeadActivation, raw: Record<string, unknown>): string {
  const fn = raw.activation_function === 'swiglu' ? 'silu' : raw.activation_function;
  return act === 'classifier_activation' ? String(raw.classifier_activation ?? 'gelu')
    : act === 'pooler_hidden_act' ? String(raw.pooler_hidden_act ?? 'gelu')
    : act === 'hidden_act' ? String(raw.hidden_act ?? raw.activation ?? fn ?? 'gelu')
    : act;
}

const ACTIVATIONS: Record<string, (v: number) => number> = {
  tanh: Math.tanh,
  relu: (v: number) => Math.max(v, 0),
  gelu,
  gelu_new: geluTanh,
  gelu_pytorch_tanh: geluTanh,
  silu: (v: number) => v / (1 + Math.exp(-v)),
};

export function activation(act: HeadActivation, raw: Record<string, unknown>): (v: number) => number {
  const name = activationName(act, raw);
  if (!Object.hasOwn(ACTIVATIONS, name)) {
    throw new BertrtError(`head activation "${name}" is not supported (${Object.keys(ACTIVATIONS).join(', ')})`, 'E_UNSUPPORTED');
  }
  return ACTIVATIONS[name];
}

export type { Truncate } from '../truncate';

/** The checkpoint a head's tensors come from. An ONNX-backed encoder serves heads when it gives every token's hidden
 *  state and the folder also has the checkpoint the head weights live in. */
function headWeights(encoder: Encoder): SafetensorsHeader {
  // a graph with its own head (optimum's classification export: output logits [batch, labels]) needs no weights
  if (graphHeadOf(encoder)) return { path: encoder.onnx!.file, files: [], fileSize: 0, metadata: {}, tensors: new Map() };
  if (encoder.pooled) {
    throw new BertrtError(`${encoder.dir}: the ONNX graph's output '${encoder.onnx?.output}' is one vector per text; task heads read every token's hidden state (onnx.output 'last_hidden_state') or a classifier's logits`, 'E_UNSUPPORTED');
  }
  return openCheckpoint(encoder.dir);
}

/** An ONNX graph whose one-row-per-text output is a sequence classifier's logits. */
function graphHeadOf(encoder: Encoder): boolean {
  return encoder.pooled && (encoder.onnx?.output === 'logits' || encoder.config.architectures.some((a) => a.endsWith('ForSequenceClassification')));
}

export class TaskModel {
  private constructor(
    readonly encoder: Encoder,
    readonly tokenizer: Tokenizer,
    private readonly header: SafetensorsHeader,
    private readonly runner: ((encodings: Encoding[]) => Promise<Float32Array[]>) | null = null,
    private readonly cache = new Map<string, Float32Array>(),
  ) {}

  static async load(model?: string, options: EngineOptions = {}): Promise<TaskModel> {
    const dir = await resolveModel(model, options);
    const tokenizer = Tokenizer.fromDir(dir);
    const encoder = await Encoder.load(dir, options);
    try {
      checkTokenizerFits(dir, encoder.config, tokenizer, encoder.config.maxTokens);
      return new TaskModel(encoder, tokenizer, headWeights(encoder));
    } catch (e) {
      encoder.close();
      throw e;
    }
  }

  /** Heads over an encoder loaded elsewhere (the server's), reading the weights file's header once. */
  static over(encoder: Encoder, tokenizer: Tokenizer): TaskModel {
    return new TaskModel(encoder, tokenizer, headWeights(encoder));
  }

  /** The same model and head tensors with `runner` in place of the direct engine call (a request's batcher
   *  submission); cheap, so it can be made per request. */
  withRunner(runner: (encodings: Encoding[]) => Promise<Float32Array[]>): TaskModel {
    return new TaskModel(this.encoder, this.tokenizer, this.header, runner, this.cache);
  }

  get config() {
    return this.encoder.config;
  }

  get maxLength(): number {
    return this.config.maxTokens;
  }

  /** id2label of config.json, by index. */
  get labels(): string[] {
    const m = (this.config.raw.id2label ?? {}) as Record<string, string>;
    const n = Object.keys(m).length;
    return Array.from({ length: n }, (_, i) => m[String(i)] ?? `LABEL_${i}`);
  }

  /** Tokenizes one input (or pair) for a head under the long-input policy `truncate`. */
  encode(a: string, b: string | null, truncate: Truncate = 'right', strategy: TruncationStrategy = 'longest_first', what = 'input'): Encoding {
    return encodeWithin(this.tokenizer, a, b, this.maxLength, truncate, what, strategy);
  }

  /** The ONNX graph ends in its own sequence head: hidden() gives each input's logits, one row. */
  get graphHead(): boolean {
    return graphHeadOf(this.encoder);
  }

  /** Whether the file has the family's sequence-classification head (families.ts), or the graph is one. */
  hasSequenceHead(): boolean {
    if (this.graphHead) return true;
    const head = this.config.family.heads.sequence;
    return !!head && this.has(`${head.dense}.weight`, `${head.out}.weight`, `${head.out}.bias`);
  }

  has(...names: string[]): boolean {
    return names.every((n) => this.resolve(n) !== null);
  }

  /** The checkpoint's name for a tensor: as given or under the family's prefix ("bert.pooler..."), or with the
   *  legacy LayerNorm names (gamma/beta) that old checkpoints use. */
  private resolve(name: string): string | null {
    const legacy = name.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    const family = this.config.family;
    for (const prefix of ['', family.prefix, ...(family.altPrefixes ?? [])]) {
      for (const n of [prefix + name, prefix + legacy]) if (this.header.tensors.has(n)) return n;
    }
    return null;
  }

  /** Head tensors by checkpoint name (with or without the family's prefix, "bert." or "distilbert."). */
  tensors(task: string, ...names: string[]): Float32Array[] {
    const missing = names.filter((n) => this.resolve(n) === null);
    if (missing.length) {
      throw new BertrtError(`${this.header.path}: the model has no ${task} head (missing tensors: ${missing.join(', ')})`, 'E_MODEL_FORMAT');
    }
    return names.map((n) => {
      let t = this.cache.get(n);
      if (!t) {
        t = readTensor(this.header, this.resolve(n)!);
        this.cache.set(n, t);
      }
      return t;
    });
  }

  /** A head's optional bias: the tensor, or n zeros where the family lets checkpoints leave biases out and this one
   *  has none (ModernBERT with classifier_bias / norm_bias / decoder_bias false). */
  bias(task: string, name: string, n: number): Float32Array {
    if (this.resolve(name) === null && this.config.family.heads.optionalBiases) return new Float32Array(n);
    return this.tensors(task, name)[0];
  }

  /** A head's dense (+ activation, + LayerNorm) transform of one hidden-state row: the families' heads (ModernBERT's
   *  prediction head, RoBERTa's classification head's first half, BERT's pooler). */
  transform(task: string, spec: { dense: string; act: HeadActivation; norm?: string }, also: string[] = []): (x: ArrayLike<number>) => Float64Array {
    const { weight: w, bias: b, outFeatures: n, act, norm } = this.transformParts(task, spec, also);
    const f = activation(act, this.config.raw);
    if (!norm) return (x) => linear(x, w, b, n).map(f);
    return (x) => layerNorm(linear(x, w, b, n).map(f), norm.weight, norm.bias, norm.eps);
  }

  /** The tensors of a dense (+ activation, + LayerNorm) head transform, for callers that run it natively. */
  transformParts(task: string, spec: { dense: string; act: HeadActivation; norm?: string }, also: string[] = []): {
    weight: Float32Array; bias: Float32Array; outFeatures: number; act: HeadActivation; norm: { weight: Float32Array; bias: Float32Array; eps: number } | null;
  } {
    // every tensor the head needs at once, so that a refusal names all that are missing (`also`: the output layer's)
    const optional = this.config.family.heads.optionalBiases;
    this.tensors(task, `${spec.dense}.weight`, ...(optional ? [] : [`${spec.dense}.bias`]), ...(spec.norm ? [`${spec.norm}.weight`] : []), ...also);
    const [w] = this.tensors(task, `${spec.dense}.weight`);
    const n = w.length / this.config.hiddenSize;
    const b = this.bias(task, `${spec.dense}.bias`, n);
    activation(spec.act, this.config.raw); // refuses an unsupported one now
    if (!spec.norm) return { weight: w, bias: b, outFeatures: n, act: spec.act, norm: null };
    const [g] = this.tensors(task, `${spec.norm}.weight`);
    return { weight: w, bias: b, outFeatures: n, act: spec.act, norm: { weight: g, bias: this.bias(task, `${spec.norm}.bias`, g.length), eps: this.config.layerNormEps } };
  }

  /** Hidden states of each encoding, [tokens × hidden] views, from one packed engine call. */
  async hidden(encodings: Encoding[]): Promise<Float32Array[]> {
    if (this.runner) return this.runner(encodings);
    const batch = pack(encodings, this.encoder.takesTokenTypes);
    const h = await this.encoder.run(batch);
    const H = this.encoder.hiddenSize;
    if (this.graphHead) return encodings.map((_, i) => h.subarray(i * H, (i + 1) * H));
    return encodings.map((_, i) => h.subarray(batch.cuSeqlens[i] * H, batch.cuSeqlens[i + 1] * H));
  }

  async close(): Promise<void> {
    this.encoder.close();
  }

  /** close() under the name pipelines use; `await using` calls it too. */
  dispose(): Promise<void> {
    return this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
