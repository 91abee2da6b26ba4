// Pieces of the CPU engine that the CUDA backend's host side shares (native/model/cuda_backend.cc).
#pragma once
#include <cstdint>

#include "../core/thread_pool.h"
#include "bertrt/model.h"

namespace bertrt {

// The config checks every engine applies before reading weights.
Status check_config(const BertConfig& c);
// The batch checks every engine applies: lengths that tile the tokens, key lengths in range, ids inside the vocabulary
// and type ids inside the type table. *max_len: the longest sequence.
Status check_batch(const BatchView& b, const BertConfig& cfg, int* max_len);

// The bucket of a key `rel` = j - i tokens from its query in MPNet's (T5's) relative attention (bert_layer.cc).
int relative_bucket(int rel, int buckets, int max_distance);

// DeBERTa: the row of the relative embeddings that offset d = i - j between query i and key j reads, in
// [0, 2 disentangled_span) (transformers' log buckets, clamped; deberta.cc).
int disentangled_index(const BertConfig& c, int d);
// out[r] = x[r] . w^T + b for the rows of x [rows][k] and w [n][k], on the FP32 GEMM (DeBERTa's relative embeddings
// through a layer's query or key projection).
void project_rows(const float* x, int rows, const float* w, const float* b, int n, int k, float* out, ThreadPool& pool);
// The word-embedding table [V][H]: FP32, or IEEE halves (an F16 checkpoint's table, kept at its precision).
struct WordTable {
  const float* f32 = nullptr;
  const uint16_t* f16 = nullptr;
};

// out[r][v] = bias[v] + x[r] . word[v] over the embedding table, parallel over the vocabulary.
Status vocab_logits_cpu(WordTable word, int64_t V, int64_t H, const float* x, int rows, const float* bias, float* out,
                        ThreadPool& pool, int nth);
Status vocab_sparse_cpu(WordTable word, int64_t V, int64_t H, const float* x, const int32_t* cu, int n_seqs,
                        const float* bias, bool sum, float* out, ThreadPool& pool, int nth);

}  // namespace bertrt
