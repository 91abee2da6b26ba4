// Pieces of the CPU engine that the CUDA backend's host side shares (native/model/cuda_backend.cc).
#pragma once
#include <cstdint>

#include "../core/thread_pool.h"
#include "bertrt/model.h"

namespace bertrt {

// The config checks every engine applies before reading weights.
Status check_config(const BertConfig& c);

// out[r][v] = bias[v] + x[r] . word[v] over a [V][H] FP32 embedding table, parallel over the vocabulary.
Status vocab_logits_cpu(const float* word, int64_t V, int64_t H, const float* x, int rows, const float* bias,
                        float* out, ThreadPool& pool, int nth);
Status vocab_sparse_cpu(const float* word, int64_t V, int64_t H, const float* x, const int32_t* cu, int n_seqs,
                        const float* bias, bool sum, float* out, ThreadPool& pool, int nth);

}  // namespace bertrt
