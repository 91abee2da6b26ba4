// Models by Hub id (lib/hub/hub.ts) against tests/helpers/mock-hub.ts, a local Hub whose protocol
// tools/check_mock_hub.py checks against huggingface_hub itself. Reference for every loaded model: the same folder
// loaded from disk, bit for bit.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, Embedder, Tokenizer } from '../lib';
import { snapshot } from '../lib/hub/hub';
import { listCache, removeFromCache } from '../lib/hub/cache';
import { commitSha, filesOf, MockHub } from './helpers/mock-hub';
import { onnxFixtures, safetensorsBytes, tinyTensors, tmpDir, writeTinyModel } from './helpers/fixtures';

const root = path.join(__dirname, '..');

function stModel(seed: number): string {
  const dir = writeTinyModel({ weights: safetensorsBytes(tinyTensors(), seed) });
  fs.writeFileSync(path.join(dir, 'modules.json'), JSON.stringify([
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
  ]));
  fs.mkdirSync(path.join(dir, '1_Pooling'));
  fs.writeFileSync(path.join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 32, pooling_mode_mean_tokens: true }));
  fs.writeFileSync(path.join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 24, do_lower_case: false }));
  return dir;
}

const TEXTS = ['the cat sat on the mat.', 'hello world', 'a dog'];

async function embed(model: string, options: Parameters<typeof Embedder.load>[1] = {}): Promise<Buffer> {
  const e = await Embedder.load(model, { threads: 1, ...options });
  try {
    return Buffer.concat((await e.embed(TEXTS)).map((v) => Buffer.from(v.buffer)));
  } finally {
    await e.close();
  }
}

async function rejectsCode(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BertrtError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('models by Hub id (mock Hub)', function () {
  this.timeout(120000);
  const dirMain = stModel(1);
  const dirV1 = stModel(2);
  const A = commitSha('v1');
  const B = commitSha('main');
  let hub: MockHub;
  let cache: string;
  const extra = { 'README.md': Buffer.from('# tiny\n'), 'onnx/model.onnx': Buffer.alloc(4096, 1), 'flax_model.msgpack': Buffer.alloc(2048, 2) };
  const opts = (more: Record<string, unknown> = {}, engine: Record<string, unknown> = {}) => ({ ...engine, hub: { endpoint: hub.hubUrl, cacheDir: cache, token: false as const, retries: 3, timeout: 5, ...more } });
  const onnxDir = path.join(onnxFixtures(), 'bert');
  const onnxFiles: Record<string, Buffer> = {
    'config.json': fs.readFileSync(path.join(onnxDir, 'config.json')),
    'tokenizer.json': fs.readFileSync(path.join(onnxDir, 'tokenizer.json')),
    'onnx/model.onnx': fs.readFileSync(path.join(onnxDir, 'model.onnx')),
    'onnx/model.onnx_data': fs.readFileSync(path.join(onnxDir, 'model.onnx_data')),
  };

  beforeEach(async () => {
    cache = tmpDir('bertrt-hubcache-');
    hub = await new MockHub({
      'org/tiny': { commits: { [A]: { ...filesOf(dirV1) }, [B]: { ...filesOf(dirMain), ...extra } }, refs: { main: B, 'v1.0': A } },
      'org/gated': { commits: { [B]: filesOf(dirMain) }, refs: { main: B }, gated: true },
      'org/private': { commits: { [B]: filesOf(dirMain) }, refs: { main: B }, token: 'hf_secret' },
      'org/no-weights': { commits: { [B]: { 'config.json': fs.readFileSync(path.join(dirMain, 'config.json')), 'flax_model.msgpack': Buffer.alloc(10) } }, refs: { main: B } },
      // transformers.js' layout: the graph under onnx/, a quantized one beside it, no checkpoint
      'org/onnx-only': { commits: { [B]: { ...onnxFiles, 'onnx/model_quantized.onnx': Buffer.alloc(64, 3) } }, refs: { main: B } },
      // a checkpoint and an export: the ONNX backend fetches the graph only
      'org/both': { commits: { [B]: { ...filesOf(path.join(root, 'tests', 'fixtures', 'heads', 'classifier')), 'onnx/model.onnx': onnxFiles['onnx/model.onnx'], 'onnx/model.onnx_data': onnxFiles['onnx/model.onnx_data'] } }, refs: { main: B } },
      'org/no-config': { commits: { [B]: { 'README.md': Buffer.from('x') } }, refs: { main: B } },
    }).start();
  });
  afterEach(async () => {
    await hub.stop().catch(() => {});
  });

  it('first load downloads only what the model needs into the Hub cache layout, and embeds like the folder', async () => {
    assert.ok((await embed('org/tiny', opts())).equals(await embed(dirMain)));
    const folder = path.join(cache, 'models--org--tiny');
    assert.equal(fs.readFileSync(path.join(folder, 'refs', 'main'), 'utf8'), B);
    const snap = path.join(folder, 'snapshots', B);
    const files = filesOf(dirMain);
    for (const [f, body] of Object.entries(files)) {
      const link = path.join(snap, f);
      const lfs = f.endsWith('.safetensors');
      const etag = createHash(lfs ? 'sha256' : 'sha1').update(lfs ? '' : `blob ${body.length}\0`).update(body).digest('hex');
      assert.equal(fs.readlinkSync(link), path.relative(path.dirname(link), path.join(folder, 'blobs', etag)), f);
      assert.ok(fs.readFileSync(link).equals(body), f);
    }
    // nothing else: no README, no ONNX, no flax weights, no partial files
    assert.deepEqual(fs.readdirSync(path.join(folder, 'blobs')).length, Object.keys(files).length);
    assert.ok(!hub.log.some((r) => /README|onnx|msgpack/.test(r.url)), JSON.stringify(hub.log.map((r) => r.url)));
    assert.ok(hub.log.some((r) => r.server === 'cdn'), 'the LFS weights come from the file host');
  });

  it('progress: the callback sees every downloaded byte; the stderr bar draws only on a terminal', async () => {
    const seen = new Map<string, { loaded: number; total: number }>();
    await snapshot('org/tiny', { endpoint: hub.hubUrl, cacheDir: cache, token: false, progress: (p) => seen.set(p.file, { loaded: p.loaded, total: p.total }) });
    for (const [f, body] of Object.entries(filesOf(dirMain))) assert.deepEqual(seen.get(f), { loaded: body.length, total: body.length }, f);
    const { progressBar } = await import('../lib/hub/progress');
    let drawn = '';
    const tty = { isTTY: true, columns: 200, write: (t: string) => ((drawn += t), true) } as unknown as NodeJS.WriteStream;
    assert.equal(progressBar({ ...tty, isTTY: false } as NodeJS.WriteStream), undefined);
    const bar = progressBar(tty)!;
    bar({ repo: 'org/tiny', file: 'model.safetensors', loaded: 5e6, total: 1e7 });
    bar({ repo: 'org/tiny', file: 'model.safetensors', loaded: 1e7, total: 1e7 });
    assert.match(drawn, /\rorg\/tiny\/model\.safetensors \[#{12}\.{12}\] 50% 5\.00\/10\.0 MB .* MB\/s ETA \d+s/);
    assert.match(drawn, /100% 10\.0\/10\.0 MB .*\n$/);
  });

  it('second load: from the cache, offline by option and by HF_HUB_OFFLINE=1, without a single request', async () => {
    const want = await embed('org/tiny', opts());
    const n = hub.log.length;
    assert.ok((await embed('org/tiny', opts({ offline: true }))).equals(want));
    process.env.HF_HUB_OFFLINE = '1';
    try {
      assert.ok((await embed('org/tiny', opts())).equals(want));
      await rejectsCode(embed('org/other', opts()), 'E_OFFLINE', /org\/other is not in the Hub cache .*offline mode is on/);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    assert.equal(hub.log.length, n);
  });

  it('the Hub down: the cached revision loads with a warning; an uncached one is E_OFFLINE', async () => {
    const want = await embed('org/tiny', opts());
    await hub.stop();
    const warnings: string[] = [];
    const onWarn = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarn);
    try {
      assert.ok((await embed('org/tiny', opts())).equals(want));
      await new Promise((r) => setImmediate(r));
      assert.ok(warnings.some((w) => /Hub is unreachable.*org\/tiny loads from the cache/.test(w)), warnings.join('\n'));
      await rejectsCode(embed('org/tiny@v1.0', opts()), 'E_OFFLINE', /unreachable .*not in the cache/);
    } finally {
      process.off('warning', onWarn);
    }
  });

  it('a revision pin: @tag, the revision option and @commit give that commit; refs/<tag> records it', async () => {
    const v1 = await embed(dirV1);
    assert.ok(!v1.equals(await embed(dirMain)));
    assert.ok((await embed('org/tiny@v1.0', opts())).equals(v1));
    assert.ok((await embed('org/tiny', { ...opts(), revision: 'v1.0' })).equals(v1));
    assert.ok((await embed(`org/tiny@${A}`, opts())).equals(v1));
    assert.equal(fs.readFileSync(path.join(cache, 'models--org--tiny', 'refs', 'v1.0'), 'utf8'), A);
    await rejectsCode(embed('org/tiny@v9', opts()), 'E_REVISION_NOT_FOUND', /org\/tiny has no revision "v9"/);
  });

  it('a download cut off mid-file resumes with Range from where it stopped', async () => {
    const weights = fs.readFileSync(path.join(dirMain, 'model.safetensors'));
    const h = createHash('sha256').update(weights).digest('hex');
    const cut = Math.floor(weights.length / 2);
    hub.cutOnce.set(h, cut);
    assert.ok((await embed('org/tiny', opts())).equals(await embed(dirMain)));
    const cdn = hub.log.filter((r) => r.server === 'cdn' && r.url.includes(h));
    assert.equal(cdn.length, 2);
    assert.equal(cdn[0].range, undefined);
    assert.equal(cdn[1].range, `bytes=${cut}-`);
  });

  it('a corrupt LFS body is refused (E_INTEGRITY), deleted, never cached; the next try succeeds', async () => {
    const weights = fs.readFileSync(path.join(dirMain, 'model.safetensors'));
    const h = createHash('sha256').update(weights).digest('hex');
    hub.corrupt.add(h);
    await rejectsCode(embed('org/tiny', opts()), 'E_INTEGRITY', /org\/tiny: model\.safetensors failed its SHA-256 check .*deleted, not cached/);
    const blobs = fs.readdirSync(path.join(cache, 'models--org--tiny', 'blobs'));
    assert.ok(!blobs.includes(h) && !blobs.some((b) => b.endsWith('.incomplete')), blobs.join(' '));
    assert.ok(!fs.existsSync(path.join(cache, 'models--org--tiny', 'snapshots', B, 'model.safetensors')));
    hub.corrupt.clear();
    assert.ok((await embed('org/tiny', opts())).equals(await embed(dirMain)));
  });

  it('a cache it cannot write is E_IO at once, not a network failure retried', async () => {
    const weights = fs.readFileSync(path.join(dirMain, 'model.safetensors'));
    const h = createHash('sha256').update(weights).digest('hex');
    // a directory where the partial download goes: opening it for writing fails as a full disk or a read-only cache would
    fs.mkdirSync(path.join(cache, 'models--org--tiny', 'blobs', `${h}.incomplete`), { recursive: true });
    const t0 = Date.now();
    await rejectsCode(embed('org/tiny', opts({ retries: 5 })), 'E_IO', /cannot write the Hub cache: EISDIR.*\.incomplete/);
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms: retried`);
    assert.equal(hub.log.filter((r) => r.server === 'cdn' && r.url.includes(h)).length, 1);
    // a cache folder that is a file
    const file = path.join(cache, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    await rejectsCode(embed('org/tiny', opts({ cacheDir: file })), 'E_IO', /org\/tiny: cannot write the Hub cache \(.*not-a-folder\): ENOTDIR/);
  });

  it('5xx and 429 are retried with backoff; a Hub that keeps failing is a typed error', async () => {
    hub.failNext = 2;
    hub.failStatus = 429;
    assert.ok((await embed('org/tiny', opts())).equals(await embed(dirMain)));
    hub.failNext = 100;
    hub.failStatus = 500;
    await rejectsCode(embed('org/tiny@v1.0', opts()), 'E_OFFLINE', /unreachable \(HTTP 500/);
  });

  it('two loaders in one process download each file once', async () => {
    hub.slowMs = 2;
    const [a, b] = await Promise.all([embed('org/tiny', opts()), embed('org/tiny', opts())]);
    assert.ok(a.equals(b));
    const weights = hub.log.filter((r) => r.server === 'cdn');
    assert.equal(weights.length, 1, JSON.stringify(weights));
  });

  it('two processes sharing the cache download the weights once (the lock), and both load', async () => {
    hub.slowMs = 5;
    const script = `const { snapshot } = require(${JSON.stringify(path.join(root, 'lib', 'hub', 'hub.ts'))});
      snapshot('org/tiny', { endpoint: ${JSON.stringify(hub.hubUrl)}, cacheDir: ${JSON.stringify(cache)}, token: false })
        .then((d) => process.stdout.write(d), (e) => { process.stderr.write(String(e)); process.exit(1); });`;
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const c = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root });
        let out = '';
        let err = '';
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (err += d));
        c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(err))));
      });
    const [x, y] = await Promise.all([run(), run()]);
    assert.equal(x, y);
    assert.equal(hub.log.filter((r) => r.server === 'cdn').length, 1);
    assert.ok((await embed(x)).equals(await embed(dirMain)));
  });

  it('an ONNX-only repository: the graph (onnx/model.onnx), its external data and the tokenizer are fetched, nothing else, and it embeds', async () => {
    const got = await embed('org/onnx-only', opts());
    const local = await embed(onnxDir);
    assert.ok(got.equals(local));
    const files = hub.log.map((r) => r.url);
    assert.ok(files.some((u) => u.includes('onnx/model.onnx')) && files.some((u) => u.includes('onnx/model.onnx_data')), JSON.stringify(files));
    assert.ok(!files.some((u) => u.includes('model_quantized')), JSON.stringify(files));
    // a repository with both: the default is the checkpoint; backend 'onnx' fetches the graph instead of it
    hub.log.length = 0;
    await embed('org/both', opts({}, { backend: 'onnx' }));
    const both = hub.log.map((r) => r.url);
    assert.ok(both.some((u) => u.includes('onnx/model.onnx')) && !both.some((u) => u.includes('model.safetensors')), JSON.stringify(both));
    await rejectsCode(embed('org/both', opts({}, { onnx: { file: 'onnx/nope.onnx' } })), 'E_ENTRY_NOT_FOUND', /has no file onnx\/nope\.onnx/);
  });

  it('unknown repo, missing weights, no config, gated and private repos: each its own code, naming the id', async () => {
    await rejectsCode(embed('org/nope', opts()), 'E_REPO_NOT_FOUND', /org\/nope: no such repository/);
    await rejectsCode(embed('org/no-weights', opts()), 'E_ENTRY_NOT_FOUND', /org\/no-weights@main has no weights bertrt reads .* nor an ONNX file/);
    await rejectsCode(embed('org/no-config', opts()), 'E_ENTRY_NOT_FOUND', /org\/no-config@main has no config\.json/);
    await rejectsCode(embed('org/gated', opts()), 'E_GATED_REPO', /org\/gated is a gated repository/);
    await rejectsCode(embed('org/private', opts()), 'E_REPO_NOT_FOUND', /org\/private: no such repository .*private/);
    assert.ok((await embed('org/private', opts({ token: 'hf_secret' }))).equals(await embed(dirMain)));
  });

  it('the token goes to the Hub on every request and never to the file host', async () => {
    await embed('org/private', opts({ token: 'hf_secret' }));
    const hubReqs = hub.log.filter((r) => r.server === 'hub');
    const cdnReqs = hub.log.filter((r) => r.server === 'cdn');
    assert.ok(hubReqs.length > 3 && cdnReqs.length >= 1);
    assert.ok(hubReqs.every((r) => r.authorization === 'Bearer hf_secret'));
    assert.ok(cdnReqs.every((r) => r.authorization === undefined), JSON.stringify(cdnReqs));
  });

  it('HF_ENDPOINT, HF_HUB_CACHE and HF_TOKEN are read from the environment', async () => {
    const env = { HF_ENDPOINT: process.env.HF_ENDPOINT, HF_HUB_CACHE: process.env.HF_HUB_CACHE, HF_TOKEN: process.env.HF_TOKEN };
    Object.assign(process.env, { HF_ENDPOINT: hub.hubUrl, HF_HUB_CACHE: cache, HF_TOKEN: 'hf_secret' });
    try {
      const dir = await snapshot('org/private');
      assert.equal(dir, path.join(cache, 'models--org--private', 'snapshots', B));
    } finally {
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('Tokenizer.fromPretrained fetches the tokenizer files only, and tokenizes like the folder', async () => {
    const tok = await Tokenizer.fromPretrained('org/tiny', opts());
    const local = Tokenizer.fromDir(dirMain);
    assert.deepEqual(Array.from(tok.encode('the cat sat').ids), Array.from(local.encode('the cat sat').ids));
    assert.ok(!hub.log.some((r) => r.url.includes('model.safetensors') || r.server === 'cdn'));
  });

  it('the embedded default needs no network under its short name; an invalid id is E_MODEL_NOT_FOUND', async () => {
    const e = await Embedder.load('all-MiniLM-L6-v2', { hub: { endpoint: 'http://127.0.0.1:1', offline: false } });
    assert.equal(e.dimension, 384);
    await e.close();
    await rejectsCode(Embedder.load('not a model', opts()), 'E_MODEL_NOT_FOUND', /neither a model directory nor a Hub id/);
    await rejectsCode(Embedder.load('./missing-dir', opts()), 'E_MODEL_NOT_FOUND', /model directory not found/);
  });

  it('the server takes NAME=ID: the model comes from the Hub (env HF_ENDPOINT / HF_HUB_CACHE) and serves /embed', async () => {
    const { createServer } = await import('../lib');
    const env = { HF_ENDPOINT: process.env.HF_ENDPOINT, HF_HUB_CACHE: process.env.HF_HUB_CACHE };
    Object.assign(process.env, { HF_ENDPOINT: hub.hubUrl, HF_HUB_CACHE: cache });
    try {
      const s = await createServer({ models: [{ name: 'tiny', dir: 'org/tiny@v1.0' }], threads: 1 });
      try {
        const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
        const r = await fetch(url + '/embed', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: TEXTS }) });
        assert.equal(r.status, 200);
        const got = Buffer.concat(((await r.json()) as number[][]).map((v) => Buffer.from(Float32Array.from(v).buffer)));
        assert.ok(got.equals(await embed(dirV1)));
      } finally {
        await s.close();
      }
    } finally {
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('bertrt pull / models / rm manage the cache', async () => {
    const cli = path.join(root, 'dist', 'cli.js');
    const env = { ...process.env, HF_ENDPOINT: hub.hubUrl, HF_HUB_CACHE: cache };
    // the mock Hub runs in this process, so the CLI child must not block it: spawned, awaited
    const pull = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [cli, 'pull', 'org/tiny@v1.0'], { env });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      c.on('exit', (status) => resolve({ status, stdout, stderr }));
    });
    assert.equal(pull.status, 0, pull.stderr);
    assert.equal(pull.stdout.trim(), path.join(cache, 'models--org--tiny', 'snapshots', A));
    const list = spawnSync(process.execPath, [cli, 'models', '--json'], { env, encoding: 'utf8' });
    const models = JSON.parse(list.stdout);
    assert.equal(models.length, 1);
    assert.equal(models[0].id, 'org/tiny');
    assert.deepEqual(models[0].refs, { 'v1.0': A });
    assert.equal(models[0].bytes, Object.values(filesOf(dirV1)).reduce((a, b) => a + b.length, 0));
    assert.deepEqual(listCache({ cacheDir: cache }).map((m) => m.id), ['org/tiny']);
    fs.writeFileSync(path.join(cache, 'models--stray--file'), 'not a repository'); // a file under a repository's name is not one
    assert.deepEqual(listCache({ cacheDir: cache }).map((m) => m.id), ['org/tiny']);
    const rm = spawnSync(process.execPath, [cli, 'rm', 'org/tiny'], { env, encoding: 'utf8' });
    assert.equal(rm.status, 0, rm.stderr);
    assert.match(rm.stdout, /removed org\/tiny/);
    assert.ok(!fs.existsSync(path.join(cache, 'models--org--tiny')));
    assert.throws(() => removeFromCache('org/tiny', { cacheDir: cache }), /not in the Hub cache/);
  });

  it('writes the cache huggingface_hub writes for the same repo, file for file (tests/fixtures/hub-parity.json)', async () => {
    // tools/check_mock_hub.py recorded what huggingface_hub's snapshot_download wrote for this repo on this mock
    const parity = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'hub-parity.json'), 'utf8'));
    assert.equal(parity.same_cache, true);
    const sha = commitSha(parity.repo);
    const real = await new MockHub({ [parity.repo]: { commits: { [sha]: filesOf(path.join(root, 'models', 'all-MiniLM-L6-v2')) }, refs: { main: sha } } }).start();
    try {
      await snapshot(parity.repo, { endpoint: real.hubUrl, cacheDir: cache, token: false });
    } finally {
      await real.stop();
    }
    const got: Record<string, [string, string]> = {};
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        const rel = path.relative(cache, full);
        if (rel.startsWith('.locks')) continue;
        if (rel === 'CACHEDIR.TAG') got[rel] = ['tag', fs.readFileSync(full, 'utf8').split('\n')[0]];
        else if (e.isSymbolicLink()) got[rel] = ['link', fs.readlinkSync(full)];
        else if (e.isDirectory()) walk(full);
        else got[rel] = ['file', createHash('sha256').update(fs.readFileSync(full)).digest('hex')];
      }
    };
    walk(cache);
    assert.deepEqual(got, parity.python_cache);
  });
});
