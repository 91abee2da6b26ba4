// Bad model files and directories: each gives a typed BertrtError naming the problem, and the process and other
// loaded models keep working afterwards.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, Embedder, readSafetensorsHeader } from '../lib';
import { safetensorsBytes, tinyTensors, tmpDir, writeTinyModel } from './helpers/fixtures';

async function expectLoadError(dir: string, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(Embedder.load(dir), (err: unknown) => {
    assert.ok(err instanceof BertrtError, `not a BertrtError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('model loading errors', function () {
  let healthy: Embedder;
  let before1: Float32Array;
  before(async () => {
    healthy = await Embedder.load();
    [before1] = await healthy.embed(['still working']);
  });
  after(async () => healthy.close());

  it('a tiny well-formed model loads and embeds (the control case)', async () => {
    const e = await Embedder.load(writeTinyModel());
    const [v] = await e.embed(['the cat sat on the mat.']);
    assert.equal(v.length, 32);
    assert.ok(v.every(Number.isFinite));
    await e.close();
  });

  it('bert.-prefixed weight names load like bare ones, and give identical outputs', async () => {
    const bare = await Embedder.load(writeTinyModel());
    const pref = await Embedder.load(writeTinyModel({ weights: safetensorsBytes(tinyTensors(undefined, 'bert.')) }));
    const [a] = await bare.embed(['hello world']);
    const [b] = await pref.embed(['hello world']);
    assert.deepEqual(a, b);
    await bare.close();
    await pref.close();
  });

  it('F16 weights load (converted to FP32)', async () => {
    const e = await Embedder.load(writeTinyModel({ weights: safetensorsBytes(tinyTensors().map((t) => ({ ...t, dtype: 'F16' as const }))) }));
    const [v] = await e.embed(['hello']);
    assert.ok(v.every(Number.isFinite));
    await e.close();
  });

  it('missing directory → E_MODEL_NOT_FOUND', async () => {
    await expectLoadError('/nonexistent/model', 'E_MODEL_NOT_FOUND', /not found/);
  });

  it('directory without config.json → E_MODEL_NOT_FOUND', async () => {
    await expectLoadError(tmpDir(), 'E_MODEL_NOT_FOUND', /config\.json/);
  });

  it('unsupported architecture → E_UNSUPPORTED naming it', async () => {
    await expectLoadError(writeTinyModel({ config: { model_type: 'gpt2' } }), 'E_UNSUPPORTED', /gpt2/);
  });

  it('unsupported activation → E_UNSUPPORTED', async () => {
    await expectLoadError(writeTinyModel({ config: { hidden_act: 'relu' } }), 'E_UNSUPPORTED', /relu/);
  });

  it('truncated safetensors file → E_MODEL_FORMAT saying truncated', async () => {
    const dir = writeTinyModel();
    const f = path.join(dir, 'model.safetensors');
    const b = fs.readFileSync(f);
    fs.writeFileSync(f, b.subarray(0, b.length - 1000));
    await expectLoadError(dir, 'E_MODEL_FORMAT', /truncated/);
  });

  it('header length larger than the file → E_MODEL_FORMAT', async () => {
    const dir = writeTinyModel();
    const f = path.join(dir, 'model.safetensors');
    const b = fs.readFileSync(f);
    b.writeBigUInt64LE(BigInt(b.length) * 2n, 0);
    fs.writeFileSync(f, b);
    await expectLoadError(dir, 'E_MODEL_FORMAT', /header length/);
  });

  it('lying header (byte count disagrees with shape) → E_MODEL_FORMAT naming the tensor', async () => {
    const dir = writeTinyModel();
    const f = path.join(dir, 'model.safetensors');
    const b = fs.readFileSync(f);
    const n = Number(b.readBigUInt64LE(0));
    const header = b.subarray(8, 8 + n).toString().replace('"shape":[32]', '"shape":[33]');
    fs.writeFileSync(f, Buffer.concat([b.subarray(0, 8), Buffer.from(header), b.subarray(8 + n)]));
    await expectLoadError(dir, 'E_MODEL_FORMAT', /needs/);
  });

  it('header that is not JSON → E_MODEL_FORMAT', async () => {
    const dir = writeTinyModel();
    const f = path.join(dir, 'model.safetensors');
    const b = fs.readFileSync(f);
    b.write('#', 8);
    fs.writeFileSync(f, b);
    await expectLoadError(dir, 'E_MODEL_FORMAT', /not valid JSON/);
  });

  it('tensor with the wrong shape for the config → E_SHAPE naming tensor and both shapes', async () => {
    const t = tinyTensors().map((x) => (x.name === 'encoder.layer.1.intermediate.dense.weight' ? { ...x, shape: [48, 32] } : x));
    await expectLoadError(writeTinyModel({ weights: safetensorsBytes(t) }), 'E_SHAPE', /intermediate\.dense\.weight.*\[48, 32\].*\[64, 32\]/);
  });

  it('missing tensors → E_MODEL_FORMAT listing them', async () => {
    const t = tinyTensors().filter((x) => !x.name.startsWith('encoder.layer.1.'));
    await expectLoadError(writeTinyModel({ weights: safetensorsBytes(t) }), 'E_MODEL_FORMAT', /missing tensors.*encoder\.layer\.1\./);
  });

  it('config inconsistent with itself (heads do not divide hidden) → E_MODEL_FORMAT', async () => {
    await expectLoadError(writeTinyModel({ config: { num_attention_heads: 5 } }), 'E_MODEL_FORMAT', /multiple of num_attention_heads/);
  });

  it('header parsing rejects overlapping tensors', () => {
    const dir = writeTinyModel();
    const f = path.join(dir, 'model.safetensors');
    const b = fs.readFileSync(f);
    const n = Number(b.readBigUInt64LE(0));
    const h = JSON.parse(b.subarray(8, 8 + n).toString());
    const [k1, k2] = Object.keys(h);
    h[k2].data_offsets = [h[k1].data_offsets[0], h[k1].data_offsets[0] + (h[k2].data_offsets[1] - h[k2].data_offsets[0])];
    let s = JSON.stringify(h);
    while (s.length % 8) s += ' ';
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(s.length));
    fs.writeFileSync(f, Buffer.concat([len, Buffer.from(s), b.subarray(8 + n)]));
    assert.throws(() => readSafetensorsHeader(f), /overlap/);
  });

  it('after all of the above, the healthy model still gives the same bits', async () => {
    const [again] = await healthy.embed(['still working']);
    assert.deepEqual(again, before1);
  });
});

describe('model folders in other formats', function () {
  it('a pytorch_model.bin that is not a torch.save zip: E_UNSUPPORTED saying what it is not (tests/formats.test.ts reads real ones)', async () => {
    const dir = writeTinyModel();
    fs.renameSync(path.join(dir, 'model.safetensors'), path.join(dir, 'pytorch_model.bin'));
    await expectLoadError(dir, 'E_UNSUPPORTED', /pytorch_model\.bin is not a zip archive/);
  });
  it('only an ONNX file, and it is not ONNX: the ONNX backend takes it and onnxruntime\'s parser refuses it (E_MODEL_FORMAT)', async () => {
    const dir = writeTinyModel();
    fs.renameSync(path.join(dir, 'model.safetensors'), path.join(dir, 'model.onnx'));
    await expectLoadError(dir, 'E_MODEL_FORMAT', /model\.onnx/);
  });
});
