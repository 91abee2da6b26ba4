// A dense layer of an output head (ColBERT's projection, bge-m3's sparse weight, an MLM transform) run natively over
// every token row: the packed FP32 GEMM on the engine's threads, off the event loop. A projection done per token in
// JavaScript would cost more than the encoder for a 768-wide head.
import { BertrtError } from '../errors';
import { native, type NativeLinear } from '../native';

export type LinearActivation = 'none' | 'gelu' | 'gelu_tanh';

export class HeadLinear {
  readonly #linear: NativeLinear;

  /** weight [outFeatures × inFeatures] in PyTorch's layout; bias [outFeatures] or null. */
  constructor(
    weight: Float32Array,
    readonly outFeatures: number,
    readonly inFeatures: number,
    bias: Float32Array | null,
    activation: LinearActivation = 'none',
    private readonly threads = 0,
  ) {
    if (weight.length !== outFeatures * inFeatures) {
      throw new BertrtError(`a head's weight holds ${weight.length} values, not ${outFeatures} × ${inFeatures}`, 'E_SHAPE');
    }
    if (bias && bias.length !== outFeatures) throw new BertrtError(`a head's bias holds ${bias.length} values, not ${outFeatures}`, 'E_SHAPE');
    this.#linear = new (native().Linear)(weight, outFeatures, inFeatures, bias, activation);
  }

  /** act(x W^T + b) for rows x [rows × inFeatures]: [rows × outFeatures]. */
  run(x: Float32Array): Promise<Float32Array> {
    return this.#linear.run(x, this.threads);
  }
}
