// The HTTP server, started for real on an ephemeral loopback port: every route and error code, the official
// openai client against /v1/embeddings, overload answering 429 with every 200 still correct, and shutdown.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { BertrtError, Embedder, createServer, type BertrtServer } from '../lib';
import { golden, readFixture } from './helpers/fixtures';

async function start(opts: Partial<Parameters<typeof createServer>[0]> = {}): Promise<{ s: BertrtServer; url: string }> {
  const s = await createServer({ models: [{ name: 'minilm' }], maxClientBatchSize: 8, maxBodyBytes: 64 * 1024, ...opts });
  const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
  return { s, url };
}

async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as any };
}

describe('embedding server', function () {
  let s: BertrtServer;
  let url: string;
  let ref: Embedder;
  const texts = golden().sentences.slice(0, 40).map((x) => x.text);
  let expected: Float32Array[];

  before(async () => {
    ({ s, url } = await start());
    ref = await Embedder.load();
    expected = await ref.embed(texts);
  });
  after(async () => {
    await s.close();
    await ref.close();
  });

  it('createServer refuses a limit that would refuse every request or never batch (0, negative, fractional, NaN)', async () => {
    const bad: Array<Record<string, number>> = [
      { maxBatchTokens: 0 }, { maxBatchTokens: -5 }, { maxBatchTokens: 1.5 }, { maxBatchTokens: Number.NaN }, { maxBatchRequests: 0 },
      { maxConcurrentRequests: 0 }, { maxClientBatchSize: 0 }, { maxBodyBytes: 0 }, { maxWaitMs: -1 }, { maxWaitMs: Number.NaN }, { maxConnections: 0 },
    ];
    for (const o of bad) {
      await assert.rejects(createServer({ models: [{ name: 'minilm' }], ...o }), (e: unknown) => {
        assert.ok(e instanceof BertrtError && e.code === 'E_INVALID_ARGUMENT', String(e));
        assert.match(e.message, new RegExp(Object.keys(o)[0]));
        return true;
      }, JSON.stringify(o));
    }
  });

  it('GET /health and /info describe the model', async () => {
    assert.equal((await fetch(url + '/health')).status, 200);
    const info = (await (await fetch(url + '/info')).json()) as any;
    assert.equal(info.model_id, 'minilm');
    assert.equal(info.dimension, 384);
    assert.equal(info.max_input_length, 256);
    assert.equal(info.model_dtype, 'fp32');
    assert.equal(typeof info.version, 'string');
  });

  it('POST /embed returns the vectors Embedder.embed gives, bit for bit', async () => {
    const r = await post(url, '/embed', { inputs: texts.slice(0, 8) });
    assert.equal(r.status, 200);
    r.body.forEach((v: number[], i: number) => assert.deepEqual(Float32Array.from(v), expected[i]));
    const one = await post(url, '/embed', { inputs: texts[3] });
    assert.deepEqual(Float32Array.from(one.body[0]), expected[3]);
  });

  it('normalize: false, dimensions and prompt_name are honoured or refused clearly', async () => {
    const raw = await post(url, '/embed', { inputs: texts[0], normalize: false });
    assert.ok(Math.abs(Math.hypot(...raw.body[0]) - 1) > 0.01);
    const small = await post(url, '/embed', { inputs: texts[0], dimensions: 64 });
    assert.equal(small.body[0].length, 64);
    assert.ok(Math.abs(Math.hypot(...small.body[0]) - 1) < 1e-5);
    assert.equal((await post(url, '/embed', { inputs: texts[0], dimensions: 1000 })).status, 422);
    const bad = await post(url, '/embed', { inputs: texts[0], prompt_name: 'query' });
    assert.equal(bad.status, 422);
    assert.match(bad.body.error, /prompt_name/);
  });

  it('long input: 413 unless truncate is set; truncated from the right or the left', async () => {
    const long = 'word '.repeat(400);
    const r = await post(url, '/embed', { inputs: long });
    assert.equal(r.status, 413);
    assert.equal(r.body.error_type, 'Validation');
    assert.match(r.body.error, /at most 256 tokens/);
    const t = await post(url, '/embed', { inputs: long, truncate: true });
    assert.deepEqual(Float32Array.from(t.body[0]), (await ref.embed([long]))[0]);
    const left = await post(url, '/embed', { inputs: 'alpha ' + 'word '.repeat(400), truncate: true, truncation_direction: 'Left' });
    assert.deepEqual(Float32Array.from(left.body[0]), Float32Array.from(t.body[0])); // the cut-off start differs, the kept tail is the same words
  });

  it('errors: 400 malformed JSON, 422 validation and empty input, 413 too many inputs and body too large', async () => {
    assert.equal((await post(url, '/embed', '{not json')).status, 400);
    const v = await post(url, '/embed', { inputs: [1, 2] });
    assert.deepEqual([v.status, v.body.error_type], [422, 'Validation']);
    const e = await post(url, '/embed', { inputs: [] });
    assert.deepEqual([e.status, e.body.error_type], [422, 'Empty']);
    const many = await post(url, '/embed', { inputs: Array(9).fill('x') });
    assert.deepEqual([many.status, many.body.error_type], [413, 'Validation']);
    const huge = await post(url, '/embed', { inputs: 'x'.repeat(100 * 1024) });
    assert.equal(huge.status, 413);
  });

  it('the official openai client gets the same vectors (base64 by default) and float works too', async () => {
    const client = new OpenAI({ baseURL: url + '/v1', apiKey: 'unused' });
    const res = await client.embeddings.create({ model: 'minilm', input: texts.slice(0, 5) });
    assert.equal(res.object, 'list');
    assert.equal(res.model, 'minilm');
    assert.ok(res.usage.prompt_tokens > 0);
    res.data.forEach((d, i) => {
      assert.equal(d.index, i);
      assert.deepEqual(Float32Array.from(d.embedding), expected[i]);
    });
    const f = await post(url, '/v1/embeddings', { model: 'minilm', input: texts[2], encoding_format: 'float' });
    assert.deepEqual(Float32Array.from(f.body.data[0].embedding), expected[2]);
    const b64 = await post(url, '/v1/embeddings', { model: 'minilm', input: texts[2], encoding_format: 'base64' });
    const buf = Buffer.from(b64.body.data[0].embedding, 'base64');
    assert.deepEqual(new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length)), expected[2]);
  });

  it('/v1/embeddings: token-array input, unknown model 404, OpenAI error shape', async () => {
    const ids = Array.from(ref.tokenizer.encode(texts[1]).ids);
    const r = await post(url, '/v1/embeddings', { model: 'minilm', input: ids, encoding_format: 'float' });
    assert.deepEqual(Float32Array.from(r.body.data[0].embedding), expected[1]);
    const nf = await post(url, '/v1/embeddings', { model: 'gpt-embed', input: 'x' });
    assert.equal(nf.status, 404);
    assert.equal(nf.body.error.type, 'invalid_request_error');
    assert.match(nf.body.error.message, /minilm/);
  });

  it('POST /tokenize gives ids and offsets; POST /decode inverts', async () => {
    const t = await post(url, '/tokenize', { inputs: 'Hello world' });
    assert.deepEqual(t.body[0].map((x: any) => x.id), [101, 7592, 2088, 102]);
    assert.deepEqual([t.body[0][1].start, t.body[0][1].stop], [0, 5]);
    const d = await post(url, '/decode', { ids: [101, 7592, 2088, 102] });
    assert.deepEqual(d.body, ['hello world']);
  });

  it('60 concurrent requests each get their own vectors (no misrouting), batched together', async () => {
    const rs = await Promise.all(Array.from({ length: 60 }, (_, i) => post(url, '/embed', { inputs: texts[i % texts.length] })));
    rs.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.deepEqual(Float32Array.from(r.body[0]), expected[i % texts.length]);
    });
    const m = await (await fetch(url + '/metrics')).text();
    assert.match(m, /bertrt_requests_total\{route="\/embed",status="200"\} \d+/);
    const sum = Number(/bertrt_batch_size_sum\{model="minilm"\} (\d+)/.exec(m)![1]);
    const count = Number(/bertrt_batch_size_count\{model="minilm"\} (\d+)/.exec(m)![1]);
    assert.ok(sum / count > 1.5, `mean batch size ${sum / count}: requests were not merged`);
    assert.match(m, /bertrt_inference_duration_seconds_bucket/);
    assert.match(m, /bertrt_queue_size\{model="minilm"\}/);
  });
});

describe('server /rerank and /predict', function () {
  const heads = require('node:path').join(__dirname, 'fixtures', 'heads');
  const want = readFixture(require('node:path').join(heads, 'expected.json.br'));

  it('/rerank with a cross-encoder gives the HF scores, best first; top_n, return_text, raw_scores', async () => {
    const { s, url } = await start({ models: [{ name: 'rr', dir: require('node:path').join(heads, 'reranker') }] });
    const { query, documents, scores, logits } = want.reranker;
    const r = await post(url, '/rerank', { query, texts: documents, return_text: true });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.map((x: any) => x.index), [...scores.keys()].sort((a: number, b: number) => scores[b] - scores[a]));
    r.body.forEach((x: any) => {
      assert.ok(Math.abs(x.score - scores[x.index]) < 1e-4);
      assert.equal(x.text, documents[x.index]);
    });
    const raw = await post(url, '/rerank', { query, texts: documents, raw_scores: true, top_n: 1 });
    assert.equal(raw.body.length, 1);
    assert.ok(Math.abs(raw.body[0].score - logits[raw.body[0].index]) < 1e-4);
    assert.equal((await post(url, '/rerank', { query, texts: 'not an array' })).status, 422);
    await s.close();
  });

  it('/predict gives the labels and scores HF gives, for texts and pairs; 424 on an embedding-only model', async () => {
    const { s, url } = await start({ models: [{ name: 'cls', dir: require('node:path').join(heads, 'classifier') }] });
    const r = await post(url, '/predict', { inputs: want.texts[1] });
    assert.deepEqual(r.body.map((x: any) => x.label), want.classifier.single[1].map((x: any) => x.label));
    r.body.forEach((x: any, j: number) => assert.ok(Math.abs(x.score - want.classifier.single[1][j].score) < 1e-4));
    const p = await post(url, '/predict', { inputs: [want.pairs[0]] });
    assert.equal(p.body[0][0].label, want.classifier.pairs[0][0].label);
    // TEI's policy: a long input is refused (413) unless `truncate` is set
    const long = want.classifier.long;
    assert.equal((await post(url, '/predict', { inputs: long.text })).status, 413);
    const cut = await post(url, '/predict', { inputs: long.text, truncate: true });
    assert.equal(cut.status, 200);
    assert.equal(cut.body[0].label, long.right[0].label);
    await s.close();
    const e = await start();
    assert.equal((await post(e.url, '/predict', { inputs: 'x' })).status, 424);
    await e.s.close();
  });
});

describe('embedding server under overload, auth and shutdown', function () {
  it('a flood beyond --max-concurrent-requests gets 429 at once; every 200 is still correct', async () => {
    const { s, url } = await start({ maxConcurrentRequests: 4 });
    const ref = await Embedder.load();
    const texts = Array.from({ length: 80 }, (_, i) => `request number ${i}: ` + 'some words '.repeat(20));
    const want = await ref.embed(texts);
    const rs = await Promise.all(texts.map((t) => post(url, '/embed', { inputs: t })));
    const ok = rs.filter((r) => r.status === 200).length;
    const busy = rs.filter((r) => r.status === 429);
    assert.equal(ok + busy.length, texts.length, 'only 200 and 429 are expected');
    assert.ok(busy.length > 0 && ok > 0, `${ok} ok, ${busy.length} refused`);
    assert.equal(busy[0].body.error_type, 'Overloaded');
    rs.forEach((r, i) => {
      if (r.status === 200) assert.deepEqual(Float32Array.from(r.body[0]), want[i]);
    });
    // healthy afterwards
    assert.equal((await post(url, '/embed', { inputs: texts[0] })).status, 200);
    await s.close();
    await ref.close();
  });

  it('serves several models from one process; /v1/embeddings picks by name, TEI routes use the first', async () => {
    const heads = require('node:path').join(__dirname, 'fixtures', 'heads');
    const { s, url } = await start({ models: [{ name: 'minilm' }, { name: 'tiny', dir: require('node:path').join(heads, 'classifier') }] });
    const a = await post(url, '/v1/embeddings', { model: 'minilm', input: 'hello', encoding_format: 'float' });
    const b = await post(url, '/v1/embeddings', { model: 'tiny', input: 'hello', encoding_format: 'float' });
    assert.equal(a.body.data[0].embedding.length, 384);
    assert.equal(b.body.data[0].embedding.length, 16);
    assert.equal((await post(url, '/embed', { inputs: 'hello' })).body[0].length, 384);
    const info = (await (await fetch(url + '/info')).json()) as any;
    assert.deepEqual(info.models, ['minilm', 'tiny']);
    await s.close();
  });

  it('--api-key guards every route but /health', async () => {
    const { s, url } = await start({ apiKey: 'sekret' });
    assert.equal((await fetch(url + '/health')).status, 200);
    assert.equal((await post(url, '/embed', { inputs: 'x' })).status, 401);
    assert.equal((await post(url, '/embed', { inputs: 'x' }, { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await post(url, '/embed', { inputs: 'x' }, { authorization: 'Bearer sekret' })).status, 200);
    assert.equal((await post(url, '/embed', { inputs: 'x' }, { authorization: 'Bearer sekret2' })).status, 401);
    assert.equal((await post(url, '/embed', { inputs: 'x' }, { authorization: 'bearer sekret' })).status, 401);
    await s.close();
    // a key that would turn the guard off (empty) or could never be sent (spaces, control characters) is refused
    for (const apiKey of ['', ' ', 'two words', 'tab\there', 'é']) {
      await assert.rejects(createServer({ models: [{ name: 'minilm' }], apiKey }), { code: 'E_INVALID_ARGUMENT', message: /apiKey must be/ }, JSON.stringify(apiKey));
    }
  });

  it('close() lets in-flight requests finish and refuses new ones', async () => {
    const { s, url } = await start();
    const inflight = post(url, '/embed', { inputs: Array(8).fill('a fairly long sentence '.repeat(30)) });
    // close only once the request is inside the batcher: one that arrives after close() begins gets 503, by design
    const queued = async () => ((await s.metrics.queueSize.get()).values[0]?.value ?? 0) > 0;
    for (let i = 0; i < 400 && !(await queued()); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(await queued(), 'the request never reached the batcher');
    const closing = s.close();
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 8);
    await closing;
    await assert.rejects(fetch(url + '/health'));
  });

  it('by default a request that finds the engine idle is not held back for company (as in text-embeddings-inference)', async () => {
    const { s, url } = await start();
    const waited = async () => (await s.metrics.queueDuration.get()).values.find((v) => v.metricName === 'bertrt_queue_duration_seconds_sum')?.value ?? 0;
    for (let i = 0; i < 5; i++) assert.equal((await post(url, '/embed', { inputs: `one at a time ${i}` })).status, 200);
    // a wait of even 1 ms would put at least 5 ms here (Node's timers never fire early); at once, microseconds
    assert.ok((await waited()) < 0.004, `five lone requests waited ${(await waited()) * 1000} ms for their batches`);
    await s.close();
  });

  it('a client that disconnects before its work starts has its work dropped (no engine batch runs for it)', async () => {
    const { s, url } = await start({ maxWaitMs: 300 }); // a lone request waits 300 ms for company before it runs
    const batches = async () => (await s.metrics.batchSize.get()).values.find((v) => v.metricName === 'bertrt_batch_size_count')?.value ?? 0;
    const before = await batches();
    const ac = new AbortController();
    const req = fetch(url + '/embed', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: 'bye' }), signal: ac.signal });
    const queued = async () => ((await s.metrics.queueSize.get()).values[0]?.value ?? 0) > 0;
    for (let i = 0; i < 100 && !(await queued()); i++) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await assert.rejects(req);
    await new Promise((r) => setTimeout(r, 500)); // past the batching wait
    assert.equal(await batches(), before, 'a batch ran for a request whose client had left');
    assert.equal((await post(url, '/embed', { inputs: 'still here' })).status, 200);
    assert.equal(await batches(), before + 1);
    await s.close();
  });

  it('a request past its x-request-timeout-ms deadline before it runs gets 408', async () => {
    const { s, url } = await start({ maxWaitMs: 50 });
    const r = await post(url, '/embed', { inputs: 'x' }, { 'x-request-timeout-ms': '1' });
    assert.equal(r.status, 408);
    assert.equal((await post(url, '/embed', { inputs: 'x' })).status, 200);
    await s.close();
  });
});
