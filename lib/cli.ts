#!/usr/bin/env node
// bertrt command line: `bertrt embed`, `bertrt info`.
import { Command } from 'commander';
import { Embedder } from './embedder';
import { BertrtError } from './errors';
import { readConfig } from './model/config';
import { resolveModelDir } from './model/resolve';
import { native, type Precision } from './native';

function intOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new BertrtError(`not a non-negative integer: ${v}`, 'E_INVALID_ARGUMENT');
  return n;
}

const program = new Command();
program.name('bertrt').description('BERT inference for Node.js').showHelpAfterError();

program
  .command('embed')
  .description('print the sentence embedding of each TEXT as a JSON array of vectors')
  .argument('<text...>', 'texts to embed')
  .option('-m, --model <dir>', 'model directory (default: the embedded all-MiniLM-L6-v2)')
  .option('--no-normalize', 'do not L2-normalize the vectors')
  .option('-t, --threads <n>', 'threads (default: physical cores)', intOption)
  .option('-p, --precision <p>', 'fp32 (default), int8 or bf16', 'fp32')
  .action(async (texts: string[], opts: { model?: string; normalize: boolean; threads?: number; precision: string }) => {
    const e = await Embedder.load(opts.model, { threads: opts.threads, precision: opts.precision as Precision });
    try {
      const vecs = await e.embed(texts, { normalize: opts.normalize });
      process.stdout.write(JSON.stringify(vecs.map((v) => Array.from(v))) + '\n');
    } finally {
      await e.close();
    }
  });

program
  .command('info')
  .description('print the model, its dimension, the CPU features found and the build')
  .option('-m, --model <dir>', 'model directory (default: the embedded all-MiniLM-L6-v2)')
  .action((opts: { model?: string }) => {
    const dir = resolveModelDir(opts.model);
    const c = readConfig(dir);
    const i = native().info();
    const out = {
      model: dir,
      modelType: c.modelType,
      dimension: c.hiddenSize,
      layers: c.numHiddenLayers,
      heads: c.numAttentionHeads,
      maxPositions: c.maxPositionEmbeddings,
      build: { version: i.version, compiler: i.compiler, cuda: i.cuda },
      cpu: { brand: i.cpu, flags: i.cpuFlags, kernels: i.isa, int8Kernels: i.int8Isa, bf16: i.bf16, available: i.isas, physicalCores: i.physicalCores },
      threads: i.threads,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  });

program
  .command('bench')
  .description('kernel microbenchmarks against the measured FP32 peak, and end-to-end sequences/s, on this machine')
  .option('-m, --model <dir>', 'model directory (default: the embedded all-MiniLM-L6-v2)')
  .option('-t, --threads <n>', 'threads (default: physical cores)', intOption)
  .action(async (opts: { model?: string; threads?: number }) => {
    const { fp32Peak, microbenchModel, timeAsync } = await import('./bench');
    const { Encoder } = await import('./model/engine');
    const enc = await Encoder.load(resolveModelDir(opts.model), { threads: opts.threads });
    try {
      const peak = await fp32Peak();
      const i = native().info();
      process.stdout.write(`${i.cpu}, ${i.physicalCores} cores, kernels ${i.isa}; FP32 FMA peak ${peak.gflops.toFixed(1)} GFLOPS\n`);
      for (const r of await microbenchModel(enc.config, 32 * 128, 128)) {
        const perf = r.gflops ? `${r.gflops.toFixed(1)} GFLOPS, ${((100 * r.gflops) / peak.gflops).toFixed(0)}% of peak` : `${r.gbps.toFixed(1)} GB/s`;
        process.stdout.write(`  ${r.op.padEnd(15)} ${r.shape.padEnd(20)} ${(r.seconds * 1e3).toFixed(3).padStart(8)} ms  ${perf}\n`);
      }
      for (const [batch, len] of [[1, 16], [8, 128], [32, 128]]) {
        const ids = new Int32Array(batch * len).fill(1996);
        const cuSeqlens = Int32Array.from({ length: batch + 1 }, (_, k) => k * len);
        const t = await timeAsync(() => enc.run({ ids, typeIds: null, cuSeqlens }), 3, 1);
        process.stdout.write(`  encoder ${batch}x${len}: ${(batch / t.median).toFixed(1)} seq/s, ${(t.median * 1e3).toFixed(2)} ms per batch (median)\n`);
      }
    } finally {
      enc.close();
    }
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const msg = e instanceof BertrtError ? `bertrt: ${e.message} (${e.code})` : `bertrt: ${(e as Error).message ?? e}`;
  process.stderr.write(msg + '\n');
  process.exitCode = e instanceof BertrtError && e.code === 'E_INVALID_ARGUMENT' ? 2 : 1;
});
