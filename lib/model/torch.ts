// pytorch_model.bin (torch.save's zip format) read without executing anything. The archive's data.pkl is run on a
// pickle machine that knows only the opcodes a saved state dict uses and only the globals that rebuild tensors
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter, the torch.*Storage classes);
// any other global, any class construction, is refused with E_UNSUPPORTED before it could do anything. The result
// is the same kind of byte ranges a safetensors header gives: each storage is a stored (uncompressed) zip entry, so
// native code maps the tensors straight out of the file.
import * as fs from 'node:fs';
import { BertrtError } from '../errors';
import { type DType, type TensorInfo, withWeightsFile } from './safetensors';

function bad(file: string, msg: string): BertrtError {
  return new BertrtError(`${file}: ${msg}`, 'E_MODEL_FORMAT');
}

// ------------------------------------------------------------------------------------------------------- zip
export interface ZipEntry {
  name: string;
  /** absolute offset of the entry's bytes, and their length (stored entries only) */
  start: number;
  size: number;
}

const MAX_ENTRIES = 1 << 20;

/** The central directory of a zip file, every entry checked: stored (not compressed), its local header where the
 *  central one says, its bytes inside the file. Zip64 is read; encrypted or multi-disk archives are refused. */
export function readZipDirectory(file: string, fd: number, fileSize: number): Map<string, ZipEntry> {
  const tailLen = Math.min(fileSize, 22 + 65535);
  const tail = Buffer.alloc(tailLen);
  fs.readSync(fd, tail, 0, tailLen, fileSize - tailLen);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50 && i + 22 + tail.readUInt16LE(i + 20) <= tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad(file, 'not a zip archive (no end-of-central-directory record): truncated, or not a torch.save file');
  if (tail.readUInt16LE(eocd + 4) !== 0 || tail.readUInt16LE(eocd + 6) !== 0) throw bad(file, 'multi-disk zip archives are not supported');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locAt = fileSize - tailLen + eocd - 20;
    if (locAt < 0) throw bad(file, 'zip64 locator missing');
    const loc = Buffer.alloc(20);
    fs.readSync(fd, loc, 0, 20, locAt);
    if (loc.readUInt32LE(0) !== 0x07064b50) throw bad(file, 'zip64 locator missing');
    const recAt = Number(loc.readBigUInt64LE(8));
    if (!(recAt >= 0 && recAt + 56 <= locAt)) throw bad(file, 'zip64 end record lies outside the file');
    const rec = Buffer.alloc(56);
    fs.readSync(fd, rec, 0, 56, recAt);
    if (rec.readUInt32LE(0) !== 0x06064b50) throw bad(file, 'zip64 end record missing');
    count = Number(rec.readBigUInt64LE(32));
    cdSize = Number(rec.readBigUInt64LE(40));
    cdOffset = Number(rec.readBigUInt64LE(48));
  }
  if (!(cdOffset >= 0 && cdSize >= 0 && cdOffset + cdSize <= fileSize)) throw bad(file, 'zip central directory lies outside the file');
  if (count > MAX_ENTRIES || count * 46 > cdSize) throw bad(file, `zip central directory claims ${count} entries in ${cdSize} bytes`);
  const cd = Buffer.alloc(cdSize);
  fs.readSync(fd, cd, 0, cdSize, cdOffset);
  const out = new Map<string, ZipEntry>();
  const local = Buffer.alloc(30);
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cdSize || cd.readUInt32LE(p) !== 0x02014b50) throw bad(file, `zip central directory entry ${n} is damaged`);
    const flags = cd.readUInt16LE(p + 8);
    const method = cd.readUInt16LE(p + 10);
    let csize = cd.readUInt32LE(p + 20);
    let usize = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let offset = cd.readUInt32LE(p + 42);
    if (p + 46 + nameLen + extraLen + commentLen > cdSize) throw bad(file, `zip central directory entry ${n} is damaged`);
    const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64 extra field: the 64-bit values of whichever fields were saturated, in this order
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = cd.readUInt16LE(e);
      const len = cd.readUInt16LE(e + 2);
      if (e + 4 + len > p + 46 + nameLen + extraLen) throw bad(file, `zip entry ${name} has a damaged extra field`);
      if (id === 0x0001) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > e + 4 + len) throw bad(file, `zip entry ${name} has a short zip64 field`);
          const v = Number(cd.readBigUInt64LE(q));
          q += 8;
          return v;
        };
        if (usize === 0xffffffff) usize = next();
        if (csize === 0xffffffff) csize = next();
        if (offset === 0xffffffff) offset = next();
      }
      e += 4 + len;
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (flags & 1) throw bad(file, `zip entry ${name} is encrypted`);
    if (method !== 0 || csize !== usize) {
      throw new BertrtError(`${file}: zip entry ${name} is compressed (method ${method}); torch.save stores entries uncompressed`, 'E_UNSUPPORTED');
    }
    if (!(offset + 30 <= fileSize)) throw bad(file, `zip entry ${name}: local header lies outside the file`);
    fs.readSync(fd, local, 0, 30, offset);
    if (local.readUInt32LE(0) !== 0x04034b50) throw bad(file, `zip entry ${name}: no local header where the directory says`);
    const start = offset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (!(start + usize <= fileSize)) throw bad(file, `zip entry ${name} ends past the end of the file (truncated?)`);
    if (out.has(name)) throw bad(file, `zip entry ${name} appears twice`);
    out.set(name, { name, start, size: usize });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- pickle
class Global {
  constructor(readonly name: string) {}
}
class Tuple extends Array<unknown> {}
interface StorageRef {
  kind: 'storage';
  dtype: DType;
  key: string;
  numel: number;
}
interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  shape: number[];
  stride: number[];
}

const STORAGE: Record<string, DType> = {
  'torch FloatStorage': 'F32',
  'torch HalfStorage': 'F16',
  'torch BFloat16Storage': 'BF16',
  'torch DoubleStorage': 'F64',
  'torch LongStorage': 'I64',
  'torch IntStorage': 'I32',
  'torch ShortStorage': 'I16',
  'torch CharStorage': 'I8',
  'torch ByteStorage': 'U8',
  'torch BoolStorage': 'BOOL',
};
const CALLABLE = new Set(['collections OrderedDict', 'torch._utils _rebuild_tensor_v2', 'torch._utils _rebuild_parameter']);
const DTYPE_SIZE: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

function isIntTuple(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
}

/** Runs a state dict's pickle on the restricted machine; returns what it built (a Map for the state dict). */
export function unpickleStateDict(file: string, data: Buffer): unknown {
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const need = (n: number): void => {
    if (p + n > data.length) throw bad(file, 'data.pkl ends in the middle of an opcode (truncated)');
  };
  const pop = (): unknown => {
    if (stack.length <= (marks.length ? marks[marks.length - 1] : 0)) throw bad(file, 'data.pkl pops an empty stack');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) throw bad(file, 'data.pkl closes a mark it never opened');
    return stack.splice(m);
  };
  const top = (): unknown => {
    if (!stack.length) throw bad(file, 'data.pkl reads an empty stack');
    return stack[stack.length - 1];
  };
  const str = (n: number): string => {
    need(n);
    const s = data.toString('utf8', p, p + n);
    p += n;
    return s;
  };
  const global = (name: string): Global => {
    if (!CALLABLE.has(name) && !Object.hasOwn(STORAGE, name)) {
      throw new BertrtError(`${file}: the pickle names the global ${name.replace(' ', '.')}, which a state dict of tensors does not need; refused (loading it could run code)`, 'E_UNSUPPORTED');
    }
    return new Global(name);
  };
  const setItems = (d: unknown, items: unknown[]): void => {
    if (!(d instanceof Map)) throw bad(file, 'data.pkl sets items on something that is not a dict');
    if (items.length % 2) throw bad(file, 'data.pkl sets an odd number of dict items');
    for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
  };
  const call = (f: unknown, args: unknown): unknown => {
    if (!(f instanceof Global) || !(args instanceof Tuple)) throw bad(file, 'data.pkl calls something that is not an allowed global');
    if (f.name === 'collections OrderedDict') {
      if (args.length) throw bad(file, 'OrderedDict is called with arguments');
      return new Map();
    }
    if (f.name === 'torch._utils _rebuild_parameter') {
      if (args.length < 1 || (args[0] as TensorRef)?.kind !== 'tensor') throw bad(file, '_rebuild_parameter without a tensor');
      return args[0];
    }
    if (f.name === 'torch._utils _rebuild_tensor_v2') {
      const [storage, offset, shape, stride] = args as [StorageRef, number, unknown, unknown];
      if ((storage as StorageRef | undefined)?.kind !== 'storage' || !Number.isSafeInteger(offset) || offset < 0 || !isIntTuple(shape) || !isIntTuple(stride) || shape.length !== stride.length) {
        throw bad(file, '_rebuild_tensor_v2 with arguments that do not describe a tensor');
      }
      return { kind: 'tensor', storage, offset, shape: [...shape], stride: [...stride] } satisfies TensorRef;
    }
    throw new BertrtError(`${file}: the pickle calls ${f.name.replace(' ', '.')}, which is not a function that rebuilds tensors; refused`, 'E_UNSUPPORTED');
  };
  for (;;) {
    need(1);
    const op = data[p++];
    switch (op) {
      case 0x80: // PROTO
        need(1);
        if (data[p] > 5) throw bad(file, `pickle protocol ${data[p]} is newer than 5`);
        p++;
        break;
      case 0x95: // FRAME
        need(8);
        p += 8;
        break;
      case 0x63: { // GLOBAL "module\nname\n"
        const e1 = data.indexOf(0x0a, p);
        const e2 = e1 < 0 ? -1 : data.indexOf(0x0a, e1 + 1);
        if (e2 < 0 || e2 - p > 256) throw bad(file, 'data.pkl has a damaged GLOBAL');
        const name = `${data.toString('utf8', p, e1)} ${data.toString('utf8', e1 + 1, e2)}`;
        p = e2 + 1;
        stack.push(global(name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const mod = pop();
        if (typeof name !== 'string' || typeof mod !== 'string') throw bad(file, 'STACK_GLOBAL of non-strings');
        stack.push(global(`${mod} ${name}`));
        break;
      }
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(new Tuple()); break; // EMPTY_TUPLE
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x74: stack.push(Tuple.from(popMark()) as Tuple); break; // TUPLE
      case 0x85: { const a = pop(); stack.push(Tuple.of(a) as Tuple); break; } // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push(Tuple.of(a, b) as Tuple); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(Tuple.of(a, b, c) as Tuple); break; } // TUPLE3
      case 0x58: need(4); { const n = data.readUInt32LE(p); p += 4; stack.push(str(n)); } break; // BINUNICODE
      case 0x8c: need(1); stack.push(str(data[p++])); break; // SHORT_BINUNICODE
      case 0x8d: { need(8); const n = Number(data.readBigUInt64LE(p)); p += 8; stack.push(str(n)); break; } // BINUNICODE8
      case 0x55: need(1); stack.push(str(data[p++])); break; // SHORT_BINSTRING
      case 0x54: need(4); { const n = data.readUInt32LE(p); p += 4; stack.push(str(n)); } break; // BINSTRING
      case 0x4a: need(4); stack.push(data.readInt32LE(p)); p += 4; break; // BININT
      case 0x4b: need(1); stack.push(data[p++]); break; // BININT1
      case 0x4d: need(2); stack.push(data.readUInt16LE(p)); p += 2; break; // BININT2
      case 0x8a: { // LONG1
        need(1);
        const n = data[p++];
        need(n);
        if (n > 8) throw bad(file, `a ${n}-byte integer in data.pkl`);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[p + i]);
        if (n && data[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw bad(file, 'an integer in data.pkl is too large');
        stack.push(Number(v));
        break;
      }
      case 0x47: need(8); stack.push(data.readDoubleBE(p)); p += 8; break; // BINFLOAT
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4e: stack.push(null); break; // NONE
      case 0x71: need(1); memo.set(data[p++], top()); break; // BINPUT
      case 0x72: need(4); memo.set(data.readUInt32LE(p), top()); p += 4; break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const w = op === 0x68 ? 1 : 4;
        need(w);
        const k = w === 1 ? data[p] : data.readUInt32LE(p);
        p += w;
        if (!memo.has(k)) throw bad(file, `data.pkl reads memo slot ${k}, which was never written`);
        stack.push(memo.get(k));
        break;
      }
      case 0x52: { const args = pop(); const f = pop(); stack.push(call(f, args)); break; } // REDUCE
      case 0x62: { // BUILD: state on a dict (the state dict's _metadata) is dropped; on anything else it is refused
        pop();
        if (!(top() instanceof Map)) throw new BertrtError(`${file}: the pickle sets the state of an object (BUILD); refused`, 'E_UNSUPPORTED');
        break;
      }
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l) || l instanceof Tuple) throw bad(file, 'APPEND to a non-list'); l.push(v); break; }
      case 0x65: { const items = popMark(); const l = top(); if (!Array.isArray(l) || l instanceof Tuple) throw bad(file, 'APPENDS to a non-list'); for (const it of items) l.push(it); break; }
      case 0x51: { // BINPERSID: ('storage', StorageClass, key, location, numel)
        const pid = pop();
        if (!(pid instanceof Tuple) || pid.length !== 5 || pid[0] !== 'storage' || !(pid[1] instanceof Global) || typeof pid[2] !== 'string' || !Number.isSafeInteger(pid[4])) {
          throw bad(file, 'data.pkl has a persistent id that is not a torch storage');
        }
        const dtype = STORAGE[(pid[1] as Global).name];
        if (!dtype) throw bad(file, `persistent id of ${(pid[1] as Global).name}, not a storage class`);
        stack.push({ kind: 'storage', dtype, key: pid[2] as string, numel: pid[4] as number } satisfies StorageRef);
        break;
      }
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length) throw bad(file, 'data.pkl stops with a damaged stack');
        return stack[0];
      default:
        throw new BertrtError(
          `${file}: data.pkl uses pickle opcode 0x${op.toString(16)} at byte ${p - 1}, which a state dict of tensors does not need; refused`,
          'E_UNSUPPORTED',
        );
    }
  }
}

// ----------------------------------------------------------------------------------------------- the archive
export interface TorchCheckpoint {
  tensors: Map<string, TensorInfo>;
}

const MAX_PICKLE = 256 * 1024 * 1024;

/** Tensors of a torch.save zip as absolute byte ranges in the file (every one contiguous, inside its storage). */
export function readTorchCheckpoint(file: string): TorchCheckpoint {
  return withWeightsFile(file, (fd, size) => {
    const magic = Buffer.alloc(4);
    fs.readSync(fd, magic, 0, 4, 0);
    if (magic.readUInt32LE(0) !== 0x04034b50) {
      throw new BertrtError(`${file} is not a zip archive: a torch.save file from before PyTorch 1.6 (or not a checkpoint); re-save it with a current torch`, 'E_UNSUPPORTED');
    }
    const entries = readZipDirectory(file, fd, size);
    const pkl = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkl.length !== 1) throw bad(file, `expected one <archive>/data.pkl, found ${pkl.length}`);
    const prefix = pkl[0].slice(0, -'data.pkl'.length);
    const order = entries.get(`${prefix}byteorder`);
    if (order) {
      const b = Buffer.alloc(Math.min(order.size, 16));
      fs.readSync(fd, b, 0, b.length, order.start);
      if (b.toString('latin1') !== 'little') throw new BertrtError(`${file} was saved ${b.toString('latin1')}-endian; only little-endian checkpoints are read`, 'E_UNSUPPORTED');
    }
    const e = entries.get(pkl[0]) as ZipEntry;
    if (e.size > MAX_PICKLE) throw bad(file, `data.pkl is ${e.size} bytes, more than a state dict needs`);
    const data = Buffer.alloc(e.size);
    fs.readSync(fd, data, 0, e.size, e.start);
    const root = unpickleStateDict(file, data);
    if (!(root instanceof Map)) throw bad(file, 'the pickle is not a state dict (a dict of tensors)');
    const tensors = new Map<string, TensorInfo>();
    for (const [name, v] of root) {
      if (typeof name !== 'string') throw bad(file, 'a state dict key is not a string');
      const t = v as TensorRef;
      if (t?.kind !== 'tensor') continue; // non-tensor entries (none in a model's state dict) are not weights
      const entry = entries.get(`${prefix}data/${t.storage.key}`);
      if (!entry) throw bad(file, `tensor "${name}": storage ${t.storage.key} is not in the archive`);
      const size = DTYPE_SIZE[t.storage.dtype];
      if (entry.size !== t.storage.numel * size) throw bad(file, `tensor "${name}": storage ${t.storage.key} holds ${entry.size} bytes, the pickle says ${t.storage.numel} elements of ${size}`);
      // contiguous row-major, or refused (a saved state dict's tensors are; a strided view would need a copy)
      let expect = 1;
      for (let i = t.shape.length - 1; i >= 0; i--) {
        if (t.shape[i] !== 1 && t.stride[i] !== expect) throw new BertrtError(`${file}: tensor "${name}" is not contiguous (stride ${JSON.stringify(t.stride)} for shape ${JSON.stringify(t.shape)})`, 'E_UNSUPPORTED');
        expect *= t.shape[i];
      }
      const numel = expect;
      if (t.offset + numel > t.storage.numel) throw bad(file, `tensor "${name}" runs past the end of its storage`);
      const begin = entry.start + t.offset * size;
      tensors.set(name, { name, dtype: t.storage.dtype, shape: t.shape, begin, end: begin + numel * size, file: 0 });
    }
    return { tensors };
  });
}
