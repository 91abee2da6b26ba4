// A model folder's weights, in whichever form it came: model.safetensors, a sharded set behind
// model.safetensors.index.json, or pytorch_model.bin (torch.ts: read without unpickling code), sharded or not.
// Each becomes the same table of byte ranges (SafetensorsHeader) that native code maps and heads read from.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import { readSafetensorsHeader, type SafetensorsHeader, type TensorInfo } from './safetensors';
import { readTorchCheckpoint } from './torch';

/** The weights files a folder may hold, in the order they are preferred (the Hub client fetches the same). */
export const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'] as const;

/** The weights file bertrt would read in `dir`, or null. */
export function findWeights(dir: string): string | null {
  for (const f of WEIGHT_FILES) if (fs.existsSync(path.join(dir, f))) return path.join(dir, f);
  return null;
}

function readOne(file: string): SafetensorsHeader {
  if (file.endsWith('.bin')) {
    const { tensors } = readTorchCheckpoint(file);
    return { path: file, files: [file], fileSize: fs.statSync(file).size, metadata: {}, tensors };
  }
  return readSafetensorsHeader(file);
}

const MAX_INDEX = 64 * 1024 * 1024;
const MAX_SHARDS = 4096;

/** A shard index: every shard a plain file name beside it, every tensor in the shard the index names. */
export function readShardIndex(file: string): SafetensorsHeader {
  const dir = path.dirname(file);
  const bad = (msg: string): BertrtError => new BertrtError(`${file}: ${msg}`, 'E_MODEL_FORMAT');
  const st = fs.statSync(file);
  if (!st.isFile() || st.size > MAX_INDEX) throw bad(`is not a shard index (${st.size} bytes)`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw bad(`is not valid JSON (${(e as Error).message})`);
  }
  const map = (json as { weight_map?: unknown })?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw bad('has no weight_map object');
  const shardOf = new Map<string, string>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard !== path.basename(shard) || shard === '..' || shard === '.' || !shard) {
      throw bad(`tensor "${name}" is mapped to ${JSON.stringify(shard)}, not a file name beside the index`);
    }
    shardOf.set(name, shard);
  }
  const shards = [...new Set(shardOf.values())];
  if (!shards.length) throw bad('weight_map is empty');
  if (shards.length > MAX_SHARDS) throw bad(`names ${shards.length} shards`);
  const files = shards.map((s) => path.join(dir, s));
  const tensors = new Map<string, TensorInfo>();
  let fileSize = 0;
  files.forEach((f, i) => {
    if (!fs.existsSync(f)) throw new BertrtError(`${file} names the shard ${shards[i]}, which is missing`, 'E_MODEL_NOT_FOUND');
    const h = readOne(f);
    fileSize += h.fileSize;
    for (const t of h.tensors.values()) {
      // a tensor the index leaves out (a buffer) or puts in another shard is not taken from this one
      if (shardOf.get(t.name) === shards[i]) tensors.set(t.name, { ...t, file: i });
    }
  });
  for (const [name, shard] of shardOf) {
    if (!tensors.has(name)) throw bad(`tensor "${name}" is not in ${shard}, where the index puts it`);
  }
  return { path: file, files, fileSize, metadata: {}, tensors };
}

/** The checkpoint of a model folder (WEIGHT_FILES order), or E_MODEL_NOT_FOUND saying what the folder has. */
export function openCheckpoint(dir: string): SafetensorsHeader {
  const file = findWeights(dir);
  if (!file) {
    if (fs.existsSync(path.join(dir, 'model.onnx')) || fs.existsSync(path.join(dir, 'onnx'))) {
      throw new BertrtError(`${dir} has an ONNX model but no model.safetensors or pytorch_model.bin, the weights the native engine and the task heads read (the ONNX backend runs the graph itself: backend 'onnx')`, 'E_UNSUPPORTED');
    }
    throw new BertrtError(`${dir} has no weights (${WEIGHT_FILES.join(', ')})`, 'E_MODEL_NOT_FOUND');
  }
  if (!fs.statSync(file).isFile()) throw new BertrtError(`${file} is not a regular file`, 'E_MODEL_FORMAT');
  return file.endsWith('.index.json') ? readShardIndex(file) : readOne(file);
}
