// Where a model comes from: a local HF-style directory, or (no name given) the default model shipped in the package.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import { packageRoot } from '../native';

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
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    throw new BertrtError(`${dir} has no config.json: not a Hugging Face model directory`, 'E_MODEL_NOT_FOUND');
  }
  return dir;
}
