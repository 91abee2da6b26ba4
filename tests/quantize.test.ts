// Quantized embeddings against sentence-transformers' quantize_embeddings (tools/make_quantize_fixtures.py) on the
// golden MiniLM vectors and a small matrix with a constant column and 10 dimensions: int8 and uint8 with ranges from
// the embeddings, from calibration embeddings and given; binary and ubinary. Every byte equal.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { BertrtError, quantizeEmbeddings } from '../lib';
import { f32, golden, root } from './helpers/fixtures';

const fx = JSON.parse(zlib.brotliDecompressSync(fs.readFileSync(path.join(root, 'tests', 'fixtures', 'quantize.json.br'))).toString('utf8'));

function rows(b64: string, shape: number[], Kind: Int8ArrayConstructor | Uint8ArrayConstructor): Array<Int8Array | Uint8Array> {
  const b = Buffer.from(b64, 'base64');
  const all = new Kind(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  return Array.from({ length: shape[0] }, (_, i) => all.subarray(i * shape[1], (i + 1) * shape[1]));
}

describe('quantized embeddings (sentence-transformers quantize_embeddings)', () => {
  const emb = golden().sentences.slice(0, fx.n).map((s) => f32(s.embedding));
  const smallAll = f32(fx.small);
  const small = Array.from({ length: fx.small_shape[0] }, (_, i) => smallAll.subarray(i * fx.small_shape[1], (i + 1) * fx.small_shape[1]));
  for (const c of fx.cases) {
    it(`${c.name}: the same ${c.dtype} bytes`, () => {
      const input = c.input === 'golden' ? emb : small;
      const dim = input[0].length;
      const options = c.name.endsWith(':calibration')
        ? { calibration: input.slice(0, 20) }
        : c.name.endsWith(':ranges')
          ? { ranges: [new Array(dim).fill(fx.ranges[0]), new Array(dim).fill(fx.ranges[1])] as [number[], number[]] }
          : {};
      const data = c.name.endsWith(':calibration') ? input.slice(20) : input;
      const got = quantizeEmbeddings(data, c.precision, options);
      const want = rows(c.data, c.shape, c.dtype === 'int8' ? Int8Array : Uint8Array);
      assert.equal(got.length, want.length);
      got.forEach((g, i) => {
        assert.equal(g instanceof (c.dtype === 'int8' ? Int8Array : Uint8Array), true);
        assert.deepEqual(Array.from(g), Array.from(want[i]), `row ${i}`);
      });
    });
  }

  it('refuses what sentence-transformers refuses, and bad options', () => {
    const bad = (f: () => unknown) => assert.throws(f, (e: BertrtError) => e.code === 'E_INVALID_ARGUMENT');
    bad(() => quantizeEmbeddings([emb[0]], 'int8')); // ranges from one embedding
    bad(() => quantizeEmbeddings(emb, 'int4' as 'int8'));
    bad(() => quantizeEmbeddings([emb[0], emb[1].subarray(1)], 'uint8'));
    bad(() => quantizeEmbeddings(emb, 'int8', { ranges: [[0], [1]] }));
    assert.deepEqual(quantizeEmbeddings([], 'binary'), []);
    assert.deepEqual(Array.from(quantizeEmbeddings([emb[0]], 'float32')[0]), Array.from(emb[0]));
  });
});
