#!/usr/bin/env node
// bertrt command line: `bertrt embed`, `bertrt info`.
import { Command } from 'commander';
import { Embedder } from './embedder';
import { BertrtError } from './errors';
import { readConfig } from './model/config';
import { resolveModelDir } from './model/resolve';
import { native } from './native';

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
  .action(async (texts: string[], opts: { model?: string; normalize: boolean; threads?: number }) => {
    const e = await Embedder.load(opts.model, { threads: opts.threads });
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
      cpu: { brand: i.cpu, flags: i.cpuFlags, kernels: i.isa, available: i.isas, physicalCores: i.physicalCores },
      threads: i.threads,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const msg = e instanceof BertrtError ? `bertrt: ${e.message} (${e.code})` : `bertrt: ${(e as Error).message ?? e}`;
  process.stderr.write(msg + '\n');
  process.exitCode = e instanceof BertrtError && e.code === 'E_INVALID_ARGUMENT' ? 2 : 1;
});
