// Builds the optional CUDA backend, build/cuda/libbertrt_cuda.so (and, with --tests, the GPU tests), with nvcc
// from the system or fetched by scripts/get-nvcc.mjs. The CPU addon never links it: it is dlopened when a model is
// loaded with device 'cuda' or 'auto'.
//   node scripts/build-cuda.mjs             the library
//   node scripts/build-cuda.mjs --tests     the library and tests/native/test_cuda.cu (run with ctest)
//   node scripts/build-cuda.mjs --prebuild  the library, copied to prebuilds/<platform>-<arch>/ beside the addon
// BERTRT_CUDA_ARCHS overrides the architectures (default "80;90-real": sm_80 code and PTX, sm_90 code).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tests = process.argv.includes('--tests');
const dir = path.join(root, 'build', 'cuda');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    process.stderr.write(`build-cuda: ${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status || 1);
  }
}

const found = spawnSync(process.execPath, [path.join(root, 'scripts', 'get-nvcc.mjs')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (found.status !== 0) process.exit(found.status || 1);
const nvcc = found.stdout.trim();
const flags = ['-S', '.', '-B', dir, '-DCMAKE_BUILD_TYPE=Release', '-DBERTRT_CUDA=ON', `-DCMAKE_CUDA_COMPILER=${nvcc}`, `-DBERTRT_TESTS=${tests ? 'ON' : 'OFF'}`];
if (process.env.BERTRT_CUDA_ARCHS) flags.push(`-DBERTRT_CUDA_ARCHS=${process.env.BERTRT_CUDA_ARCHS}`);
run('cmake', flags);
run('cmake', ['--build', dir, '-j', String(Math.max(2, os.availableParallelism?.() ?? 2)), '--target', 'bertrt_cuda', ...(tests ? ['test_cuda'] : [])]);
const lib = path.join(dir, 'libbertrt_cuda.so');
if (process.argv.includes('--prebuild')) {
  const dest = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  fs.mkdirSync(dest, { recursive: true });
  fs.copyFileSync(lib, path.join(dest, 'libbertrt_cuda.so'));
  process.stdout.write(`${path.join(dest, 'libbertrt_cuda.so')}\n`);
} else {
  process.stdout.write(`${lib}\n`);
}
