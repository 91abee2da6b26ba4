// The server's contract beyond the happy path (issue 19): every error in the route family's shape, 404 and 405
// included; a `model` field honoured on every route; every body validated by its route's schema (422 naming the
// field); the same schemas served as /openapi.json and /docs; /v1/models; /v1/embeddings' `truncate` and
// --auto-truncate; the rerank length error naming `texts`.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
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

  it('every body is checked by its route\'s schema: wrong types and ranges are 422s naming the field', async () => {
    const cases: Array<[string, unknown, string, string?]> = [
      ['/embed', [1, 2], 'the body must be a JSON object'],
      ['/embed', {}, '`inputs` is required'],
      ['/embed', { inputs: [1, 2] }, '`inputs` must be a string or a non-empty array of strings'],
      ['/embed', { inputs: [] }, '`inputs` cannot be empty', 'Empty'],
      ['/embed', { inputs: 'x', dimensions: 0 }, '`dimensions` must be an integer'],
      ['/embed', { inputs: 'x', dimensions: '64' }, '`dimensions` must be an integer'],
      ['/embed', { inputs: 'x', dimensions: 385 }, '`dimensions` must be an integer in [1, 384]'],
      ['/embed', { inputs: 'x', truncation_direction: 'up' }, '`truncation_direction` must be "right"'],
      ['/embed', { inputs: 'x', prompt_name: 7 }, '`prompt_name` must be'],
      ['/embed_all', { inputs: 'x', truncate: 'yes' }, '`truncate` must be true or false'],
      ['/similarity', { inputs: { source_sentence: 'a', sentences: [] } }, '`inputs.sentences` cannot be empty', 'Empty'],
      ['/similarity', { inputs: { sentences: ['a'] } }, '`inputs.source_sentence` is required'],
      ['/similarity', { inputs: 'a' }, '`inputs` must be an object'],
      ['/rerank', { model: 'rr', query: 'q', texts: ['a'], top_n: -1 }, '`top_n` must be a non-negative integer'],
      ['/rerank', { model: 'rr', query: 'q', texts: ['a'], top_n: 'abc' }, '`top_n` must be a non-negative integer'],
      ['/rerank', { model: 'rr', query: 'q', texts: ['a'], top_n: 1.5 }, '`top_n` must be a non-negative integer'],
      ['/rerank', { model: 'rr', query: 'q', texts: [] }, '`texts` cannot be empty', 'Empty'],
      ['/rerank', { model: 'rr', texts: ['a'] }, '`query` is required'],
      ['/rerank', { model: 'rr', query: 'q', texts: ['a', 3] }, '`texts[1]` must be string'],
      ['/predict', { model: 'rr', inputs: [['a']] }, '`inputs` must be a text, a [text, text] pair'],
      ['/decode', { ids: 'x' }, '`ids` must be a non-empty array of token ids'],
      ['/decode', { ids: [] }, '`ids` cannot be empty', 'Empty'],
      ['/tokenize', { inputs: 'x', model: 3 }, '`model` must be'],
      ['/v1/embeddings', { input: 'x', encoding_format: 'hex' }, '`encoding_format` must be "float", "base64", or a quantized precision'],
      ['/v1/embeddings', { input: [[1, 2], []] }, '`input[1]` cannot be empty', 'Empty'],
      ['/v1/embeddings', { input: [1.5] }, '`input` must be a string, an array of strings, an array of token ids'],
    ];
    for (const [route, b, message, type] of cases) {
      const r = await call(url, route, b);
      const got = route.startsWith('/v1') ? { error: r.body.error.message, error_type: r.body.error.code } : r.body;
      assert.equal(r.status, 422, `${route} ${JSON.stringify(b)}: ${JSON.stringify(r.body)}`);
      assert.ok(got.error.startsWith(message), `${route} ${JSON.stringify(b)}: ${got.error}`);
      assert.equal(got.error_type, type ?? 'Validation', `${route} ${JSON.stringify(b)}`);
    }
    // null stands for "not given", as TEI's optional fields take it; unknown fields are ignored, as TEI and OpenAI do
    const ok = await call(url, '/embed', { inputs: 'x', normalize: null, dimensions: null, truncate: null, model: null, extra: { any: 1 } });
    assert.equal(ok.status, 200);
    assert.deepEqual(Float32Array.from(ok.body[0]), (await ref.embed(['x']))[0]);
  });

  it('/openapi.json describes every route with the schemas that validate it, and every status the README lists', async () => {
    const r = await call(url, '/openapi.json', undefined, 'GET');
    assert.equal(r.status, 200);
    const doc = r.body;
    assert.equal(doc.openapi, '3.1.0');
    const routes = ['/embed', '/embed_all', '/embed_sparse', '/encode', '/similarity', '/predict', '/rerank', '/tokenize', '/decode', '/v1/embeddings'];
    assert.deepEqual(Object.keys(doc.paths).sort(), [...routes, '/health', '/info', '/metrics', '/v1/models'].sort());
    const statuses = new Set<string>();
    for (const route of routes) {
      const op = doc.paths[route].post;
      const schema = op.requestBody.content['application/json'].schema;
      assert.ok(schema.required.length > 0, route);
      // the served schema is the one in force: leave out any field it requires and the server names that field
      for (const field of schema.required as string[]) {
        const body: Record<string, unknown> = { model: 'rr', inputs: 'x', input: 'x', query: 'q', texts: ['a'], ids: [1], outputs: ['dense'] };
        delete body[field];
        const res = await call(url, route, body);
        const msg = route.startsWith('/v1') ? res.body.error.message : res.body.error;
        assert.equal(res.status, 422, `${route} without ${field}`);
        assert.ok(msg.startsWith(`\`${field}\` is required`), `${route} without ${field}: ${msg}`);
      }
      for (const s of Object.keys(op.responses)) statuses.add(s);
    }
    // the README's list of error statuses and the document's are the same (405 is answered for any path)
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const para = readme.slice(readme.indexOf('Errors are `{error, error_type}`'));
    const listed = new Set([...para.slice(0, para.indexOf('\n\n')).matchAll(/\b([45]\d\d) /g)].map((m) => m[1]));
    assert.deepEqual([...listed].sort(), [...statuses].filter((s) => s !== '200').concat('405').sort());
  });

  it('/docs serves Swagger UI from the package, without the bearer key; the data routes still need it', async () => {
    const k = await start({ apiKey: 'secret' });
    const page = await fetch(k.url + '/docs');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const js = await fetch(k.url + '/docs/static/swagger-ui-bundle.js');
    assert.equal(js.status, 200);
    assert.ok((await js.text()).length > 100_000);
    assert.equal((await fetch(k.url + '/openapi.json')).status, 200);
    assert.equal((await call(k.url, '/embed', { inputs: 'x' })).status, 401);
    await k.s.close();
  });
});
