// The MLM decoder over the vocabulary (fill-mask's logits and the fused sparse head), on the packed FP32 GEMM.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/aligned.h"
#include "../cpu/kernels.h"
#include "internal.h"

namespace bertrt {

// The MLM decoder over the vocabulary, both heads on the packed FP32 GEMM: per task a block of kVocabBlock vocabulary
// rows is packed once (a small copy beside the GEMM over every row of x) and multiplied with x kRowChunk rows at a
// time, single-threaded inside the task (the GEMM keeps its scratch on the stack). Each word row is then read from
// memory once per call, and the logits exist only as one [kRowChunk x kVocabBlock] tile per thread.
namespace {
constexpr int64_t kVocabBlock = 256;
constexpr int kRowChunk = 256;

// logits tile [m][nb] of rows x[r0, r0 + m) against the packed block (bias included)
void decoder_tile(const cpu::Kernels& k, const float* x, int64_t H, int r0, int m, const cpu::PackedMatrix& block,
                  const float* bias, float* tile, ThreadPool& pool) {
  cpu::GemmArgs g;
  g.a = x + static_cast<int64_t>(r0) * H, g.lda = static_cast<int>(H), g.w = &block, g.m = m;
  g.bias = bias, g.c = tile, g.ldc = block.n;
  k.gemm(g, pool, 1);  // one thread: the caller's task
}

// Packs the vocabulary rows [v0, v0 + nb) of the table for the GEMM (a half table's as half panels).
void pack_word_block(const cpu::Kernels& k, WordTable word, int64_t v0, int64_t nb, int64_t H, cpu::PackedMatrix* block) {
  if (word.f16)
    k.pack_halves(word.f16 + v0 * H, static_cast<int>(nb), static_cast<int>(H), block);
  else
    k.pack_weights(word.f32 + v0 * H, static_cast<int>(nb), static_cast<int>(H), block);
}

// Runs the decoder over the vocabulary, one task per block of kVocabBlock rows: begin(v0, nb), then for each
// kRowChunk rows of x from row r0 tile(v0, nb, r0, m, logits [m][nb]), then end(v0, nb).
template <class Begin, class Tile, class End>
void over_logit_tiles(WordTable word, int64_t V, int64_t H, const float* x, int rows, const float* bias, ThreadPool& pool,
                      int nth, Begin begin, Tile tile_fn, End end) {
  const cpu::Kernels& k = cpu::kernels();
  pool.parallel_for(
      (V + kVocabBlock - 1) / kVocabBlock,
      [&](int64_t task, int) {
        static thread_local cpu::PackedMatrix block;
        static thread_local AlignedBuffer<float> tile;
        const int64_t v0 = task * kVocabBlock, nb = std::min(kVocabBlock, V - v0);
        begin(v0, nb);
        if (rows > 0) {
          pack_word_block(k, word, v0, nb, H, &block);
          tile.resize(static_cast<size_t>(kRowChunk) * nb);
          for (int r0 = 0; r0 < rows; r0 += kRowChunk) {
            const int m = std::min(kRowChunk, rows - r0);
            decoder_tile(k, x, H, r0, m, block, bias ? bias + v0 : nullptr, tile.data(), pool);
            tile_fn(v0, nb, r0, m, static_cast<const float*>(tile.data()));
          }
        }
        end(v0, nb);
      },
      nth);
}
}  // namespace

Status vocab_logits_cpu(WordTable word, int64_t V, int64_t H, const float* x, int rows, const float* bias, float* out,
                        ThreadPool& pool, int nth) {
  if (rows < 0 || (rows > 0 && (!x || !out))) return {Code::kInvalidArgument, "vocab_logits: missing input or output"};
  if (rows == 0) return Status::Ok();
  const auto none = [](int64_t, int64_t) {};
  over_logit_tiles(
      word, V, H, x, rows, bias, pool, nth, none,
      [&](int64_t v0, int64_t nb, int r0, int m, const float* tile) {
        for (int r = 0; r < m; ++r)
          std::memcpy(out + static_cast<int64_t>(r0 + r) * V + v0, tile + static_cast<size_t>(r) * nb, sizeof(float) * nb);
      },
      none);
  return Status::Ok();
}

Status vocab_sparse_cpu(WordTable word, int64_t V, int64_t H, const float* x, const int32_t* cu, int n_seqs,
                        const float* bias, bool sum, float* out, ThreadPool& pool, int nth) {
  if (n_seqs < 0 || !cu || (n_seqs > 0 && (!x || !out))) return {Code::kInvalidArgument, "vocab_sparse: missing input or output"};
  if (n_seqs == 0) return Status::Ok();
  const int rows = cu[n_seqs];
  // each logit is folded into its sequence's running max (or sum) of log1p(relu(.)) as its tile is made; for the max,
  // log1p being increasing, the running value is max(0, logit) and log1p runs once per sequence and id at the end
  over_logit_tiles(
      word, V, H, x, rows, bias, pool, nth,
      [&](int64_t v0, int64_t nb) {  // log1p(relu(.)) >= 0: 0 is the max and the sum of nothing
        for (int q = 0; q < n_seqs; ++q) std::fill(out + q * V + v0, out + q * V + v0 + nb, 0.f);
      },
      [&](int64_t v0, int64_t nb, int r0, int m, const float* tile) {
        int s = static_cast<int>(std::upper_bound(cu, cu + n_seqs + 1, r0) - cu) - 1;  // the sequence of row r0
        for (int r = 0; r < m; ++r) {
          while (cu[s + 1] <= r0 + r) ++s;
          float* acc = out + static_cast<int64_t>(s) * V + v0;
          const float* z = tile + static_cast<size_t>(r) * nb;
          if (sum) {
            for (int64_t v = 0; v < nb; ++v)
              if (z[v] > 0.f) acc[v] += std::log1p(z[v]);
          } else {
            for (int64_t v = 0; v < nb; ++v) acc[v] = std::max(acc[v], z[v]);
          }
        }
      },
      [&](int64_t v0, int64_t nb) {
        if (!sum)
          for (int q = 0; q < n_seqs; ++q)
            for (float *a = out + q * V + v0, *e = a + nb; a < e; ++a) *a = std::log1p(*a);
      });
  return Status::Ok();
}

}  // namespace bertrt
