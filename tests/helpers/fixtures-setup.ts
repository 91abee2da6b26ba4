// Loaded by mocha before any test (.mocharc's "require"): writes the seeded test models' files that git does not hold,
// so the tracked tree stays small enough for the device tool to carry (at most 60 MiB).
// - tests/fixtures/heads/*/model.safetensors and tests/fixtures/families/*/model.safetensors from the
//   model.safetensors.br beside each (random F16 weights: brotli takes a seventh off), rewritten only when its bytes
//   differ;
// - tokenizer.json in each of those model folders and in onnx/bert and onnx/bert-logits: a link to (or, where links are not
//   allowed, a copy of) tests/fixtures/tokenizer/multilingual.tokenizer.json, which they all use.
// - a temp folder for the run, removed when the process exits: TMPDIR points into it, so every folder the tests (and
//   the processes they start) make with os.tmpdir() goes with it. A run made ~1.5 GB of copies (the overlays of the
//   real e5, the seeded models); left behind, a few hundred runs filled the disk.
// tools/compress_fixtures.ts writes the .br files after tools/make_head_models.py or make_qa_models.py; run
// `npx tsx tests/helpers/fixtures-setup.ts` before a tools/ script that reads these folders in a fresh clone.
import * as fs from 'node:fs';
import * as os from 'node:os';
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

// dir/model.safetensors from dir/model.safetensors.br; false when dir holds no packed weights.
function unpackWeights(dir: string): boolean {
  const packed = path.join(dir, 'model.safetensors.br');
  if (!fs.existsSync(packed)) return false;
  const bytes = zlib.brotliDecompressSync(fs.readFileSync(packed));
  const file = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(file) || !fs.readFileSync(file).equals(bytes)) fs.writeFileSync(file, bytes);
  return true;
}

export function materializeFixtures(): void {
  const heads = path.join(fixtures, 'heads');
  for (const name of fs.readdirSync(heads)) {
    const dir = path.join(heads, name);
    if (unpackWeights(dir)) linkTokenizer(dir);  // (st-dense: sentence-transformers modules only)
  }
  // the seeded family models (tools/make_family_models.py); their tokenizers come with each test's copy
  const families = path.join(fixtures, 'families');
  for (const name of fs.readdirSync(families)) if (fs.statSync(path.join(families, name)).isDirectory()) unpackWeights(path.join(families, name));
  for (const name of ['bert', 'bert-logits']) linkTokenizer(path.join(fixtures, 'onnx', name));
}

function runTempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bertrt-run-'));
  process.env.TMPDIR = dir;  // os.tmpdir() reads it on every call, here and in children
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

materializeFixtures();
// run as a script (`npx tsx tests/helpers/fixtures-setup.ts`, before a tools/ script) it only writes the files
if (require.main !== module) runTempDir();
