// The encoder's building blocks, each owning its weights in the precision the model runs: Linear (a packed GEMM with
// its bias and fused epilogue) and LayerNorm. An architecture's layer is written in terms of these, so the precision
// plumbing (which kernel table, which packed form, which prepared input) lives here once.
#pragma once
#include <cstddef>
#include <utility>

#include "../core/aligned.h"
#include "../core/thread_pool.h"
#include "../cpu/kernels.h"
#include "bertrt/model.h"

namespace bertrt {

// The kernel tables a model runs on, picked once at load: its FP32 table (GEMMs, LayerNorms, embeddings, attention),
// its INT8 table (GEMMs, quantization) and its BF16 table (GEMMs, and the BF16 attention INT8 uses too; null where the
// CPU lacks AVX512-BF16).
struct ModelKernels {
  const cpu::Kernels* fp32 = nullptr;
  const cpu::Kernels* int8 = nullptr;
  const cpu::Kernels* bf16 = nullptr;
};

// A GEMM's input in the form its precision reads: INT8 quantized rows or rows rounded to BF16 (FP32 reads the floats).
struct LinearInput {
  cpu::QuantRows q;
  cpu::Bf16Rows bq;
};

using Activation = cpu::Act;

// y = act(x . W^T + b) + residual, W [n][k] in PyTorch's layout, packed for one precision.
class Linear {
 public:
  // Packs W for precision p on kernels k (which must outlive this). halves: FP32 weights that are all exact IEEE
  // halves (an F16 checkpoint's) are kept in 16 bits and widened in the GEMM, bit for bit the FP32 result.
  void pack(const ModelKernels& k, Precision p, const float* w, int n, int k_in, bool halves);
  // Drops the packed weights (bias, smoothing and activation stay).
  void release();

  AlignedBuffer<float> bias;    // [n]; empty: none
  AlignedBuffer<float> smooth;  // INT8: 1/s_j the input's channel j is multiplied by before it is quantized; empty: none
  Activation act = Activation::kNone;

  int n() const { return n_; }
  int k() const { return k_in_; }
  Precision precision() const { return p_; }
  // The memory the packed weights hold (Encoder.weightBytes counts it).
  size_t bytes() const { return bytes_; }
  const float* smooth_or_null() const { return smooth.size() ? smooth.data() : nullptr; }

  // Rows [0, m) of x (stride lda) in the form the GEMM reads. prepared: in already holds that form of x (INT8: the
  // LayerNorm that wrote x quantized it with this layer's smoothing; or another Linear with the same input, width
  // and smoothing prepared it).
  void prepare(const float* x, int lda, int m, LinearInput& in, ThreadPool& pool, int nth, bool prepared = false) const;
  // Output rows [r0, r0 + m) from a prepared input: c (stride ldc) and residual (stride ldc, or null) point at row
  // r0's output. The residual is never c itself: past the GEMM's first K block c holds partial sums. out_bf16 (BF16
  // only, n even): the output rows go there in bfloat16 instead, sized here to m rows, as the next BF16 GEMM's
  // prepared input (the bits prepare would give).
  void run(const float* x, int lda, const LinearInput& in, int r0, int m, const float* residual, float* c, int ldc,
           ThreadPool& pool, int nth, cpu::Bf16Rows* out_bf16 = nullptr) const;
  // prepare, then run over rows [0, m).
  void forward(const float* x, int lda, int m, const float* residual, float* c, int ldc, LinearInput& in, ThreadPool& pool,
               int nth, bool prepared = false, cpu::Bf16Rows* out_bf16 = nullptr) const {
    prepare(x, lda, m, in, pool, nth, prepared);
    run(x, lda, in, 0, m, residual, c, ldc, pool, nth, out_bf16);
  }

 private:
  const ModelKernels* k_ = nullptr;
  Precision p_ = Precision::kFP32;
  int n_ = 0, k_in_ = 0;
  size_t bytes_ = 0;
  cpu::PackedMatrix fp_;
  cpu::QuantMatrix q_;
  cpu::Bf16Matrix bf_;
};

// x[r] = LayerNorm(x[r]) * g + b in place, over rows of width g.size().
struct LayerNorm {
  AlignedBuffer<float> g, b;
  float eps = 1e-12f;
  // A LayerNorm holding g and b (moved from).
  static LayerNorm take(AlignedBuffer<float>& g, AlignedBuffer<float>& b, float eps) {
    LayerNorm n;
    n.g = std::move(g), n.b = std::move(b), n.eps = eps;
    return n;
  }
  bool empty() const { return g.size() == 0; }
  void apply(const cpu::Kernels& k, float* x, int rows, ThreadPool& pool, int nth) const {
    k.add_layernorm(x, nullptr, g.data(), b.data(), rows, static_cast<int>(g.size()), eps, pool, nth);
  }
  // The same, and in the same pass over each row its INT8 form for `next` (with next's smoothing) in out's rows
  // [out_row0, out_row0 + rows).
  void apply_quantize(const cpu::Kernels& k8, float* x, int rows, const Linear& next, cpu::QuantRows* out, int out_row0,
                      ThreadPool& pool, int nth) const {
    k8.layernorm_quantize(x, g.data(), b.data(), rows, static_cast<int>(g.size()), eps, next.smooth_or_null(), out, out_row0,
                          pool, nth);
  }
  // The same for a BF16 GEMM: the rows rounded to bfloat16 in out's rows [out_row0, out_row0 + rows).
  void apply_bf16(const cpu::Kernels& kb, float* x, int rows, cpu::Bf16Rows* out, int out_row0, ThreadPool& pool, int nth) const {
    kb.layernorm_bf16(x, g.data(), b.data(), rows, static_cast<int>(g.size()), eps, out, out_row0, pool, nth);
  }
};

}  // namespace bertrt
