// The server's contract beyond the happy path (issue 19): every error in the route family's shape, 404 and 405
// included; a `model` field honoured on every route; booleans typed; /v1/models; /v1/embeddings' `truncate` and
// --auto-truncate; the rerank length error naming `texts`.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { createServer, Embedder, type BertrtServer } from '../lib';
import { maxAbsDiff } from './helpers/fixtures';

const heads = path.join(__dirname, 'fixtures', 'heads');

async function start(opts: Partial<Parameters<typeof createServer>[0]> = {}): Promise<{ s: BertrtServer; url: string }> {
  const s = await createServer({ models: [{ name: 'minilm' }, { name: 'rr', dir: path.join(heads, 'reranker') }], ...opts });
  return { s, url: await s.app.listen({ host: '127.0.0.1', port: 0 }) };
}

async function call(url: string, route: string, body?: unknown, method = 'POST') {
  const r = await fetch(url + route, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
}

describe('server contract', function () {
  let s: BertrtServer;
  let url: string;
  let ref: Embedder;
  before(async () => {
    ({ s, url } = await start());
    ref = await Embedder.load();
  });
  after(async () => {
    await s.close();
    await ref.close();
  });

  it('an unknown route is a 404 and a wrong method a 405 with Allow, in TEI\'s shape (OpenAI\'s on /v1)', async () => {
    const nf = await call(url, '/nope', {});
    assert.deepEqual([nf.status, nf.body.error_type], [404, 'NotFound']);
    assert.match(nf.body.error, /no route POST \/nope/);
    const wrong = await call(url, '/embed', undefined, 'GET');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
    assert.equal(wrong.body.error_type, 'Validation');
    const v1 = await call(url, '/v1/nothing', {});
    assert.equal(v1.status, 404);
    assert.equal(typeof v1.body.error.message, 'string');
  });

  it('`model` picks the model on every route that takes one; an unknown one is a 404', async () => {
    const a = await call(url, '/rerank', { model: 'rr', query: 'q', texts: ['a', 'b'] });
    assert.equal(a.status, 200);
    assert.equal(a.body.length, 2);
    // the default model is not a cross-encoder: 424
    assert.equal((await call(url, '/rerank', { query: 'q', texts: ['a'] })).status, 424);
    assert.equal((await call(url, '/predict', { model: 'rr', inputs: 'x' })).status, 200);
    const t = await call(url, '/tokenize', { model: 'rr', inputs: 'hello' });
    assert.equal(t.status, 200);
    for (const route of ['/embed', '/rerank', '/predict', '/tokenize', '/decode', '/v1/embeddings']) {
      const r = await call(url, route, { model: 'absent', inputs: 'x', input: 'x', query: 'q', texts: ['a'], ids: [1] });
      assert.deepEqual([r.status, route.startsWith('/v1') ? r.body.error.code : r.body.error_type], [404, 'ModelNotFound'], route);
    }
    assert.equal((await call(url, '/embed', { model: 5, inputs: 'x' })).status, 422);
  });

  it('booleans must be booleans: normalize "no" is a 422 naming the field', async () => {
    for (const [route, b] of [
      ['/embed', { inputs: 'x', normalize: 'no' }],
      ['/embed', { inputs: 'x', truncate: 1 }],
      ['/tokenize', { inputs: 'x', add_special_tokens: 'false' }],
      ['/rerank', { model: 'rr', query: 'q', texts: ['a'], return_text: 'yes' }],
      ['/decode', { ids: [101], skip_special_tokens: 0 }],
    ] as const) {
      const r = await call(url, route, b);
      const field = Object.keys(b).find((k) => !['inputs', 'model', 'query', 'texts', 'ids'].includes(k))!;
      assert.equal(r.status, 422, `${route} ${JSON.stringify(b)}`);
      assert.match(r.body.error, new RegExp('`' + field + '`'));
    }
    const off = await call(url, '/embed', { inputs: 'x', normalize: false });
    assert.equal(off.status, 200);
  });

  it('/v1/models lists every model served', async () => {
    const r = await call(url, '/v1/models', undefined, 'GET');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data.map((m: { id: string }) => m.id), ['minilm', 'rr']);
    assert.equal(r.body.object, 'list');
  });

  it('/v1/embeddings: 413 for a long input unless `truncate` (an extension) is set', async () => {
    const long = 'word '.repeat(400);
    assert.equal((await call(url, '/v1/embeddings', { input: long })).status, 413);
    const r = await call(url, '/v1/embeddings', { input: long, truncate: true });
    assert.equal(r.status, 200);
    assert.deepEqual(Float32Array.from(r.body.data[0].embedding), (await ref.embed([long]))[0]);
  });

  it('the rerank length error names texts[i]', async () => {
    const r = await call(url, '/rerank', { model: 'rr', query: 'q', texts: ['short', 'word '.repeat(400)] });
    assert.equal(r.status, 413);
    assert.match(r.body.error, /texts\[1\]/);
  });

  it('--auto-truncate cuts long inputs on every route instead of answering 413', async () => {
    const a = await start({ autoTruncate: true });
    const long = 'word '.repeat(400);
    for (const [route, b] of [
      ['/embed', { inputs: long }],
      ['/v1/embeddings', { input: long }],
      ['/tokenize', { inputs: long }],
      ['/rerank', { model: 'rr', query: 'q', texts: [long] }],
    ] as const) {
      assert.equal((await call(a.url, route, b)).status, 200, route);
    }
    // an explicit truncate: false still refuses
    assert.equal((await call(a.url, '/embed', { inputs: long, truncate: false })).status, 413);
    await a.s.close();
  });

  it("/embed_all gives every token's hidden state, as Embedder.embedTokens does", async () => {
    const r = await call(url, '/embed_all', { inputs: ['hello world', 'hi'] });
    assert.equal(r.status, 200);
    const want = await ref.embedTokens(['hello world', 'hi']);
    r.body.forEach((rows: number[][], i: number) => {
      assert.equal(rows.length, want[i].length / 384);
      // bit for bit, but for the sign of zero, which JSON does not keep
      assert.equal(maxAbsDiff(Float32Array.from(rows.flat()), want[i]), 0);
    });
    const big = await call(url, '/embed_all', { inputs: Array(20).fill('word '.repeat(250)) });
    assert.equal(big.status, 413);
    assert.match(big.body.error, /at most 4096 tokens/);
  });

  it('/similarity gives the cosine of each sentence to the source', async () => {
    const r = await call(url, '/similarity', { inputs: { source_sentence: 'The weather is lovely today.', sentences: ["It's so sunny outside!", 'He drove to the stadium.'] } });
    assert.equal(r.status, 200);
    const [a, b, c] = await ref.embed(['The weather is lovely today.', "It's so sunny outside!", 'He drove to the stadium.']);
    const dot = (x: Float32Array, y: Float32Array) => x.reduce((acc, v, j) => acc + v * y[j], 0);
    assert.ok(Math.abs(r.body[0] - dot(a, b)) < 1e-6 && Math.abs(r.body[1] - dot(a, c)) < 1e-6);
    assert.equal((await call(url, '/similarity', { inputs: { sentences: ['x'] } })).status, 422);
  });
});
