// `npm run bench:attention`: the attention kernel in FP32 (every precision's path on CPUs without AVX512-BF16, and
// FP32's everywhere) against the AVX512-BF16 kernel that INT8 and BF16 use where the CPU has it, at the shapes of
// all-MiniLM-L6-v2 (12 heads of 32) and BERT-base (12 heads of 64). Interleaved rounds, best of each, medians of
// the rounds. Writes bench/results/attention.{md,json}. Measures the compiled package (dist/).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { info } from '../dist';
import { cpuGeneration, median } from '../dist/bench';
import { native } from '../dist/native';

async function main(): Promise<void> {
  const sys = info();
  if (!sys.bf16) {
    console.error('bench:attention compares with the AVX512-BF16 kernel, which this CPU cannot run');
    process.exit(1);
  }
  const n = native();
  const shapes = [
    { batch: 32, len: 128, heads: 12, headDim: 32 },
    { batch: 8, len: 256, heads: 12, headDim: 32 },
    { batch: 1, len: 128, heads: 12, headDim: 32 },
    { batch: 8, len: 128, heads: 12, headDim: 64 },
  ];
  const rows = [];
  for (const s of shapes) {
    const fp32: number[] = [];
    const bf16: number[] = [];
    for (let r = 0; r < 5; r++) {
      fp32.push((await n.microbench({ op: 'attention', ...s, minSeconds: 0.3 })).seconds);
      bf16.push((await n.microbench({ op: 'attention_bf16', ...s, minSeconds: 0.3 })).seconds);
    }
    const f = median(fp32);
    const b = median(bf16);
    const flop = 4 * s.batch * s.heads * s.len * s.len * s.headDim;
    rows.push({ ...s, fp32Ms: f * 1e3, bf16Ms: b * 1e3, fp32Gflops: flop / f / 1e9, bf16Gflops: flop / b / 1e9, speedup: f / b });
    console.log(`  ${s.batch}x${s.len} h${s.heads}x${s.headDim}: FP32 ${(f * 1e3).toFixed(2)} ms, BF16 ${(b * 1e3).toFixed(2)} ms, ${(f / b).toFixed(2)}x`);
  }
  const date = new Date().toISOString();
  const L = [
    '# Attention kernel: FP32 vs AVX512-BF16',
    '',
    `Measured ${date.slice(0, 10)} by \`npm run bench:attention\` (bench/attention.ts) on ${sys.cpu}${cpuGeneration()} (${sys.physicalCores} cores, ${sys.threads} threads), bertrt ${sys.version}, kernels ${sys.isa}.`,
    '',
    'One call of the fused varlen attention (scores, softmax, P·V) for a packed batch of equal-length sequences, as one encoder layer runs it; best of repeated calls, median of 5 interleaved rounds. FP32 is the FP32 precision\'s kernel; BF16 (Q·K and P·V on vdpbf16ps, FP32 softmax and sums) is what INT8 and BF16 precision run on CPUs with AVX512-BF16.',
    '',
    '| batch × length | heads × head size | FP32 ms | BF16 ms | FP32 GFLOPS | BF16 GFLOPS | speed-up |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.batch} × ${r.len} | ${r.heads} × ${r.headDim} | ${r.fp32Ms.toFixed(2)} | ${r.bf16Ms.toFixed(2)} | ${r.fp32Gflops.toFixed(1)} | ${r.bf16Gflops.toFixed(1)} | ${r.speedup.toFixed(2)}× |`),
  ];
  const out = path.join(__dirname, 'results');
  fs.writeFileSync(path.join(out, 'attention.json'), JSON.stringify({ date, cpu: sys.cpu, threads: sys.threads, rows }, null, 2) + '\n');
  fs.writeFileSync(path.join(out, 'attention.md'), L.join('\n') + '\n');
  console.log('wrote bench/results/attention.{md,json}');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
