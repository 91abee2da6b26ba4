// The CPU kernel table. Each ISA (generic, avx2, avx512; avxvnni for INT8) provides one table built from the same
// templates (kernels_impl.h); kernels() picks the best the CPU runs, once, and BERTRT_ISA=<name> forces one (tests
// and benchmarks use that to run every path the machine has).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "../core/aligned.h"
#include "../core/quantize.h"
#include "../core/thread_pool.h"

namespace bertrt::cpu {

// A weight matrix W[n][k] (PyTorch Linear layout: out x in) packed once at load into panels of `nr` output
// columns, each panel stored k-major ([k][nr], zero-padded past n), the layout the micro-kernel streams. The panels
// hold FP32 values (data) or, when pack_weights_f16 found every weight exactly representable in IEEE half (an F16
// checkpoint's values are), the same values in 16 bits (half), widened exactly as the GEMM reads them: the products
// and sums are the FP32 path's, bit for bit, from half the memory.
struct PackedMatrix {
  AlignedBuffer<float> data;
  AlignedBuffer<uint16_t> half;
  int n = 0, k = 0, nr = 0;
  int panels() const { return (n + nr - 1) / nr; }
  bool f16() const { return half.size() > 0; }
  size_t bytes() const { return sizeof(float) * data.size() + sizeof(uint16_t) * half.size(); }
};

// INT8 weights: W[n][k] quantized per output channel (symmetric s8, scale = max|W[n]|/127) and packed for one
// ISA's integer micro-kernel: K in groups of `kgroup` (4 for VNNI's vpdpbusd, 2 for AVX2's vpmaddwd), panels of
// `nr` columns. comp[n] = sum_k Wq[n][k]: times a row's zero point, it cancels the u8 activations' offset.
struct QuantMatrix {
  AlignedBuffer<int8_t> data;    // packed panels; AVX2 stores the values widened to s16 pairs (see kernels_s8.h)
  AlignedBuffer<float> scale;    // [n]
  AlignedBuffer<int32_t> comp;   // [n] sum of each output channel's s8 weights (times an activation row's zero point,
                                 // it cancels that zero point from the u8 x s8 sums)
  int n = 0, k = 0, kpad = 0, nr = 0, kgroup = 0;
  int panels() const { return (n + nr - 1) / nr; }
};

// Activations quantized per row, asymmetric: the row's range [min(x, 0), max(x, 0)] mapped onto u8,
// scale = range / 255, q = round(x / scale) + zero, zero = round(-min / scale), so x ~ scale * (q - zero).
struct QuantRows {
  AlignedBuffer<uint8_t> data;  // [m][kpad], padded past k (any value there: padded weights are 0)
  AlignedBuffer<float> scale;   // [m]
  AlignedBuffer<int32_t> zero;  // [m]
  int m = 0, k = 0, kpad = 0;
};

// The activation a GEMM's epilogue applies after the bias: GELU's exact erf form (BERT's "gelu"), its tanh form
// ("gelu_new", "gelu_pytorch_tanh"), or SiLU (x sigmoid(x): the gate of NomicBERT's SwiGLU).
enum class Act : uint8_t { kNone, kGelu, kGeluTanh, kSilu };

// What every GEMM does after the dot products: C = act(acc + bias) + residual, written with stride ldc.
struct Epilogue {
  const float* bias = nullptr;      // [n] or null
  Act act = Act::kNone;
  const float* residual = nullptr;  // [m][ldr] or null, added last; never c itself (past the first K block c holds partial sums)
  int ldr = 0;
  float* c = nullptr;
  int ldc = 0;
};

struct GemmS8Args : Epilogue {
  const QuantRows* a = nullptr;
  const QuantMatrix* w = nullptr;
  int row0 = 0, rows = -1;  // A's rows [row0, row0 + rows) (-1: to the end); output row i is row0 + i's
  int32_t* raw = nullptr;  // tests: when set, exact int32 sums (acc - comp) are written here instead of c, ld = n
};

// BF16 weights: W[n][k] rounded to bfloat16 (nearest even) and packed in panels of nr columns with K in pairs,
// the layout of AVX512-BF16's vdpbf16ps. Activations are rounded to BF16 per GEMM; sums are FP32.
struct Bf16Matrix {
  AlignedBuffer<uint16_t> data;  // [panels][kpad/2][nr][2]
  int n = 0, k = 0, kpad = 0, nr = 0;
  int panels() const { return (n + nr - 1) / nr; }
};

struct Bf16Rows {
  AlignedBuffer<uint16_t> data;  // [m][kpad]
  int m = 0, k = 0, kpad = 0;
};

// Sizes out for m rows of k values (kpad: k rounded up to even; the buffer grows only, its contents are not kept).
inline void size_bf16_rows(Bf16Rows* out, int m, int k) {
  out->m = m, out->k = k, out->kpad = (k + 1) / 2 * 2;
  out->data.resize(static_cast<size_t>(m) * out->kpad);
}

struct GemmBf16Args : Epilogue {
  const Bf16Rows* a = nullptr;
  const Bf16Matrix* w = nullptr;
  int row0 = 0, rows = -1;  // A's rows [row0, row0 + rows) (-1: to the end); output row i is row0 + i's
  // When set, output row i goes to c_bf16's row i in bfloat16 instead of to c: the bits convert_rows_bf16 would give
  // (the next BF16 GEMM's input, without a pass over the floats). The caller sizes it (its width n, even).
  Bf16Rows* c_bf16 = nullptr;
};

// C[m][n] = act(A[m][k] . W^T + bias) + residual
struct GemmArgs : Epilogue {
  const float* a = nullptr;
  int lda = 0;
  const PackedMatrix* w = nullptr;
  int m = 0;
};

// Self-attention over a packed batch: sequence s holds rows [cu_seqlens[s], cu_seqlens[s+1]) of qkv, which is
// [tokens][3*hidden] laid out as Q | K | V, head h at columns h*head_dim of each part. Every token attends to
// all tokens of its own sequence and nothing else, so no padding and no mask exist.
struct AttentionArgs {
  const float* qkv = nullptr;
  int ld_qkv = 0;
  float* out = nullptr;  // [tokens][hidden], head h at columns h*head_dim
  int ld_out = 0;
  const int32_t* cu_seqlens = nullptr;
  // null: every token of a sequence is a key. Else only sequence s's first key_lens[s] tokens (in [1, its length]) are
  // keys; the tokens past them still query (see BatchView::key_lens).
  const int32_t* key_lens = nullptr;
  int n_seqs = 0;
  int n_heads = 0;
  int head_dim = 0;
  float scale = 1.f;
  // Optional additive bias by relative position (MPNet): score(h, i, j) += rel_bias[h * (2 * rel_len - 1) +
  // rel_len - 1 + j - i] after the scale, for sequences of at most rel_len tokens. Null: none.
  const float* rel_bias = nullptr;
  int rel_len = 0;
  // > 0: sliding-window attention (ModernBERT's local layers): query i sees keys j with |i - j| <= window only.
  int window = 0;
  // DeBERTa's disentangled terms: c2p and p2c hold, for each row of qkv and head, the row's query (c2p) or key (p2c)
  // dotted with the pos_r projected relative embeddings ([rows][heads][pos_r]); query i and key j of a sequence gain
  // c2p[i][h][r] + p2c[j][h][r] before the scale, r = pos_index[pos_len - 1 + i - j]. Null: none.
  const float* c2p = nullptr;
  const float* p2c = nullptr;
  int pos_r = 0;
  const int32_t* pos_index = nullptr;
  int pos_len = 0;
  // attention_bf16: when set, the output goes here in bfloat16 (row stride ld_out_bf16 >= the row's width rounded up
  // to even; head h at columns h*head_dim) instead of to out: the bits convert_rows_bf16 would give, for the next BF16
  // GEMM. For odd head sizes (the FP32 kernel's) out is written first and converted, with convert_rows_bf16's zero pad.
  uint16_t* out_bf16 = nullptr;
  int ld_out_bf16 = 0;
};

// The disentangled terms of query i (row row0 + i) of head h, added to its raw scores s[0, len).
inline void add_disentangled(const AttentionArgs& g, int h, int row0, int i, int len, float* s) {
  const size_t ld = static_cast<size_t>(g.n_heads) * g.pos_r;
  const float* c = g.c2p + static_cast<size_t>(row0 + i) * ld + static_cast<size_t>(h) * g.pos_r;
  const float* p = g.p2c + static_cast<size_t>(row0) * ld + static_cast<size_t>(h) * g.pos_r;
  const int32_t* idx = g.pos_index + (g.pos_len - 1) + i;  // idx[-j]: the index of offset i - j
  for (int j = 0; j < len; ++j) {
    const int r = idx[-j];
    s[j] += c[r] + p[static_cast<size_t>(j) * ld + r];
  }
}

// Keys [j0, j1) of query i outside its window get -inf before the softmax (their probability is then exactly 0).
inline void mask_outside_window(int window, int i, int len, float* s, int j0 = 0, int j1 = -1) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const int end = std::min(len, j1 < 0 ? len : j1);
  for (int j = j0; j < std::min(end, i - window); ++j) s[j] = ninf;
  for (int j = std::max(j0, i + window + 1); j < end; ++j) s[j] = ninf;
}

// Adds the relative-position bias of query i of head h to its raw (unscaled) scores s[0, len): divided by the
// scale, so that the softmax's scaling gives q.k * scale + bias.
inline void add_relative_bias(const AttentionArgs& g, int h, int i, int len, float* s) {
  const float* b = g.rel_bias + static_cast<size_t>(h) * (2 * g.rel_len - 1) + (g.rel_len - 1) - i;
  const float inv = 1.f / g.scale;
  for (int j = 0; j < len; ++j) s[j] += b[j] * inv;
}

// word/position/type embedding sum followed by LayerNorm, one output row per token.
struct EmbedArgs {
  const float* word = nullptr;  // [vocab][h]
  const float* pos = nullptr;   // [max_pos][h]
  const float* type = nullptr;  // [type_vocab][h] or null (models without token types)
  const int32_t* ids = nullptr;
  const int32_t* type_ids = nullptr;  // null = all zero
  const int32_t* positions = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  float eps = 1e-12f;
  int h = 0;
  int tokens = 0;
  float* out = nullptr;
  const uint16_t* word_half = nullptr;  // when set, the word table in IEEE halves (word unused)
};

// What a table's code needs from the CPU (bertrt::Feature bits), declared in its kernels_<isa>.cc beside the target
// pragma that compiles it: every kernel of the table needs `fp32` (its FP32 kernels, and the rest it shares with
// them), its INT8 kernels `int8` and its BF16 kernels `bf16` (each includes fp32's). dispatch.cc runs a table's part
// only where has_features() says yes.
struct KernelNeeds {
  uint32_t fp32 = 0, int8 = 0, bf16 = 0;
};

struct Kernels {
  const char* name;
  KernelNeeds needs;
  int nr;  // panel width pack_weights produces and gemm expects
  void (*pack_weights)(const float* w, int n, int k, PackedMatrix* out);
  void (*gemm)(const GemmArgs& args, ThreadPool& pool, int nth);
  void (*attention)(const AttentionArgs& args, ThreadPool& pool, int nth);
  // x[r] = LayerNorm(x[r] + residual[r]) in place; residual may be null.
  void (*add_layernorm)(float* x, const float* residual, const float* gamma, const float* beta, int rows, int h,
                        float eps, ThreadPool& pool, int nth);
  void (*embed_layernorm)(const EmbedArgs& args, ThreadPool& pool, int nth);
  // INT8 (null where the ISA's table has no integer kernels)
  void (*pack_weights_s8)(const float* w, int n, int k, QuantMatrix* out);
  // out = per-row u8 form of x[r][i] * col_scale[i] (col_scale null: of x itself)
  void (*quantize_rows)(const float* x, int m, int k, int ldx, const float* col_scale, QuantRows* out, ThreadPool& pool,
                        int nth);
  // x[r] = LayerNorm(x[r]) in place and, in the same pass over each row, its quantize_rows form in out's row
  // out_row0 + r (out sized here unless it already has those rows at width h)
  void (*layernorm_quantize)(float* x, const float* gamma, const float* beta, int rows, int h, float eps,
                             const float* col_scale, QuantRows* out, int out_row0, ThreadPool& pool, int nth);
  void (*gemm_s8)(const GemmS8Args& args, ThreadPool& pool, int nth);
  // BF16 (null except on AVX-512, and usable only where the CPU has AVX512-BF16)
  void (*pack_weights_bf16)(const float* w, int n, int k, Bf16Matrix* out);
  void (*convert_rows_bf16)(const float* x, int m, int k, int ldx, Bf16Rows* out, ThreadPool& pool, int nth);
  // x[r] = LayerNorm(x[r]) in place and, in the same pass over each row, its convert_rows_bf16 form in out's row
  // out_row0 + r (out sized here unless it already has those rows at width h)
  void (*layernorm_bf16)(float* x, const float* gamma, const float* beta, int rows, int h, float eps, Bf16Rows* out,
                         int out_row0, ThreadPool& pool, int nth);
  void (*gemm_bf16)(const GemmBf16Args& args, ThreadPool& pool, int nth);
  // attention with Q.K and P.V on vdpbf16ps (bf16 inputs, FP32 softmax and sums)
  void (*attention_bf16)(const AttentionArgs& args, ThreadPool& pool, int nth);
  // pack_weights with the panels in IEEE half when every weight converts exactly (returns true), else exactly
  // pack_weights (returns false); gemm runs either form. Every table has it (the portable one widens in C).
  bool (*pack_weights_f16)(const float* w, int n, int k, PackedMatrix* out);
  // W[n][k] already in IEEE halves, packed as half panels
  void (*pack_halves)(const uint16_t* w, int n, int k, PackedMatrix* out);
};

const Kernels* kernels_generic();
const Kernels* kernels_avx2();    // null when not compiled in
const Kernels* kernels_avx512();  // null when not compiled in
// AVX2 tables with a 256-bit VNNI INT8 micro-kernel (kernels_avxvnni*.cc): AVX-VNNI's VEX form, and the same code
// in AVX512-VNNI's EVEX form (never chosen by cpuid; lets AVX-512 machines test that path). Null when not compiled in.
const Kernels* kernels_avxvnni();
const Kernels* kernels_avxvnni_evex();
// The AVX-512 table with its INT8 GEMM on AMX-INT8 tiles (kernels_amx.cc); runnable only where cpuid reports
// AMX-INT8 and the process may use tile state, which is opt-in (amx_permitted()). Null when not compiled in.
const Kernels* kernels_amx();

// The table in use: BERTRT_ISA if set and runnable, else the best the CPU supports.
const Kernels& kernels();
// A named table if compiled in and runnable on this CPU, else null.
const Kernels* kernels_for(const std::string& isa);
// Names of every table this binary can run here, best first.
std::vector<std::string> runnable_isas();

// The table whose INT8 kernels run here: AMX-INT8 when opted in, else AVX-512 with VNNI, else AVX-VNNI, else AVX2,
// else portable (BERTRT_ISA honoured when it can).
const Kernels& kernels_s8();
// Every table whose INT8 kernels can run here, best first.
std::vector<std::string> runnable_s8_isas();

// The table whose BF16 kernels run here, or null when the CPU lacks AVX512-BF16. tiles: its GEMM on AMX-BF16 where
// the CPU has it and amx_bf16_permitted() (which asks the OS for the tile state; BERTRT_AMX=0 or BERTRT_ISA=avx512
// keep vdpbf16ps); false: the AVX512-BF16 table, asking nothing (callers that only convert or run attention).
const Kernels* kernels_bf16(bool tiles = false);
// Every table whose BF16 kernels can run here, best first (asks for the tile state as kernels_bf16(true) does).
std::vector<std::string> runnable_bf16_isas();

// f as IEEE binary16 in *h when it is exactly one (zero, subnormal and normal halves; not inf or NaN), else false.
// (The way back is simd::half_bits_to_float.)
inline bool float_to_half_exact(float f, uint16_t* h) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const int exp = static_cast<int>((u >> 23) & 0xffu);
  const uint32_t man = u & 0x7fffffu;
  if (exp == 0xff) return false;
  if (exp == 0) {  // float zero (subnormal floats lie far below the smallest half)
    if (man != 0) return false;
    *h = sign;
    return true;
  }
  const int e = exp - 127;  // f = 1.man * 2^e
  if (e > 15) return false;
  if (e >= -14) {  // a normal half: the 10 leading mantissa bits, the other 13 must be 0
    if (man & 0x1fffu) return false;
    *h = static_cast<uint16_t>(sign | ((e + 15) << 10) | (man >> 13));
    return true;
  }
  if (e < -24) return false;
  // a subnormal half m * 2^-24: m = (1.man * 2^23) * 2^(e + 1), exact only when the bits shifted out are 0
  const uint32_t full = man | 0x800000u;
  const int shift = -(e + 1);
  if (full & ((1u << shift) - 1u)) return false;
  *h = static_cast<uint16_t>(sign | (full >> shift));
  return true;
}

// Round-to-nearest-even float -> bfloat16 (NaN kept quiet, denormal inputs to zeros of their sign), the conversion
// the hardware's vcvtneps2bf16 does: the scalar tails of a row and its vector blocks give the same bits.
uint16_t float_to_bf16(float f);

// Per-channel weight quantization (core/quantize.h): shared by every ISA and the CUDA backend, so all give the same
// integers.
using bertrt::quantize_weight_rows;

}  // namespace bertrt::cpu
