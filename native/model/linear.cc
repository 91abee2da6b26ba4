#include "linear.h"

namespace bertrt {

void Linear::pack(const ModelKernels& k, Precision p, const float* w, int n, int k_in, bool halves) {
  k_ = &k, p_ = p, n_ = n, k_in_ = k_in;
  release();
  if (p == Precision::kBF16) {
    k.bf16->pack_weights_bf16(w, n, k_in, &bf_);
    bytes_ = 2 * bf_.data.size();
  } else if (p == Precision::kINT8) {
    k.int8->pack_weights_s8(w, n, k_in, &q_);
    bytes_ = q_.data.size() + 8 * static_cast<size_t>(n);  // and a scale and a compensation per output channel
  } else {
    if (!(halves && k.fp32->pack_weights_f16(w, n, k_in, &fp_))) k.fp32->pack_weights(w, n, k_in, &fp_);
    bytes_ = fp_.bytes();
  }
}

void Linear::release() {
  fp_ = {}, q_ = {}, bf_ = {};
  bytes_ = 0;
}

void Linear::prepare(const float* x, int lda, int m, LinearInput& in, ThreadPool& pool, int nth, bool prepared) const {
  if (prepared) return;
  if (p_ == Precision::kBF16) k_->bf16->convert_rows_bf16(x, m, k_in_, lda, &in.bq, pool, nth);
  else if (p_ == Precision::kINT8) k_->int8->quantize_rows(x, m, k_in_, lda, smooth_or_null(), &in.q, pool, nth);
}

void Linear::run(const float* x, int lda, const LinearInput& in, int r0, int m, const float* residual, float* c, int ldc,
                 ThreadPool& pool, int nth, cpu::Bf16Rows* out_bf16) const {
  cpu::Epilogue epi;
  epi.bias = bias.size() ? bias.data() : nullptr;
  epi.act = act;
  epi.residual = residual, epi.ldr = ldc, epi.c = c, epi.ldc = ldc;
  if (p_ == Precision::kBF16) {
    cpu::GemmBf16Args g;
    static_cast<cpu::Epilogue&>(g) = epi;
    g.a = &in.bq, g.w = &bf_, g.row0 = r0, g.rows = m;
    if (out_bf16) cpu::size_bf16_rows(out_bf16, m, n_), g.c_bf16 = out_bf16;
    k_->bf16->gemm_bf16(g, pool, nth);
  } else if (p_ == Precision::kINT8) {
    cpu::GemmS8Args g;
    static_cast<cpu::Epilogue&>(g) = epi;
    g.a = &in.q, g.w = &q_, g.row0 = r0, g.rows = m;
    k_->int8->gemm_s8(g, pool, nth);
  } else {
    cpu::GemmArgs g;
    static_cast<cpu::Epilogue&>(g) = epi;
    g.a = x + static_cast<size_t>(r0) * lda, g.lda = lda, g.w = &fp_, g.m = m;
    k_->fp32->gemm(g, pool, nth);
  }
}

}  // namespace bertrt
