// Weights in the forms checkpoints come in: pytorch_model.bin (torch.save's zip, read by lib/model/torch.ts without
// unpickling code) and sharded safetensors. References: tools/make_torch_fixtures.py writes the .bin with torch.save
// and the same state dict with safetensors.torch.save_file, plus torch's own tolist() of every test tensor; the
// comparisons are exact (bits), since nothing is computed, only located.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, Encoder, readSafetensorsHeader } from '../lib';
import { openCheckpoint } from '../lib/model/checkpoint';
import { readTensor, type SafetensorsHeader } from '../lib/model/safetensors';
import { readTorchCheckpoint } from '../lib/model/torch';
import { tmpDir } from './helpers/fixtures';

const FIX = path.join(__dirname, 'fixtures', 'torch');
const MARKER = '/tmp/bertrt-pickle-ran';

function bytesOf(h: SafetensorsHeader, name: string): Buffer {
  const t = h.tensors.get(name);
  assert.ok(t, `no tensor ${name}`);
  const buf = Buffer.alloc(t.end - t.begin);
  const fd = fs.openSync(h.files[t.file], 'r');
  fs.readSync(fd, buf, 0, buf.length, t.begin);
  fs.closeSync(fd);
  return buf;
}

function rejectsWith(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BertrtError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

async function hidden(dir: string): Promise<Float32Array> {
  const enc = await Encoder.load(dir, { threads: 1 });
  try {
    const ids = Int32Array.from([2, 17, 40, 5, 88, 3, 2, 9, 61, 3]);
    return await enc.run({ ids, typeIds: Int32Array.from([0, 0, 0, 0, 0, 0, 0, 1, 1, 1]), cuSeqlens: Int32Array.from([0, 6, 10]) });
  } finally {
    enc.close();
  }
}

describe('pytorch_model.bin (torch.save zip, restricted unpickler)', function () {
  const ref = JSON.parse(fs.readFileSync(path.join(FIX, 'tensors.json'), 'utf8')) as Record<string, { dtype: string; shape: number[]; values: number[] | boolean[] }>;
  const h = () => ({ path: 'tensors.bin', files: [path.join(FIX, 'tensors.bin')], fileSize: 0, metadata: {}, tensors: readTorchCheckpoint(path.join(FIX, 'tensors.bin')).tensors });

  it('every storage class and layout reads to the values torch saved', () => {
    const ck = h();
    const DT: Record<string, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32', int8: 'I8', uint8: 'U8', bool: 'BOOL' };
    assert.deepEqual([...ck.tensors.keys()].sort(), Object.keys(ref).sort());
    for (const [name, want] of Object.entries(ref)) {
      const t = ck.tensors.get(name)!;
      assert.equal(t.dtype, DT[want.dtype], name);
      assert.deepEqual(t.shape, want.shape, name);
      const b = bytesOf(ck, name);
      let got: number[] | boolean[];
      switch (t.dtype) {
        case 'F32': case 'F16': case 'BF16': got = [...readTensor(ck, name)]; break;
        case 'F64': got = [...new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))]; break;
        case 'I64': got = [...new BigInt64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))].map(Number); break;
        case 'I32': got = [...new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))]; break;
        case 'I8': got = [...new Int8Array(b)]; break;
        case 'U8': got = [...b]; break;
        default: got = [...b].map((x) => x !== 0);
      }
      assert.deepEqual(got, want.values, name);
    }
  });

  it('tied names share one storage; views start at their offset', () => {
    const ck = h();
    const f32 = ck.tensors.get('f32')!, tied = ck.tensors.get('tied')!, f16 = ck.tensors.get('f16')!, row1 = ck.tensors.get('row1')!;
    assert.deepEqual([tied.begin, tied.end], [f32.begin, f32.end]);
    assert.equal(row1.begin, f16.begin + 6 * 2);
    assert.equal(row1.end - row1.begin, 6 * 2);
    assert.equal(ck.tensors.get('empty')!.end - ck.tensors.get('empty')!.begin, 0);
  });

  it('a BERT saved by torch.save loads to the same tensor bits and the same hidden states as its safetensors', async () => {
    const bin = openCheckpoint(path.join(FIX, 'bert-bin'));
    const st = readSafetensorsHeader(path.join(FIX, 'bert-safetensors', 'model.safetensors'));
    assert.equal(bin.tensors.size, st.tensors.size);
    for (const [name, t] of st.tensors) {
      assert.equal(bin.tensors.get(name)?.dtype, t.dtype, name);
      assert.ok(bytesOf(bin, name).equals(bytesOf(st, name)), `${name} differs`);
    }
    const a = await hidden(path.join(FIX, 'bert-bin'));
    const b = await hidden(path.join(FIX, 'bert-safetensors'));
    assert.ok(a.every(Number.isFinite));
    assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)));
  });

  it('the embedded model saved by torch.save gives the safetensors bits (local: tools/make_torch_fixtures.py --embedded)', async function () {
    const dir = path.join(__dirname, '..', '.scratch', 'torch-minilm');
    if (!fs.existsSync(path.join(dir, 'pytorch_model.bin'))) this.skip();
    const a = await hidden(dir);
    const b = await hidden(path.join(__dirname, '..', 'models', 'all-MiniLM-L6-v2'));
    assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)));
  });

  it('pickles that would run code are refused before anything runs, naming what they asked for', () => {
    for (const f of fs.readdirSync('/tmp').filter((x) => x.startsWith('bertrt-pickle-ran'))) fs.rmSync(path.join('/tmp', f));
    const cases: Array<[string, RegExp]> = [
      ['evil-os-system.bin', /global (posix|os)\.system.*refused/],
      ['evil-eval.bin', /global (__builtin__|builtins)\.eval.*refused/],
      ['evil-subprocess.bin', /global (subprocess|commands)\.call.*refused/],
      ['evil-object.bin', /global (__main__\.Obj|copyreg\._reconstructor).*refused|opcode 0x81.*refused/],
      ['evil-in-tensor-dict.bin', /global (posix|os)\.system.*refused/],
    ];
    for (const [file, pattern] of cases) rejectsWith(() => readTorchCheckpoint(path.join(FIX, file)), 'E_UNSUPPORTED', pattern);
    assert.deepEqual(fs.readdirSync('/tmp').filter((x) => x.startsWith(path.basename(MARKER))), []);
  });

  it('a non-contiguous tensor is refused (E_UNSUPPORTED), not read in the wrong order', () => {
    rejectsWith(() => readTorchCheckpoint(path.join(FIX, 'strided.bin')), 'E_UNSUPPORTED', /"t" is not contiguous/);
  });

  it('truncated and lying archives are E_MODEL_FORMAT naming the damage; never an out-of-range read', () => {
    const good = fs.readFileSync(path.join(FIX, 'bert-bin', 'pytorch_model.bin'));
    const dir = tmpDir('bertrt-torch-');
    const write = (name: string, b: Buffer): string => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, b);
      return f;
    };
    // cut anywhere: the central directory (at the end) is gone or points past the end
    for (const cut of [good.length - 1, good.length - 30, Math.floor(good.length / 2), 100]) {
      rejectsWith(() => readTorchCheckpoint(write(`cut${cut}.bin`, good.subarray(0, cut))), 'E_MODEL_FORMAT', /zip|truncated|outside|damaged/);
    }
    const eocd = good.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    // central directory offset past the end of the file
    const far = Buffer.from(good);
    far.writeUInt32LE(good.length + 1000, eocd + 16);
    rejectsWith(() => readTorchCheckpoint(write('far.bin', far)), 'E_MODEL_FORMAT', /outside the file/);
    // an entry that claims more entries than the directory could hold
    const many = Buffer.from(good);
    many.writeUInt16LE(60000, eocd + 10);
    many.writeUInt16LE(60000, eocd + 8);
    rejectsWith(() => readTorchCheckpoint(write('many.bin', many)), 'E_MODEL_FORMAT', /claims 60000 entries/);
    // a storage entry's size that disagrees with the pickle (the first data/ entry's sizes in the central directory)
    const cd = good.indexOf(Buffer.from('pytorch_model/data/0'), good.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])));
    const lie = Buffer.from(good);
    lie.writeUInt32LE(lie.readUInt32LE(cd - 46 + 20) - 4, cd - 46 + 20);
    lie.writeUInt32LE(lie.readUInt32LE(cd - 46 + 24) - 4, cd - 46 + 24);
    rejectsWith(() => readTorchCheckpoint(write('lie.bin', lie)), 'E_MODEL_FORMAT', /storage 0 holds \d+ bytes, the pickle says/);
    // a compressed entry
    const deflated = Buffer.from(good);
    deflated.writeUInt16LE(8, cd - 46 + 10);
    rejectsWith(() => readTorchCheckpoint(write('deflated.bin', deflated)), 'E_UNSUPPORTED', /compressed \(method 8\)/);
    // the pickle cut short inside an opcode
    const pk = good.indexOf(Buffer.from('pytorch_model/data.pkl'));
    const start = pk + 'pytorch_model/data.pkl'.length + good.readUInt16LE(pk - 2);
    const junk = Buffer.from(good);
    assert.equal(junk[start], 0x80); // PROTO 2, then the first opcode becomes a BINUNICODE longer than the pickle
    junk.fill(0x58, start + 2, start + 3);
    junk.fill(0xff, start + 3, start + 7);
    rejectsWith(() => readTorchCheckpoint(write('junk.bin', junk)), 'E_MODEL_FORMAT', /data\.pkl ends in the middle of an opcode/);
    // a safetensors file under the .bin name, and the legacy (pre-zip) format
    rejectsWith(() => readTorchCheckpoint(path.join(FIX, 'bert-safetensors', 'model.safetensors')), 'E_UNSUPPORTED', /not a zip archive/);
  });

  it('random byte flips in the archive give typed errors or a valid table, never a crash (500 trials)', () => {
    const good = fs.readFileSync(path.join(FIX, 'tensors.bin'));
    const dir = tmpDir('bertrt-torch-flip-');
    let s = 7;
    for (let trial = 0; trial < 500; trial++) {
      const b = Buffer.from(good);
      for (let k = 0; k < 4; k++) {
        s = (s * 1103515245 + 12345) & 0x7fffffff;
        b[s % b.length] = s & 0xff;
      }
      const f = path.join(dir, 'x.bin');
      fs.writeFileSync(f, b);
      try {
        const { tensors } = readTorchCheckpoint(f);
        for (const t of tensors.values()) assert.ok(t.begin >= 0 && t.end <= b.length && t.begin <= t.end);
      } catch (e) {
        assert.ok(e instanceof BertrtError, `trial ${trial}: ${String(e)}`);
      }
    }
  });
});

describe('sharded checkpoints (model.safetensors.index.json)', function () {
  function shard(dir: string): string {
    // split bert-safetensors' tensors over two shard files with an index, as save_pretrained(max_shard_size) does
    const src = readSafetensorsHeader(path.join(FIX, 'bert-safetensors', 'model.safetensors'));
    const names = [...src.tensors.keys()];
    const halves = [names.slice(0, 20), names.slice(20)];
    const weightMap: Record<string, string> = {};
    halves.forEach((half, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      const header: Record<string, unknown> = {};
      const blobs: Buffer[] = [];
      let off = 0;
      for (const n of half) {
        const t = src.tensors.get(n)!;
        const b = bytesOf(src, n);
        header[n] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + b.length] };
        off += b.length;
        blobs.push(b);
        weightMap[n] = file;
      }
      const h = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      fs.writeFileSync(path.join(dir, file), Buffer.concat([len, h, ...blobs]));
    });
    fs.copyFileSync(path.join(FIX, 'bert-safetensors', 'config.json'), path.join(dir, 'config.json'));
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: src.fileSize }, weight_map: weightMap }));
    return dir;
  }

  it('loads to the same hidden states as the single file', async () => {
    const dir = shard(tmpDir('bertrt-shard-'));
    const ck = openCheckpoint(dir);
    assert.equal(ck.files.length, 2);
    const a = await hidden(dir);
    const b = await hidden(path.join(FIX, 'bert-safetensors'));
    assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)));
  });

  it('an index that points outside its folder, at a missing shard, or at a shard without the tensor is refused', () => {
    const dir = shard(tmpDir('bertrt-shard-'));
    const index = path.join(dir, 'model.safetensors.index.json');
    const good = JSON.parse(fs.readFileSync(index, 'utf8'));
    const first = Object.keys(good.weight_map)[0];
    const edit = (f: (j: any) => void): void => {
      const j = JSON.parse(JSON.stringify(good));
      f(j);
      fs.writeFileSync(index, JSON.stringify(j));
    };
    edit((j) => (j.weight_map[first] = '../../etc/passwd'));
    rejectsWith(() => openCheckpoint(dir), 'E_MODEL_FORMAT', /not a file name beside the index/);
    edit((j) => (j.weight_map[first] = 'model-00003-of-00002.safetensors'));
    rejectsWith(() => openCheckpoint(dir), 'E_MODEL_NOT_FOUND', /names the shard model-00003-of-00002\.safetensors, which is missing/);
    edit((j) => (j.weight_map[first] = 'model-00002-of-00002.safetensors'));
    rejectsWith(() => openCheckpoint(dir), 'E_MODEL_FORMAT', new RegExp(`"${first.replace(/\./g, '\\.')}" is not in model-00002-of-00002\\.safetensors`));
    edit((j) => delete j.weight_map);
    rejectsWith(() => openCheckpoint(dir), 'E_MODEL_FORMAT', /no weight_map/);
  });
});
