// Public entry point of the bertrt package.
export { BertrtError, type BertrtErrorCode } from './errors';
export { Embedder, type EmbedderOptions, type EmbedOptions, type SparseOptions, type SparseVector, type MultiVectorOptions, type OutputOptions, type Outputs } from './embedder';
export { maxSim, type MultiVector } from './heads/multivector';
export { quantizeEmbeddings, type EmbeddingPrecision, type QuantizeOptions } from './quantize';
export { Tokenizer, type Encoding, type EncodeOptions } from './tokenizer/tokenizer';
export { Encoder, type EngineOptions, type PackedBatch } from './model/engine';
export { readConfig, type ModelConfig } from './model/config';
export { readSafetensorsHeader, type SafetensorsHeader, type TensorInfo } from './model/safetensors';
export { defaultModelDir, DEFAULT_MODEL } from './model/resolve';
export { pack } from './batch';
export {
  pipeline,
  type Task,
  type FeatureExtractionPipeline,
  type SentenceSimilarityPipeline,
  type TextClassificationPipeline,
  type TokenClassificationPipeline,
  type FillMaskPipeline,
  type QuestionAnsweringPipeline,
  type ZeroShotPipeline,
  type NextSentencePipeline,
  type RerankPipeline,
} from './pipeline';
export { TaskModel, type Truncate } from './heads/task-model';
export type { LabelScore, RerankResult, ClassificationInput } from './heads/classification';
export type { TokenEntity, EntityGroup, Aggregation } from './heads/token-classification';
export type { FillMaskResult } from './heads/fill-mask';
export type { QAAnswer, QAInput, QAOptions } from './heads/question-answering';
export type { ZeroShotResult } from './heads/zero-shot';
export type { PoolingMode } from './heads/pooling';
export { createServer, type ServerOptions, type BertrtServer } from './server/app';

import { native, type NativeInfo, onnxruntimeLibrary, type OnnxRuntimeInfo } from './native';
export type { Precision, Device, CudaInfo, OnnxRuntimeInfo } from './native';
export type { OnnxInfo } from './model/engine';
export type { OnnxOptions } from './model/onnx';

/** Build and CPU facts: version, kernel ISA in use, CPU flags, threads. */
export function info(): NativeInfo {
  return native().info();
}

/** The onnxruntime the ONNX backend would use (`library`, else $BERTRT_ONNXRUNTIME, onnxruntime-node's, the system's):
 *  whether it loads, its file and version, or why not. */
export function onnxruntimeInfo(library?: string): OnnxRuntimeInfo {
  return native().onnxInfo(onnxruntimeLibrary(library));
}
