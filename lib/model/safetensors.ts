// The safetensors header (8-byte little-endian length, then JSON), parsed and validated here so that the native
// side receives only ranges that lie inside the file and agree with their dtype and shape. The weights themselves
// are never read into the JS heap: native code memory-maps the file.
import * as fs from 'node:fs';
import { BertrtError } from '../errors';
import type { NativeTensorDesc } from '../native';
import { encoderName, familyOf, splitName } from './families';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** absolute byte range in the file */
  begin: number;
  end: number;
  /** which of the checkpoint's files (its index in `files`) */
  file: number;
}

/** A checkpoint's tensors: one safetensors file, a sharded set, or a torch zip (checkpoint.ts). */
export interface SafetensorsHeader {
  /** the file (or the shard index) the tensors were read from, for messages */
  path: string;
  files: string[];
  fileSize: number;
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
}

const DTYPE_SIZE: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const MAX_HEADER = 100 * 1024 * 1024; // the format's own limit

function bad(file: string, msg: string): BertrtError {
  return new BertrtError(`${file}: ${msg}`, 'E_MODEL_FORMAT');
}

/** Opens a weights file (E_MODEL_NOT_FOUND if it cannot be, E_MODEL_FORMAT if it is no regular file), runs
 *  read(fd, size) and closes it. */
export function withWeightsFile<T>(file: string, read: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new BertrtError(`cannot open ${file}: ${(e as Error).message}`, 'E_MODEL_NOT_FOUND');
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw bad(file, 'is not a regular file');
    return read(fd, st.size);
  } finally {
    fs.closeSync(fd);
  }
}

export function readSafetensorsHeader(file: string): SafetensorsHeader {
  return withWeightsFile(file, (fd, fileSize) => {
    if (fileSize < 8) throw bad(file, `file is ${fileSize} bytes, too short for a safetensors header`);
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER) || n > BigInt(fileSize - 8)) {
      throw bad(file, `header length ${n} exceeds the file (${fileSize} bytes): not a safetensors file, or truncated`);
    }
    const hlen = Number(n);
    const hbuf = Buffer.alloc(hlen);
    fs.readSync(fd, hbuf, 0, hlen, 8);
    let json: unknown;
    try {
      json = JSON.parse(hbuf.toString('utf8'));
    } catch (e) {
      throw bad(file, `header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad(file, 'header is not a JSON object');
    const base = 8 + hlen;
    const dataSize = fileSize - base;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (v !== null && (typeof v !== 'object' || Array.isArray(v))) throw bad(file, '__metadata__ is not an object');
        metadata = (v ?? {}) as Record<string, string>;
        continue;
      }
      const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof t !== 'object' || t === null) throw bad(file, `tensor "${name}" has no description`);
      const dtype = t.dtype as DType;
      if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZE, dtype)) throw bad(file, `tensor "${name}" has unknown dtype ${String(t.dtype)}`);
      if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw bad(file, `tensor "${name}" has an invalid shape ${JSON.stringify(t.shape)}`);
      }
      const offs = t.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
        throw bad(file, `tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
      }
      const [b, e] = offs as [number, number];
      if (e > dataSize) {
        throw bad(file, `tensor "${name}" ends at byte ${e} of the data section but it holds ${dataSize} bytes: the file is truncated`);
      }
      const numel = (t.shape as number[]).reduce((a, d) => a * d, 1);
      if (numel * DTYPE_SIZE[dtype] !== e - b) {
        throw bad(file, `tensor "${name}" spans ${e - b} bytes but ${dtype}${JSON.stringify(t.shape)} needs ${numel * DTYPE_SIZE[dtype]}`);
      }
      tensors.set(name, { name, dtype, shape: t.shape as number[], begin: base + b, end: base + e, file: 0 });
    }
    // Ranges must not overlap (the format stores tensors back to back).
    const sorted = [...tensors.values()].sort((x, y) => x.begin - y.begin);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].begin < sorted[i - 1].end) throw bad(file, `tensors "${sorted[i - 1].name}" and "${sorted[i].name}" overlap`);
    }
    return { path: file, files: [file], fileSize, metadata, tensors };
  });
}

/** Descriptors for native under the encoder's names (families.ts: prefix removed, the family's module names and
 *  legacy LayerNorm names mapped, fused tensors cut into their parts: row-major, so each part is a byte range). */
export function toNativeTensors(h: SafetensorsHeader, modelType = 'bert'): NativeTensorDesc[] {
  const family = familyOf(modelType);
  if (!family) throw new BertrtError(`model_type "${modelType}" is not supported`, 'E_UNSUPPORTED');
  const out: NativeTensorDesc[] = [];
  for (const t of h.tensors.values()) {
    const dtype = t.dtype;
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') continue; // buffers such as position_ids
    const name = encoderName(family, t.name);
    const parts = splitName(family, name);
    if (!parts) {
      out.push({ name, dtype, shape: t.shape, begin: t.begin, end: t.end, file: t.file });
      continue;
    }
    const rows = t.shape[0] ?? 0;
    if (t.shape.length < 1 || rows % parts.length !== 0) {
      throw new BertrtError(`${h.path}: tensor "${t.name}" of shape [${t.shape.join(', ')}] does not split into ${parts.length} equal parts along its first dimension`, 'E_SHAPE');
    }
    const bytes = (t.end - t.begin) / parts.length;
    parts.forEach((p, i) => {
      out.push({ name: p, dtype, shape: [rows / parts.length, ...t.shape.slice(1)], begin: t.begin + i * bytes, end: t.begin + (i + 1) * bytes, file: t.file });
    });
  }
  return out;
}

/** Reads one (small) tensor into a Float32Array: head weights, never the encoder, which native code maps. */
export function readTensor(h: SafetensorsHeader, name: string): Float32Array {
  const t = h.tensors.get(name);
  if (!t) throw new BertrtError(`${h.path} has no tensor "${name}"`, 'E_MODEL_FORMAT');
  const n = t.shape.reduce((a, d) => a * d, 1);
  const buf = Buffer.alloc(t.end - t.begin);
  const fd = fs.openSync(h.files[t.file], 'r');
  try {
    fs.readSync(fd, buf, 0, buf.length, t.begin);
  } finally {
    fs.closeSync(fd);
  }
  const out = new Float32Array(n);
  if (t.dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(4 * i);
  } else if (t.dtype === 'BF16') {
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < n; i++) {
      u[0] = buf.readUInt16LE(2 * i) << 16;
      out[i] = f[0];
    }
  } else if (t.dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(buf.readUInt16LE(2 * i));
  } else {
    throw new BertrtError(`${h.path}: tensor "${name}" is ${t.dtype}, not a float type`, 'E_MODEL_FORMAT');
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(out[i])) throw new BertrtError(`${h.path}: tensor "${name}" holds a non-finite value (${out[i]}) at element ${i}`, 'E_MODEL_FORMAT');
  }
  return out;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
