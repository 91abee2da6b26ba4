// Public entry point of the bertrt package.
export { BertrtError, type BertrtErrorCode } from './errors';
export { Embedder, type EmbedderOptions, type EmbedOptions } from './embedder';
export { Tokenizer, type Encoding, type EncodeOptions } from './tokenizer/tokenizer';
export { Encoder, type EngineOptions, type PackedBatch } from './model/engine';
export { readConfig, type ModelConfig } from './model/config';
export { readSafetensorsHeader, type SafetensorsHeader, type TensorInfo } from './model/safetensors';
export { defaultModelDir, DEFAULT_MODEL } from './model/resolve';
export { pack } from './batch';
export { pipeline, type Task } from './pipeline';
export { TaskModel } from './heads/task-model';
export { createServer, type ServerOptions, type BertrtServer } from './server/app';

import { native, type NativeInfo } from './native';
export type { Precision } from './native';

/** Build and CPU facts: version, kernel ISA in use, CPU flags, threads. */
export function info(): NativeInfo {
  return native().info();
}
