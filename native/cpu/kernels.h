// The CPU kernel table. Each ISA (generic, avx2, avx512) provides one table built from the same templates
// (kernels_impl.h); kernels() picks the best the CPU runs, once, and BERTRT_ISA=<name> forces one (tests and
// benchmarks use that to run every path the machine has).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../core/aligned.h"
#include "../core/thread_pool.h"

namespace bertrt::cpu {

// A weight matrix W[n][k] (PyTorch Linear layout: out x in) packed once at load into panels of `nr` output
// columns, each panel stored k-major ([k][nr], zero-padded past n), the layout the micro-kernel streams.
struct PackedMatrix {
  AlignedBuffer<float> data;
  int n = 0, k = 0, nr = 0;
  int panels() const { return (n + nr - 1) / nr; }
};

// C[m][n] = act(A[m][k] . W^T + bias) + residual
struct GemmArgs {
  const float* a = nullptr;
  int lda = 0;
  const PackedMatrix* w = nullptr;
  const float* bias = nullptr;      // [n] or null
  bool gelu = false;                // exact erf GELU after the bias
  const float* residual = nullptr;  // [m][ldr] or null, added last
  int ldr = 0;
  float* c = nullptr;
  int ldc = 0;
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
  int n_seqs = 0;
  int n_heads = 0;
  int head_dim = 0;
  float scale = 1.f;
};

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
};

struct Kernels {
  const char* name;
  int nr;  // panel width pack_weights produces and gemm expects
  void (*pack_weights)(const float* w, int n, int k, PackedMatrix* out);
  void (*gemm)(const GemmArgs& args, ThreadPool& pool, int nth);
  void (*attention)(const AttentionArgs& args, ThreadPool& pool, int nth);
  // x[r] = LayerNorm(x[r] + residual[r]) in place; residual may be null.
  void (*add_layernorm)(float* x, const float* residual, const float* gamma, const float* beta, int rows, int h,
                        float eps, ThreadPool& pool, int nth);
  void (*embed_layernorm)(const EmbedArgs& args, ThreadPool& pool, int nth);
};

const Kernels* kernels_generic();
const Kernels* kernels_avx2();    // null when not compiled in
const Kernels* kernels_avx512();  // null when not compiled in

// The table in use: BERTRT_ISA if set and runnable, else the best the CPU supports.
const Kernels& kernels();
// A named table if compiled in and runnable on this CPU, else null.
const Kernels* kernels_for(const std::string& isa);
// Names of every table this binary can run here, best first.
std::vector<std::string> runnable_isas();

}  // namespace bertrt::cpu
