// Fused multi-head self-attention over a packed variable-length batch (no padding anywhere): for each sequence
// (cu_seqlens), head and block of 64 queries, softmax(Q K^T / sqrt(d)) V is computed FlashAttention-2 style:
// key/value blocks of 64 stream through shared memory (double-buffered by cp.async), while Q, the scores, the
// probabilities and the output accumulator stay in registers; an online softmax (running max and sum per query,
// FP32) rescales the FP32 output, and Q K^T and P V run on tensor cores (mma.sync, FP16 inputs, FP32 accumulation).
// Keys past a sequence's end are masked; queries past it are computed but not written.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace bertrt_cuda {

// Head sizes the kernels are built for.
bool attention_supports(int head_dim);

// Raises the kernel's shared-memory limit for head_dim on the current device; once, before any launch (and
// outside graph capture). Returns an error message, empty on success.
std::string attention_prepare(int head_dim);

// What a family adds to plain softmax(Q K^T / sqrt(head_dim)) V; the defaults add nothing.
struct AttentionExtras {
  // MPNet's relative attention: a bias added to the scaled scores by head and key offset j - i, [heads][2 rel_span - 1]
  // (offset d at d + rel_span - 1; offsets past +-(rel_span - 1) take the edge's value). Null: none.
  const float* rel_bias = nullptr;
  int rel_span = 0;
  // ModernBERT's local layers (> 0): query i attends to keys j with |i - j| <= window only; key blocks wholly outside
  // a query block's window are skipped.
  int window = 0;
  // DeBERTa's disentangled terms: c2p and p2c [heads][tokens][pos_r] (FP16) hold each token's query (c2p) or key (p2c)
  // dotted with the pos_r projected relative embeddings; query i and key j of a sequence gain
  // c2p[h][i][r] + p2c[h][j][r] before the scale, r = pos_index[pos_len - 1 + i - j] (pos_len >= every length). Null: none.
  const __half* c2p = nullptr;
  const __half* p2c = nullptr;
  int pos_r = 0, tokens = 0;
  const int32_t* pos_index = nullptr;
  int pos_len = 0;
  // the scores' scale; 0: 1/sqrt(head_dim)
  float scale = 0.f;
};

// qkv: [tokens][3 * hidden] (Q | K | V, heads contiguous within each), ctx: [tokens][hidden].
// cu_seqlens: device array of n_seqs + 1 offsets; max_len: the longest sequence (grid size).
// Returns an error message, empty on success.
std::string attention(const __half* qkv, const int32_t* cu_seqlens, int n_seqs, int max_len, int heads, int head_dim,
                      __half* ctx, cudaStream_t stream, const AttentionExtras& extras = {});

// DeBERTa: the Q and K parts of qkv [tokens][3 * hidden] copied head-major, q[h][t][d] and k[h][t][d], so that each
// head's disentangled terms are one GEMM against its projected relative embeddings.
void split_heads(const __half* qkv, int tokens, int heads, int head_dim, __half* q, __half* k, cudaStream_t stream);

// Rotary positions (NomicBERT, GTE): rotates the Q and K parts of qkv [tokens][3 * hidden] in place, token t by
// positions[t], pairs (i, i + head_dim / 2) of each head by the angle whose cos and sin are cos[pos][i], sin[pos][i]
// ([positions][head_dim / 2], FP32), computed in FP32 and rounded to FP16 once.
void rope_rotate(__half* qkv, const int32_t* positions, int tokens, int heads, int head_dim, const float* cos,
                 const float* sin, cudaStream_t stream);

}  // namespace bertrt_cuda
