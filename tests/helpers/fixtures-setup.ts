// Loaded by mocha before any test (.mocharc's "require"): writes the seeded test models' files that git does not hold,
// so the tracked tree stays small enough for the device tool to carry (at most 60 MiB).
// - tests/fixtures/heads/*/model.safetensors from the model.safetensors.br beside it (random F16 weights: brotli
//   takes a seventh off), rewritten only when its bytes differ;
// - tokenizer.json in each of those model folders and in onnx/bert and onnx/bert-logits: a link to (or, where links are not
//   allowed, a copy of) tests/fixtures/tokenizer/multilingual.tokenizer.json, which they all use.
// tools/compress_fixtures.ts writes the .br files after tools/make_head_models.py or make_qa_models.py; run
// `npx tsx tests/helpers/fixtures-setup.ts` before a tools/ script that reads these folders in a fresh clone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const fixtures = path.resolve(__dirname, '..', 'fixtures');
const sharedTokenizer = path.join(fixtures, 'tokenizer', 'multilingual.tokenizer.json');

function linkTokenizer(dir: string): void {
  const file = path.join(dir, 'tokenizer.json');
  let present = false;
  try {
    fs.statSync(file);  // follows a link: a dangling one counts as missing
    present = true;
  } catch {
    fs.rmSync(file, { force: true });
  }
  if (present) return;
  try {
    fs.symlinkSync(path.relative(dir, sharedTokenizer), file);
  } catch {
    fs.copyFileSync(sharedTokenizer, file);
  }
}

export function materializeFixtures(): void {
  const heads = path.join(fixtures, 'heads');
  for (const name of fs.readdirSync(heads)) {
    const dir = path.join(heads, name);
    const packed = path.join(dir, 'model.safetensors.br');
    if (!fs.existsSync(packed)) continue;  // not a model folder (st-dense: sentence-transformers modules only)
    const bytes = zlib.brotliDecompressSync(fs.readFileSync(packed));
    const file = path.join(dir, 'model.safetensors');
    if (!fs.existsSync(file) || !fs.readFileSync(file).equals(bytes)) fs.writeFileSync(file, bytes);
    linkTokenizer(dir);
  }
  for (const name of ['bert', 'bert-logits']) linkTokenizer(path.join(fixtures, 'onnx', name));
}

materializeFixtures();
