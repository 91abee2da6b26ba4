// Finds nvcc for the optional CUDA backend, or fetches it: CUDA 13.5's compiler, runtime, headers and NVVM from
// NVIDIA's PyPI wheels (pinned by URL and SHA-256), unpacked into .cuda/ (git-ignored, reused on later runs).
// Prints the nvcc path on stdout; exits 1 with the reason on stderr if none can be had.
//   node scripts/get-nvcc.mjs            use $CUDACXX, nvcc on PATH, /usr/local/cuda, or .cuda/ (fetching it)
//   node scripts/get-nvcc.mjs --fetch    always use (and if needed fetch) the pinned wheels in .cuda/
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const home = path.join(root, '.cuda');
const nvccInWheels = path.join(home, 'toolkit', 'nvidia', 'cu13', 'bin', 'nvcc');

const WHEELS = [
  ['nvidia_cuda_nvcc-13.5.37', 'https://files.pythonhosted.org/packages/0b/7d/21c734e63423dc53fb1b1ebbb6dee84e9ccafbeeaa30e9ae07e6fdcdd15b/nvidia_cuda_nvcc-13.5.37-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl', 'f5c4f7ead5d964fb4af42bbf1e6d3ec3c1e6e9d83b53749f691d387e7fcaa3a7'],
  ['nvidia_cuda_runtime-13.5.37', 'https://files.pythonhosted.org/packages/0b/7c/14b8f5518f8951e9dca57ea80f44f8ea8bcc8671812e6cc38009f3205e57/nvidia_cuda_runtime-13.5.37-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl', 'df2b79a8852f10d1fef8c848489c49eebb5754051bf870202a862831412b179d'],
  ['nvidia_cuda_cccl-13.3.5.0.6', 'https://files.pythonhosted.org/packages/a7/7e/4aa67cca14e0558b5a151a692f5ffe609930cdfc20d16c7a584de68424d4/nvidia_cuda_cccl-13.3.5.0.6-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl', 'd5230098fa2df5021e1a00c0c4eee41797671a91119d31e892463e5ccf3ee326'],
  ['nvidia_cuda_crt-13.5.37', 'https://files.pythonhosted.org/packages/d5/ac/fb3ca43f437405ce33bfd8ba64503148fdc9198265f26f8ecd1bd6e76338/nvidia_cuda_crt-13.5.37-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl', 'e898b7f73d3035fa89915a3f7bf3b54a73e90249746111aed295822c4729bb29'],
  ['nvidia_nvvm-13.5.37', 'https://files.pythonhosted.org/packages/23/dc/c7089283bad8e8089825b0cae0898f8a89b5d27bdb2edea5266d259101e1/nvidia_nvvm-13.5.37-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl', 'c41bfa362e407405163f103c2229f0765f8cc2ed7d148b754dc77f228bf7e070'],
];

function fail(msg) {
  process.stderr.write(`get-nvcc: ${msg}\n`);
  process.exit(1);
}

function works(nvcc) {
  const r = spawnSync(nvcc, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

function found() {
  if (process.argv.includes('--fetch')) return null;
  const candidates = [process.env.CUDACXX, '/usr/local/cuda/bin/nvcc'];
  const which = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' });
  if (which.status === 0) candidates.splice(1, 0, which.stdout.trim());
  return candidates.find((c) => c && fs.existsSync(c) && works(c)) ?? null;
}

function fetchWheels() {
  if (process.platform !== 'linux' || process.arch !== 'x64') fail(`the pinned CUDA wheels are for linux-x64, not ${process.platform}-${process.arch}`);
  fs.mkdirSync(path.join(home, 'wheels'), { recursive: true });
  const toolkit = path.join(home, 'toolkit');
  for (const [name, url, sha256] of WHEELS) {
    const file = path.join(home, 'wheels', `${name}.whl`);
    const digest = (f) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    if (!fs.existsSync(file) || digest(file) !== sha256) {
      process.stderr.write(`get-nvcc: downloading ${name} from PyPI\n`);
      const r = spawnSync('curl', ['-fsSL', '--retry', '3', '-o', `${file}.part`, url], { stdio: ['ignore', 'inherit', 'inherit'] });
      if (r.status !== 0) fail(`download of ${url} failed (curl exit ${r.status ?? r.signal})`);
      if (digest(`${file}.part`) !== sha256) fail(`${name}: SHA-256 mismatch, refusing to use it`);
      fs.renameSync(`${file}.part`, file);
    }
    const u = spawnSync('unzip', ['-q', '-o', file, 'nvidia/*', '-d', toolkit], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (u.status !== 0) fail(`unzip ${file} failed (exit ${u.status ?? u.signal})`);
  }
  if (!works(nvccInWheels)) fail(`${nvccInWheels} does not run`);
  return nvccInWheels;
}

const nvcc = found() ?? (fs.existsSync(nvccInWheels) && works(nvccInWheels) ? nvccInWheels : fetchWheels());
process.stdout.write(nvcc + '\n');
