// Structure-aware fuzzing of the server's request bodies: valid bodies of every route, mutated (fuzz/mutate.ts),
// plus raw bytes that are not JSON. Every answer must be a 2xx, or a 4xx with the route's error shape ({ error,
// error_type }, OpenAI's { error: { message, type } } on /v1): never a 5xx, a dropped connection or a stall; and the
// server must still answer /health and a correct /embed afterwards.
import { createServer } from '../lib';
import { type Json, mutate } from './mutate';
import { rng } from './tokenizer';
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
  ['/predict', { inputs: [['a', 'b']], truncate: true }],
];

export async function fuzzServer(seed: number, cases: number): Promise<CaseReport> {
  const r = rng(seed ^ 0x5e7e);
  const s = await createServer({ models: [{ name: 'minilm' }], maxBodyBytes: 256 * 1024 });
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
  } finally {
    await s.close();
  }
  return { cases, accepted, failures };
}
