// The native boundary: bad packed batches from a caller get typed errors (never a crash), and errors created
// in C++ are instances of the same BertrtError class as TS errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, Encoder, info } from '../lib';
import { root, tmpDir, writeTinyModel } from './helpers/fixtures';

describe('native engine boundary', function () {
  let enc: Encoder;
  before(async () => {
    enc = await Encoder.load(writeTinyModel(), { threads: 1 });
  });
  after(() => enc.close());

  const cases: Array<[string, () => Parameters<Encoder['run']>[0], string, RegExp]> = [
    ['id outside the vocabulary', () => ({ ids: Int32Array.of(2, 40, 3), typeIds: null, cuSeqlens: Int32Array.of(0, 3) }), 'E_INVALID_ARGUMENT', /token id 40/],
    ['negative id', () => ({ ids: Int32Array.of(-1), typeIds: null, cuSeqlens: Int32Array.of(0, 1) }), 'E_INVALID_ARGUMENT', /token id -1/],
    ['type id outside type_vocab_size', () => ({ ids: Int32Array.of(2, 3), typeIds: Int32Array.of(0, 2), cuSeqlens: Int32Array.of(0, 2) }), 'E_INVALID_ARGUMENT', /token type id 2/],
    ['cuSeqlens past the end', () => ({ ids: Int32Array.of(2, 3), typeIds: null, cuSeqlens: Int32Array.of(0, 5) }), 'E_INVALID_ARGUMENT', /cuSeqlens/],
    ['decreasing cuSeqlens', () => ({ ids: Int32Array.of(2, 3), typeIds: null, cuSeqlens: Int32Array.of(0, 2, 1, 2) }), 'E_INVALID_ARGUMENT', /cuSeqlens/],
    ['cuSeqlens not starting at 0', () => ({ ids: Int32Array.of(2, 3), typeIds: null, cuSeqlens: Int32Array.of(1, 2) }), 'E_INVALID_ARGUMENT', /cuSeqlens\[0\]/],
    ['sequence longer than the position table', () => ({ ids: new Int32Array(25).fill(5), typeIds: null, cuSeqlens: Int32Array.of(0, 25) }), 'E_INPUT_TOO_LONG', /25 tokens.*at most 24/],
    ['ids not an Int32Array', () => ({ ids: [2, 3] as unknown as Int32Array, typeIds: null, cuSeqlens: Int32Array.of(0, 2) }), 'E_INVALID_ARGUMENT', /Int32Array/],
    ['typeIds of another length', () => ({ ids: Int32Array.of(2, 3), typeIds: Int32Array.of(0), cuSeqlens: Int32Array.of(0, 2) }), 'E_INVALID_ARGUMENT', /length/],
    ['no batch object', () => null as unknown as Parameters<Encoder['run']>[0], 'E_INVALID_ARGUMENT', /batch must be an object/],
  ];
  for (const [label, batch, code, pattern] of cases) {
    it(`${label} → ${code}`, async () => {
      await assert.rejects(
        (async () => enc.run(batch()))(),
        (err: unknown) => {
          assert.ok(err instanceof BertrtError, `not a BertrtError: ${String(err)}`);
          assert.equal(err.code, code);
          assert.match(err.message, pattern);
          return true;
        },
      );
    });
  }

  it('an empty batch gives an empty result', async () => {
    const out = await enc.run({ ids: new Int32Array(0), typeIds: null, cuSeqlens: Int32Array.of(0) });
    assert.equal(out.length, 0);
  });

  it('still works after every bad call', async () => {
    const out = await enc.run({ ids: Int32Array.of(2, 7, 3), typeIds: null, cuSeqlens: Int32Array.of(0, 3) });
    assert.equal(out.length, 3 * 32);
    assert.ok(out.every(Number.isFinite));
  });

  it('info() reports the kernels in use and the CPU features', () => {
    const i = info();
    assert.ok(i.isas.includes('generic'));
    assert.ok(i.isas.includes(i.isa));
    assert.ok(i.int8Isas.includes(i.int8Isa) && i.int8Isas.includes('generic'));
    assert.ok(i.physicalCores >= 1);
  });
});

describe('device selection: the CUDA backend or the CPU, never silently wrong', function () {
  const { Embedder } = require('../lib') as typeof import('../lib');
  const { native, cudaLibrary } = require('../lib/native') as typeof import('../lib/native');
  const texts = ['The weather is lovely today.', 'He drove to the stadium.'];
  const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);
  // the default model on `device`, with the process warnings emitted while it loaded (emitted on the next tick)
  const loadWatchingWarnings = async (device: 'cuda' | 'auto') => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const embedder = await Embedder.load(undefined, { device });
      await new Promise((r) => setImmediate(r));
      return { embedder, warnings };
    } finally {
      process.off('warning', onWarning);
    }
  };

  it("device 'cuda' runs on the GPU when one is usable, else on the CPU with a warning naming the reason", async () => {
    const cpu = await Embedder.load();
    const want = await cpu.embed(texts);
    const { embedder: e, warnings } = await loadWatchingWarnings('cuda');
    const probe = native().cudaInfo(cudaLibrary());
    const got = await e.embed(texts);
    if (probe.available) {
      assert.match(e.encoder.device!, /^cuda:0 \(/);
      assert.equal(e.encoder.deviceNote, '');
      // FP16 GEMM inputs on the GPU vs the FP32 CPU engine
      got.forEach((v, i) => assert.ok(cosine(v, want[i]) > 0.999, `cosine ${cosine(v, want[i])}`));
    } else {
      assert.equal(e.encoder.device, 'cpu');
      assert.ok(e.encoder.deviceNote && e.encoder.deviceNote === probe.reason, `note: ${e.encoder.deviceNote}`);
      assert.ok(warnings.some((w) => w.includes(probe.reason) && w.includes('runs on the CPU')), warnings.join('\n'));
      assert.deepEqual(got, want, 'the CPU fallback gives the CPU engine’s bits');
    }
    await e.close();
    await cpu.close();
  });

  it("device 'auto' falls back without a warning; a missing or foreign library is a reason, not a crash", async () => {
    const { embedder: e, warnings } = await loadWatchingWarnings('auto');
    if (e.encoder.device === 'cpu') assert.equal(warnings.length, 0);
    await e.close();
    const saved = process.env.BERTRT_CUDA_LIB;
    try {
      process.env.BERTRT_CUDA_LIB = '/nonexistent/libbertrt_cuda.so';
      const missing = await Embedder.load(undefined, { device: 'auto' });
      assert.equal(missing.encoder.device, 'cpu');
      assert.match(missing.encoder.deviceNote!, /cannot load \/nonexistent\/libbertrt_cuda\.so/);
      await missing.close();
      // a shared library that is not bertrt's CUDA backend (the CPU addon itself)
      process.env.BERTRT_CUDA_LIB = require('node:path').join(__dirname, '..', 'build', 'Release', 'bertrt.node');
      const foreign = await Embedder.load(undefined, { device: 'auto' });
      assert.equal(foreign.encoder.device, 'cpu');
      assert.match(foreign.encoder.deviceNote!, /lacks the bertrt_cuda_\* entry points/);
      await foreign.close();
    } finally {
      if (saved === undefined) delete process.env.BERTRT_CUDA_LIB;
      else process.env.BERTRT_CUDA_LIB = saved;
    }
    await assert.rejects(Embedder.load(undefined, { device: 'gpu' as 'cuda' }), { code: 'E_INVALID_ARGUMENT' });
  });

  it("precision 'fp8' runs on the CUDA backend or not at all: E_UNSUPPORTED naming the reason, never the CPU at another precision", async () => {
    await assert.rejects(Embedder.load(undefined, { precision: 'fp8' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'E_UNSUPPORTED');
      assert.match(e.message, /precision 'fp8' runs only on the CUDA backend \(a GPU of compute capability 8\.9 or newer, with cuBLASLt\)/);
      return true;
    });
    const probe = native().cudaInfo(cudaLibrary());
    for (const device of ['cuda', 'auto'] as const) {
      let loaded: import('../lib').Embedder | undefined;
      try {
        loaded = await Embedder.load(undefined, { precision: 'fp8', device });
      } catch (e) {
        const err = e as Error & { code?: string };
        assert.equal(err.code, 'E_UNSUPPORTED', err.message);
        assert.match(err.message, /^precision 'fp8' needs the CUDA backend: /);
        // where no GPU is usable, the reason is the probe's (a GPU that cannot run FP8 gives the library's own)
        if (!probe.available) assert.ok(err.message.endsWith(probe.reason), `${err.message} / ${probe.reason}`);
      }
      if (loaded) {  // a GPU that runs FP8: it is on the GPU, never the CPU
        assert.match(loaded.encoder.device!, /^cuda:0 \(/);
        await loaded.close();
      }
    }
    await assert.rejects(Embedder.load(undefined, { precision: 'fp16' as 'fp8' }), /precision must be 'fp32', 'int8', 'bf16' or 'fp8', got "fp16"/);
  });

  it('CI builds the CUDA backend (npm test compiles it before mocha runs)', function () {
    const lib = cudaLibrary();
    if (!lib) this.skip(); // a local run with BERTRT_SKIP_CUDA
    const probe = native().cudaInfo(lib);
    assert.equal(probe.library, lib);
    assert.ok(probe.available || probe.reason.length > 0, 'unavailable always says why');
  });
});

describe('default threads within the CPU quota', function () {
  this.timeout(60_000);
  it("a cgroup quota of half a CPU (cpu.max format) makes the default one thread; no quota, the physical cores", () => {
    const dir = tmpDir();
    const run = (quota: string) => {
      fs.writeFileSync(path.join(dir, 'cpu.max'), quota);
      const script = "const { info } = require('./lib'); const i = info(); console.log(JSON.stringify({ threads: i.threads, usable: i.usableCpus, physical: i.physicalCores }));";
      const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, BERTRT_CPU_QUOTA_FILE: path.join(dir, 'cpu.max') } });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as { threads: number; usable: number; physical: number };
    };
    const half = run('50000 100000\n');
    assert.deepEqual([half.threads, half.usable], [1, 1]);
    const none = run('max 100000\n');
    assert.deepEqual([none.threads, none.usable], [none.physical, none.physical]);
  });
});
