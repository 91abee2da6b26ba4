// Benchmark building blocks shared by `bertrt bench` and bench/run.ts: kernel microbenchmarks for a model's
// shapes (with the FP32 peak measured in the same run), and timing helpers that report medians.
import * as fs from 'node:fs';
import { type MicrobenchResult, native } from './native';
import type { ModelConfig } from './model/config';

export interface Timing {
  /** median seconds per call */
  median: number;
  samples: number[];
}

/** Calls fn until both minRuns calls and minSeconds have passed; returns the median call time. */
export async function timeAsync(fn: () => Promise<unknown>, minRuns = 5, minSeconds = 1): Promise<Timing> {
  const samples: number[] = [];
  const t0 = performance.now();
  while (samples.length < minRuns || performance.now() - t0 < minSeconds * 1000) {
    const s = performance.now();
    await fn();
    samples.push((performance.now() - s) / 1000);
  }
  return { median: median(samples), samples };
}

/** Token ids for `batch` sequences of `len` tokens, packed end to end: [CLS], varied ordinary vocabulary, [SEP]. */
export function syntheticIds(batch: number, len: number): Int32Array {
  const ids = new Int32Array(batch * len);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < len; i++) ids[b * len + i] = i === 0 ? 101 : i === len - 1 ? 102 : 1996 + ((b * 7919 + i * 104729) % 25000);
  }
  return ids;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Every kernel of one encoder layer at `tokens` tokens, on the given ISA (default: the one in use). halves: the four
 * GEMMs again on half panels, as an F16 checkpoint (the embedded model) runs them.
 */
export async function microbenchModel(c: ModelConfig, tokens: number, seqLen: number, isa?: string, minSeconds = 0.3, halves = false): Promise<MicrobenchResult[]> {
  const n = native();
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const out: MicrobenchResult[] = [];
  for (const h of halves ? [false, true] : [false]) {
    out.push(await n.microbench({ op: 'gemm', isa, m: tokens, n: 3 * H, k: H, halves: h, minSeconds }));
    out.push(await n.microbench({ op: 'gemm', isa, m: tokens, n: H, k: H, halves: h, minSeconds }));
    out.push(await n.microbench({ op: 'gemm', isa, m: tokens, n: I, k: H, gelu: true, halves: h, minSeconds }));
    out.push(await n.microbench({ op: 'gemm', isa, m: tokens, n: H, k: I, halves: h, minSeconds }));
  }
  out.push(
    await n.microbench({ op: 'attention', isa, batch: Math.max(1, Math.floor(tokens / seqLen)), len: seqLen, heads: c.numAttentionHeads, headDim: H / c.numAttentionHeads, minSeconds }),
  );
  out.push(await n.microbench({ op: 'layernorm', isa, rows: tokens, hidden: H, minSeconds }));
  return out;
}

/** The INT8 GEMMs of one encoder layer (pre-quantized activations) and the quantization sweep. */
export async function microbenchInt8(c: ModelConfig, tokens: number, isa?: string, minSeconds = 0.3): Promise<MicrobenchResult[]> {
  const n = native();
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  return [
    await n.microbench({ op: 'gemm_s8', isa, m: tokens, n: 3 * H, k: H, minSeconds }),
    await n.microbench({ op: 'gemm_s8', isa, m: tokens, n: H, k: H, minSeconds }),
    await n.microbench({ op: 'gemm_s8', isa, m: tokens, n: I, k: H, gelu: true, minSeconds }),
    await n.microbench({ op: 'gemm_s8', isa, m: tokens, n: H, k: I, minSeconds }),
    await n.microbench({ op: 'quantize', isa, rows: tokens, hidden: H, minSeconds }),
  ];
}

/** The BF16 GEMMs of one encoder layer (AVX512-BF16 only). */
export async function microbenchBf16(c: ModelConfig, tokens: number, minSeconds = 0.3): Promise<MicrobenchResult[]> {
  const n = native();
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  return [
    await n.microbench({ op: 'gemm_bf16', m: tokens, n: 3 * H, k: H, minSeconds }),
    await n.microbench({ op: 'gemm_bf16', m: tokens, n: H, k: H, minSeconds }),
    await n.microbench({ op: 'gemm_bf16', m: tokens, n: I, k: H, gelu: true, minSeconds }),
    await n.microbench({ op: 'gemm_bf16', m: tokens, n: H, k: I, minSeconds }),
  ];
}

export async function fp32Peak(): Promise<MicrobenchResult> {
  return native().microbench({ op: 'peak' });
}

/** The CPU's cpuid family and model from /proc/cpuinfo, as " (cpuid family F model M)" for a report's machine line
 *  (the brand string alone does not tell AMD's or Intel's generations apart); empty elsewhere. */
export function cpuGeneration(): string {
  try {
    const t = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const family = /^cpu family\s*:\s*(\d+)/m.exec(t)?.[1];
    const model = /^model\s*:\s*(\d+)/m.exec(t)?.[1];
    return family && model ? ` (cpuid family ${family} model ${model})` : '';
  } catch {
    return '';
  }
}
