// Structure-aware fuzzing of the server's request bodies: valid bodies of every POST route, mutated
// (fuzz/mutate.ts), plus raw bytes that are not JSON, against a server of five models — the embedded MiniLM, a
// cross-encoder, a classifier, an MLM (SPLADE) model and bge-m3's three heads — so that the mutations reach each
// route's own head and not only the 424 of a model that lacks it. Every answer must be a 2xx, or a 4xx with the
// route's error shape ({ error, error_type }, OpenAI's { error: { message, type } } on /v1): never a 5xx, a dropped
// connection or a stall; and the server must still answer /health and a correct /embed afterwards.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createServer } from '../lib';
import { familyFixture, overlayDir } from '../tests/helpers/fixtures';
import { type Json, mutate } from './mutate';
import { root, rng } from './tokenizer';
import type { CaseReport } from './files';

const VALID: Array<[string, Json]> = [
  ['/embed', { inputs: ['hello world', 'a second text'], normalize: true, truncate: false }],
  ['/embed', { inputs: 'query text', prompt_name: null, truncate: true, truncation_direction: 'left', dimensions: 128 }],
  ['/v1/embeddings', { input: ['hello', 'world'], model: 'minilm', encoding_format: 'float' }],
  ['/v1/embeddings', { input: [101, 7592, 102], encoding_format: 'base64', dimensions: 64 }],
  ['/v1/embeddings', { input: [[101, 7592, 102], [101, 2088, 102]] }],
  ['/tokenize', { inputs: ['tokenize me', 'and me'], add_special_tokens: true }],
  ['/decode', { ids: [[101, 7592, 102]], skip_special_tokens: true }],
  ['/rerank', { query: 'what', texts: ['a', 'b'], top_n: 1, return_text: true }],
  ['/rerank', { model: 'rr', query: 'what is it', texts: ['a thing', 'another thing'], top_n: 1, return_text: true, raw_scores: false, truncate: true }],
  ['/predict', { inputs: [['a', 'b']], truncate: true }],
  ['/predict', { model: 'cls', inputs: ['a text', 'and another'], raw_scores: false, truncate: true }],
  ['/predict', { model: 'rr', inputs: [['a question', 'an answer']] }],
  ['/embed_sparse', { model: 'mlm', inputs: ['sparse words here', 'more'], truncate: true }],
  ['/embed_all', { model: 'minilm', inputs: ['every token'], truncate: true }],
  ['/similarity', { inputs: { source_sentence: 'a cat', sentences: ['a dog', 'a car'] } }],
  ['/encode', { model: 'm3', inputs: ['one', 'two texts'], outputs: ['dense', 'sparse', 'colbert'], top_k: 4, threshold: 0, normalize: true }],
  ['/encode', { model: 'm3', inputs: 'a query', outputs: ['colbert'], is_query: true }],
  ['/v1/embeddings', { model: 'm3', input: 'multilingual text', dimensions: 8 }],
];

export async function fuzzServer(seed: number, cases: number): Promise<CaseReport> {
  const r = rng(seed ^ 0x5e7e);
  const heads = path.join(root, 'tests', 'fixtures', 'heads');
  const xlmr = familyFixture('xlm-roberta').dir;
  const m3 = overlayDir(xlmr, path.join(root, 'tests', 'fixtures', 'outputs', 'm3'));
  const s = await createServer({
    models: [
      { name: 'minilm' },
      { name: 'rr', dir: path.join(heads, 'reranker') },
      { name: 'cls', dir: path.join(heads, 'classifier') },
      { name: 'mlm', dir: path.join(heads, 'mlm') },
      { name: 'm3', dir: m3 },
    ],
    maxBodyBytes: 256 * 1024,
  });
  const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
  const failures: string[] = [];
  let accepted = 0;
  const check = async (route: string, body: string, contentType = 'application/json') => {
    let res: Response;
    try {
      res = await fetch(url + route, { method: 'POST', headers: { 'content-type': contentType }, body, signal: AbortSignal.timeout(30_000) });
    } catch (e) {
      failures.push(`${route} ${body.slice(0, 120)}: no answer (${(e as Error).message})`);
      return;
    }
    const text = await res.text();
    if (res.status < 300) {
      accepted++;
      return;
    }
    let j: any;
    try {
      j = JSON.parse(text);
    } catch {
      failures.push(`${route} ${body.slice(0, 120)}: ${res.status} with a body that is not JSON: ${text.slice(0, 80)}`);
      return;
    }
    const shaped = route.startsWith('/v1/') ? typeof j?.error?.message === 'string' && typeof j?.error?.type === 'string' : typeof j?.error === 'string' && typeof j?.error_type === 'string';
    if (res.status >= 500 || !shaped) failures.push(`${route} ${body.slice(0, 160)}: ${res.status} ${text.slice(0, 160)}`);
  };
  try {
    for (let i = 0; i < cases; i++) {
      const [route, body] = VALID[Math.floor(r() * VALID.length)];
      const k = r();
      if (k < 0.85) await check(route, JSON.stringify(mutate(body, r)));
      else if (k < 0.9) await check(route, JSON.stringify(body).slice(0, Math.floor(r() * JSON.stringify(body).length)));
      else if (k < 0.95) await check(route, JSON.stringify(body), r() < 0.5 ? 'text/plain' : 'application/x-www-form-urlencoded');
      else await check(route, String.fromCharCode(...Array.from({ length: 64 }, () => Math.floor(r() * 256))));
    }
    // still healthy, and still right
    const h = await fetch(url + '/health');
    if (h.status !== 200) failures.push(`/health answered ${h.status} after the run`);
    const e = await fetch(url + '/embed', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: 'hello world' }) });
    if (e.status !== 200 || ((await e.json()) as number[][])[0].length !== 384) failures.push('/embed no longer answers after the run');
    const rr = await fetch(url + '/rerank', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'rr', query: 'what', texts: ['a', 'b'] }) });
    if (rr.status !== 200 || ((await rr.json()) as unknown[]).length !== 2) failures.push('/rerank no longer answers after the run');
  } finally {
    await s.close();
    for (const d of [xlmr, m3]) fs.rmSync(d, { recursive: true, force: true });
  }
  return { cases, accepted, failures };
}
