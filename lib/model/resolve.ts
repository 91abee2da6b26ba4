// Where a model comes from: a local HF-style directory; no name (or the default's short name) for the model shipped
// in the package; else a Hub id (`org/name`, optionally `@revision`) fetched into the shared Hub cache (hub/hub.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import { type HubOptions, parseRepoId, snapshot } from '../hub/hub';
import { packageRoot } from '../native';
import { findOnnxFile } from './onnx';
import type { EngineOptions } from './engine';

export const DEFAULT_MODEL = 'all-MiniLM-L6-v2';

export function defaultModelDir(): string {
  return path.join(packageRoot, 'models', DEFAULT_MODEL);
}

export function resolveModelDir(model?: string): string {
  const dir = model ? path.resolve(model) : defaultModelDir();
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new BertrtError(`model directory not found: ${dir}`, 'E_MODEL_NOT_FOUND');
  }
  if (!st.isDirectory()) throw new BertrtError(`model path is not a directory: ${dir}`, 'E_MODEL_NOT_FOUND');
  if (!fs.existsSync(path.join(dir, 'config.json')) && !findOnnxFile(dir)) {
    throw new BertrtError(`${dir} has no config.json (nor an ONNX file): not a Hugging Face model directory`, 'E_MODEL_NOT_FOUND');
  }
  return dir;
}

/** Options that say where a model id is looked up. */
export interface ModelSource {
  /** branch, tag or commit of a Hub id (an `@revision` suffix on the id says the same) */
  revision?: string;
  /** endpoint, token, cache folder, offline mode, progress callback, timeouts (default: the HF_* environment) */
  hub?: HubOptions;
}

/** What `model` names, as a local folder: the folder itself, the embedded default, or a Hub snapshot (downloaded
 *  on first use). `files: 'tokenizer'` fetches only the tokenizer's files. */
export async function resolveModel(model: string | undefined, source: ModelSource & Pick<EngineOptions, 'backend' | 'onnx'> = {}, files: 'model' | 'tokenizer' = 'model'): Promise<string> {
  if (model === undefined || model === '') return resolveModelDir();
  if (typeof model !== 'string') throw new BertrtError('model must be a string: a directory or a Hub id', 'E_INVALID_ARGUMENT');
  const local = /^(\.{1,2}[\\/]|[\\/]|~)/.test(model) || fs.existsSync(model);
  if (local) return resolveModelDir(model);
  if (model === DEFAULT_MODEL) return resolveModelDir();
  const id = parseRepoId(model);
  if (!id) throw new BertrtError(`${JSON.stringify(model)} is neither a model directory nor a Hub id (org/name, optionally @revision)`, 'E_MODEL_NOT_FOUND');
  if (id.revision && source.revision && id.revision !== source.revision) {
    throw new BertrtError(`${model}: the id's @${id.revision} and the revision option "${source.revision}" disagree`, 'E_INVALID_ARGUMENT');
  }
  // the ONNX backend fetches its graph instead of the checkpoint
  const onnxFile = source.onnx?.file ?? (source.backend === 'onnx' || source.onnx ? 'auto' : undefined);
  const dir = await snapshot(id.repo, { ...source.hub, revision: id.revision ?? source.revision ?? source.hub?.revision, files, onnxFile });
  return resolveModelDir(dir);
}
