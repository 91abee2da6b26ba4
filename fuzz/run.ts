// `npm run fuzz [-- --inputs N --seed S --config NAME]`: the differential tokenizer fuzzer (fuzz/tokenizer.ts)
// over every configuration, N inputs each (default 1,000,000 in all), then the structure-aware fuzzers of the
// model loaders and the server (fuzz/files.ts, fuzz/server.ts) with proportionally more cases than CI runs.
// Prints each mismatch minimized; exits 1 on any mismatch, crash or untyped error.
import { configs, engines, fuzz } from './tokenizer';
import { fuzzModelFiles, fuzzTokenizerJson, sweepFamilyConfigs } from './files';
import { fuzzServer } from './server';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

async function main(): Promise<void> {
  const total = arg('inputs', 1_000_000);
  const seed = arg('seed', Date.now() % 1_000_000);
  const only = process.argv.includes('--config') ? process.argv[process.argv.indexOf('--config') + 1] : null;
  const list = configs().filter((c) => !only || c.name === only);
  let bad = 0;
  console.log(`seed ${seed}; ${total} tokenizer inputs over ${list.length} configurations`);
  for (const c of list) {
    const t0 = performance.now();
    const r = await fuzz(engines(c), seed, Math.ceil(total / list.length));
    console.log(`${c.name.padEnd(14)} ${r.inputs} inputs, ${r.mismatches.length} mismatches, ${r.crashes.length} crashes (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    for (const m of r.mismatches.slice(0, 10)) console.log(`  minimized ${JSON.stringify(m.minimized)}: ${m.why}`);
    for (const m of r.crashes.slice(0, 5)) console.log(`  crash on ${JSON.stringify(m.input)}: ${m.error}`);
    bad += r.mismatches.length + r.crashes.length;
  }
  const scale = Math.max(1, Math.round(total / 20_000));
  for (const [name, run] of [
    ['tokenizer.json loader', () => fuzzTokenizerJson(seed, 500 * scale)],
    ['model files', () => fuzzModelFiles(seed, 40 * scale)],
    ['family model files', () => fuzzModelFiles(seed, 40 * scale, true)],
    ['family config keys', () => sweepFamilyConfigs()],
    ['server bodies', () => fuzzServer(seed, 500 * scale)],
  ] as const) {
    const t0 = performance.now();
    const r = await run();
    console.log(`${name.padEnd(21)} ${r.cases} cases, ${r.failures.length} failures (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    for (const f of r.failures.slice(0, 10)) console.log(`  ${f}`);
    bad += r.failures.length;
  }
  process.exitCode = bad ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
