// Small dense math for task heads (a few rows through a classifier or the MLM transform): plain loops in
// float64 accumulation, which is both exact enough and fast at these sizes.

/** y[o] = b[o] + sum_i W[o][i] x[i]; W row-major [out][in] (PyTorch Linear). */
export function linear(x: ArrayLike<number>, w: Float32Array, b: Float32Array | null, out: number): Float64Array {
  const inn = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o] : 0;
    const row = o * inn;
    for (let i = 0; i < inn; i++) s += w[row + i] * x[i];
    y[o] = s;
  }
  return y;
}

export function softmax(x: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]);
  const y = new Float64Array(x.length);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += y[i] = Math.exp(x[i] - m);
  for (let i = 0; i < x.length; i++) y[i] /= s;
  return y;
}

export const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), for BERT's exact GELU. */
export function erf(x: number): number {
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return x < 0 ? -y : y;
}

export const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
/** GELU's tanh form (transformers' gelu_new / gelu_pytorch_tanh) */
export const geluTanh = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));

export function layerNorm(x: Float64Array, g: Float32Array, b: Float32Array, eps: number): Float64Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let v2 = 0;
  for (const v of x) v2 += (v - mean) ** 2;
  const r = 1 / Math.sqrt(v2 / x.length + eps);
  return x.map((v, i) => (v - mean) * r * g[i] + b[i]);
}

/** LayerNorm of each row of x [rows × width] in place, sums in float64 (as layerNorm above). */
export function layerNormRows(x: Float32Array, width: number, g: Float32Array, b: Float32Array, eps: number): void {
  for (let r = 0; r < x.length; r += width) {
    let mean = 0;
    for (let k = 0; k < width; k++) mean += x[r + k];
    mean /= width;
    let v2 = 0;
    for (let k = 0; k < width; k++) v2 += (x[r + k] - mean) ** 2;
    const inv = 1 / Math.sqrt(v2 / width + eps);
    for (let k = 0; k < width; k++) x[r + k] = (x[r + k] - mean) * inv * g[k] + b[k];
  }
}
