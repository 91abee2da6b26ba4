// The server's multi-output and quantized answers: POST /encode (dense + sparse + ColBERT from one pass) equals
// Embedder.encode on a bge-m3-style model and a pylate ColBERT model; /embed_sparse serves bge-m3's sparse head;
// `precision` / `encoding_format` on /embed and /v1/embeddings equal quantizeEmbeddings byte for byte (itself
// checked against sentence-transformers in tests/quantize.test.ts), as integers or base64; bad options get 422 and
// missing outputs 424.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { createServer, type BertrtServer, Embedder, quantizeEmbeddings } from '../lib';
import { defaultModel, familyFixture, golden, overlayDir, root } from './helpers/fixtures';

const FIX = path.join(root, 'tests', 'fixtures', 'outputs');

async function post(url: string, route: string, body: unknown) {
  const r = await fetch(url + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as any };
}

describe('server: multi-output and quantized embeddings', function () {
  this.timeout(120_000);
  let s: BertrtServer;
  let url: string;
  let m3: Embedder, colbert: Embedder, minilm: Embedder;
  let m3Dir: string, colbertDir: string;
  const texts = golden().sentences.slice(0, 12).map((x) => x.text);

  before(async () => {
    m3Dir = overlayDir(familyFixture('xlm-roberta').dir, path.join(FIX, 'm3'));
    colbertDir = overlayDir(defaultModel, path.join(FIX, 'colbert'));
    s = await createServer({ models: [{ name: 'minilm' }, { name: 'm3', dir: m3Dir }, { name: 'colbert', dir: colbertDir }], maxClientBatchSize: 16 });
    url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    [m3, colbert, minilm] = await Promise.all([Embedder.load(m3Dir), Embedder.load(colbertDir), Embedder.load()]);
  });
  after(async () => {
    await s.close();
    await Promise.all([m3.close(), colbert.close(), minilm.close()]);
  });

  it('POST /encode gives what Embedder.encode gives: dense, sparse as [{ index, value }], ColBERT as rows', async () => {
    const r = await post(url, '/encode', { model: 'm3', inputs: texts, outputs: ['dense', 'sparse', 'colbert'], top_k: 5 });
    assert.equal(r.status, 200);
    const want = await m3.encode(texts, { dense: true, sparse: true, colbert: true, topK: 5 });
    r.body.forEach((o: any, i: number) => {
      assert.deepEqual(Float32Array.from(o.dense), want.dense![i]);
      assert.deepEqual(o.sparse.map((e: any) => e.index), [...want.sparse![i].indices]);
      assert.deepEqual(Float32Array.from(o.sparse.map((e: any) => e.value)), want.sparse![i].values);
      assert.equal(o.colbert.length, want.colbert![i].rows);
      assert.deepEqual(Float32Array.from(o.colbert.flat()), want.colbert![i].data);
    });
    const q = await post(url, '/encode', { model: 'colbert', inputs: texts.slice(0, 3), outputs: ['colbert'], is_query: true });
    assert.equal(q.status, 200);
    const wq = await colbert.embedMultiVector(texts.slice(0, 3), { isQuery: true });
    q.body.forEach((o: any, i: number) => assert.deepEqual(Float32Array.from(o.colbert.flat()), wq[i].data));
    // /embed_sparse serves bge-m3's sparse head too, every weight
    const sp = await post(url, '/embed_sparse', { model: 'm3', inputs: texts.slice(0, 2) });
    const wsp = await m3.encode(texts.slice(0, 2), { dense: false, sparse: true });
    sp.body.forEach((v: any[], i: number) => assert.deepEqual(v.map((e) => e.index), [...wsp.sparse![i].indices]));
  });

  it('/encode: an unknown output, top_k <= 0 or no outputs are 422; an output the model lacks is 424', async () => {
    for (const body of [
      { inputs: 'x', outputs: ['dense', 'vectors'] },
      { inputs: 'x', outputs: ['sparse'], top_k: 0 },
      { inputs: 'x', outputs: [] },
      { inputs: 'x', outputs: ['sparse'], threshold: -1 },
    ]) {
      const r = await post(url, '/encode', { model: 'm3', ...body });
      assert.equal(r.status, 422, JSON.stringify(body));
    }
    const lacks = await post(url, '/encode', { model: 'minilm', inputs: 'x', outputs: ['colbert'] });
    assert.equal(lacks.status, 424);
    assert.match(lacks.body.error, /colbert/);
    assert.equal((await post(url, '/encode', { model: 'colbert', inputs: 'x', outputs: ['dense'] })).status, 424);
    assert.equal((await post(url, '/embed_sparse', { model: 'minilm', inputs: 'x' })).status, 424);
  });

  it('/embed and /v1/embeddings: precision and encoding_format equal quantizeEmbeddings, as integers or base64', async () => {
    const dense = await minilm.embed(texts);
    for (const precision of ['int8', 'uint8', 'binary', 'ubinary'] as const) {
      const want = quantizeEmbeddings(dense, precision);
      const ints = await post(url, '/embed', { model: 'minilm', inputs: texts, precision });
      assert.equal(ints.status, 200);
      ints.body.forEach((v: number[], i: number) => assert.deepEqual(v, Array.from(want[i]), `${precision} /embed[${i}]`));
      const b64 = await post(url, '/embed', { model: 'minilm', inputs: texts, precision, encoding_format: 'base64' });
      b64.body.forEach((v: string, i: number) => assert.deepEqual(Buffer.from(v, 'base64'), Buffer.from(want[i].buffer, want[i].byteOffset, want[i].byteLength)));
      const oa = await post(url, '/v1/embeddings', { model: 'minilm', input: texts, encoding_format: precision });
      assert.equal(oa.status, 200);
      oa.body.data.forEach((d: any, i: number) => assert.deepEqual(d.embedding, Array.from(want[i]), `${precision} /v1/embeddings[${i}]`));
      const oa64 = await post(url, '/v1/embeddings', { model: 'minilm', input: texts, encoding_format: 'base64', precision });
      oa64.body.data.forEach((d: any, i: number) => assert.deepEqual(Buffer.from(d.embedding, 'base64'), Buffer.from(want[i].buffer, want[i].byteOffset, want[i].byteLength)));
    }
    // given ranges: the same integers for one text alone as inside a batch quantized with those ranges
    const ranges: [number[], number[]] = [Array(384).fill(-0.2), Array(384).fill(0.2)];
    const one = await post(url, '/embed', { model: 'minilm', inputs: texts[0], precision: 'int8', ranges });
    assert.deepEqual(one.body[0], Array.from(quantizeEmbeddings([dense[0]], 'int8', { ranges })[0]));
    // float32 base64 is the float32 bytes
    const f = await post(url, '/embed', { model: 'minilm', inputs: texts[1], encoding_format: 'base64' });
    assert.deepEqual(new Float32Array(new Uint8Array(Buffer.from(f.body[0], 'base64')).buffer), dense[1]);
  });

  it('quantization options that cannot work are 422, naming the problem', async () => {
    const single = await post(url, '/embed', { model: 'minilm', inputs: 'one text', precision: 'int8' });
    assert.equal(single.status, 422);
    assert.match(single.body.error, /ranges/);
    const short = await post(url, '/embed', { model: 'minilm', inputs: ['a', 'b'], precision: 'uint8', ranges: [[0], [1]] });
    assert.equal(short.status, 422);
    assert.match(short.body.error, /384/);
    assert.equal((await post(url, '/embed', { model: 'minilm', inputs: 'x', precision: 'int4' })).status, 422);
    assert.equal((await post(url, '/v1/embeddings', { model: 'minilm', input: 'x', encoding_format: 'int4' })).status, 422);
  });
});
