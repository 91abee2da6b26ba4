#include "attention.cuh"
#include "common.cuh"
#include "mma.cuh"

namespace bertrt_cuda {
namespace {

// FlashAttention-2's layout on mma.sync: each warp owns 16 query rows; Q's fragments stay in registers for the
// whole pass, S = Q K^T and O += P V are m16n8k16 products whose accumulators
// never leave registers, the online softmax works on the accumulators directly (a row is spread over the 4 lanes of
// a quad), P is packed from the S accumulators straight into A fragments, and K/V blocks of 64 keys are double
// buffered through shared memory by cp.async, the next block loading while the current one is multiplied.
constexpr int kQ = 64, kKeys = 64, kThreads = 128;  // 4 warps x 16 query rows; keys per block

template <int D>
struct Smem {
  static constexpr int kLd = (D + 8) * 2;  // bytes per row: 16 bytes of padding keep ldmatrix conflict-free
  static constexpr int q = 0;
  static constexpr int k = q + kQ * kLd;        // two buffers of K
  static constexpr int v = k + 2 * kKeys * kLd;  // two buffers of V
  static constexpr int bytes = v + 2 * kKeys * kLd;
};

// rows [row0, row0 + 64) of one head's D columns (column offset col) into shared memory at `dst`; rows at or past
// len are zero-filled.
template <int D>
__device__ __forceinline__ void load_rows(uint32_t dst, const __half* qkv, size_t ld, int first, int row0, int len,
                                          int col) {
  constexpr int kPer = D / 8;  // 16-byte pieces per row
#pragma unroll
  for (int i = 0; i < 64 * kPer / kThreads; ++i) {
    const int p = threadIdx.x + i * kThreads;
    const int r = p / kPer, c = (p % kPer) * 8;
    const bool in = row0 + r < len;
    const __half* src = in ? qkv + static_cast<size_t>(first + row0 + r) * ld + col + c : qkv;
    cp_async16(dst + r * Smem<D>::kLd + c * 2, src, in ? 16 : 0);
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads) attention_kernel(const __half* __restrict__ qkv,
                                                             const int32_t* __restrict__ cu_seqlens,
                                                   int hidden, float scale_log2, __half* __restrict__ ctx,
                                                   const AttentionExtras x) {
  using S = Smem<D>;
  const int seq = blockIdx.z, head = blockIdx.y, q0 = blockIdx.x * kQ;
  const int first = cu_seqlens[seq], len = cu_seqlens[seq + 1] - first;
  if (q0 >= len) return;
  // the key blocks this block of queries reads: all of them, or (a sliding window) those within the window of its rows
  int b_first = 0, b_end = (len + kKeys - 1) / kKeys;
  if (x.window > 0) {
    b_first = max(0, q0 - x.window) / kKeys;
    b_end = min(b_end, (min(len, q0 + kQ) - 1 + x.window) / kKeys + 1);
  }
  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t base = smem_addr(smem);
  const size_t ld = 3 * static_cast<size_t>(hidden);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;

  load_rows<D>(base + S::q, qkv, ld, first, q0, len, head * D);
  load_rows<D>(base + S::k, qkv, ld, first, b_first * kKeys, len, hidden + head * D);
  load_rows<D>(base + S::v, qkv, ld, first, b_first * kKeys, len, 2 * hidden + head * D);
  cp_async_commit();

  uint32_t qf[D / 16][4];   // this warp's 16 rows of Q as A fragments, one per 16 columns of D
  float o[D / 8][4] = {};   // O accumulators: 16 rows x D
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // rows g and g + 8: running max (log2 units), sum

  for (int b = b_first; b < b_end; ++b) {
    const int buf = (b - b_first) & 1;
    if (b + 1 < b_end) {  // the other buffer was last read in iteration b - 1, which every warp has left
      load_rows<D>(base + S::k + (buf ^ 1) * kKeys * S::kLd, qkv, ld, first, (b + 1) * kKeys, len, hidden + head * D);
      load_rows<D>(base + S::v + (buf ^ 1) * kKeys * S::kLd, qkv, ld, first, (b + 1) * kKeys, len,
                   2 * hidden + head * D);
    }
    cp_async_commit();
    cp_async_wait<1>();  // block b (and Q) landed
    __syncthreads();
    if (b == b_first) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        ldmatrix_x4(qf[kk], base + S::q + (warp * 16 + (lane & 15)) * S::kLd + kk * 32 + (lane >> 4) * 16);
    }
    const uint32_t kb = base + S::k + buf * kKeys * S::kLd, vb = base + S::v + buf * kKeys * S::kLd;

    // S = Q K^T: 16 rows x 64 keys as 8 accumulator tiles of 16x8
    float s[kKeys / 8][4] = {};
#pragma unroll
    for (int j = 0; j < kKeys / 16; ++j)
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t kf[4];  // keys 16j .. 16j + 15 as two n8 x k16 B fragments
        ldmatrix_x4(kf, kb + (16 * j + (lane & 7) + ((lane >> 4) << 3)) * S::kLd + kk * 32 + ((lane >> 3) & 1) * 16);
        mma_f16(s[2 * j], qf[kk], kf[0], kf[1]);
        mma_f16(s[2 * j + 1], qf[kk], kf[2], kf[3]);
      }

    // online softmax on the accumulators: s[j][0..1] belong to row g, s[j][2..3] to row g + 8, at keys
    // 64b + 8j + 2t (+1); the 4 lanes of a quad hold one row between them
    const int key0 = b * kKeys + 2 * t;
    float alpha[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float mx = -INFINITY;
      // MPNet: this row's bias by key offset, clamped to the table's span (the buckets are constant past it)
      const int row = q0 + warp * 16 + g + 8 * h;
      const int rel_span = x.rel_span;
      const float* rel = x.rel_bias ? x.rel_bias + static_cast<size_t>(head) * (2 * rel_span - 1) + rel_span - 1 : nullptr;
      // DeBERTa: this row's content-to-position terms and the index table at offset row - key (idx[-key]); rows past
      // the sequence (computed, never written) read none
      const __half* c2p = x.c2p && row < len ? x.c2p + (static_cast<size_t>(head) * x.tokens + first + row) * x.pos_r : nullptr;
      const __half* p2c = c2p ? x.p2c + static_cast<size_t>(head) * x.tokens * x.pos_r : nullptr;
      const int32_t* idx = c2p ? x.pos_index + (x.pos_len - 1) + row : nullptr;
#pragma unroll
      for (int j = 0; j < kKeys / 8; ++j)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int key = key0 + 8 * j + c;
          const bool valid = key < len && (x.window <= 0 || abs(key - row) <= x.window);
          float raw = s[j][2 * h + c];
          if (c2p && valid) {
            const int r = idx[-key];
            raw += __half2float(c2p[r]) + __half2float(p2c[static_cast<size_t>(first + key) * x.pos_r + r]);
          }
          const float bias = rel ? rel[min(max(key - row, 1 - rel_span), rel_span - 1)] * 1.4426950408889634f : 0.f;
          const float v = valid ? raw * scale_log2 + bias : -INFINITY;
          s[j][2 * h + c] = v;
          mx = fmaxf(mx, v);
        }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      // Without a window every row has a valid key in its first block (key 64 b_first). With one, a row may have none
      // yet: its max stays -inf, and it is rescaled by 0 and adds 0 until keys of its window arrive.
      const float m_new = fmaxf(m[h], mx);
      const float m_use = m_new == -INFINITY ? 0.f : m_new;
      alpha[h] = exp2f(m[h] - m_use);  // 0 on a row's first block with a valid key
      m[h] = m_new;
      float sum = 0.f;
#pragma unroll
      for (int j = 0; j < kKeys / 8; ++j)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const float p = exp2f(s[j][2 * h + c] - m_use);  // exactly 0 for a masked key
          s[j][2 * h + c] = p;
          sum += p;
        }
      l[h] = l[h] * alpha[h] + sum;  // this lane's part of the row sum; the quad's parts are added at the end
    }
#pragma unroll
    for (int dj = 0; dj < D / 8; ++dj) o[dj][0] *= alpha[0], o[dj][1] *= alpha[0], o[dj][2] *= alpha[1], o[dj][3] *= alpha[1];

    // O += P V: P's k16 steps are pairs of S tiles, packed to FP16 A fragments in place
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      const uint32_t pf[4] = {pack_half2(s[2 * kk][0], s[2 * kk][1]), pack_half2(s[2 * kk][2], s[2 * kk][3]),
                              pack_half2(s[2 * kk + 1][0], s[2 * kk + 1][1]), pack_half2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dj = 0; dj < D / 8; dj += 2) {
        uint32_t vf[4];  // keys 16kk .. 16kk + 15 x columns 8dj .. 8dj + 15, transposed into two B fragments
        ldmatrix_x4_trans(vf, vb + (16 * kk + (lane & 7) + ((lane >> 3) & 1) * 8) * S::kLd + (8 * dj + (lane >> 4) * 8) * 2);
        mma_f16(o[dj], pf, vf[0], vf[1]);
        mma_f16(o[dj + 1], pf, vf[2], vf[3]);
      }
    }
    __syncthreads();  // every warp is done with this buffer before the next iteration refills it
  }

#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
    const int row = q0 + warp * 16 + g + 8 * h;
    if (row >= len) continue;
    const float inv = 1.f / l[h];
    __half* out = ctx + static_cast<size_t>(first + row) * hidden + head * D + 2 * t;
#pragma unroll
    for (int dj = 0; dj < D / 8; ++dj)
      *reinterpret_cast<__half2*>(out + 8 * dj) = __floats2half2_rn(o[dj][2 * h] * inv, o[dj][2 * h + 1] * inv);
  }
}

template <int D>
std::string prepare() {
  BERTRT_CUDA_TRY(cudaFuncSetAttribute(attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, Smem<D>::bytes));
  return {};
}

template <int D>
std::string launch(const __half* qkv, const int32_t* cu, int n_seqs, int max_len, int heads, __half* ctx,
                   cudaStream_t stream, const AttentionExtras& x) {
  const float scale_log2 = x.scale > 0.f ? 1.4426950408889634f * x.scale : 1.4426950408889634f / sqrtf(static_cast<float>(D));
  dim3 grid((max_len + kQ - 1) / kQ, heads, n_seqs);
  attention_kernel<D><<<grid, kThreads, Smem<D>::bytes, stream>>>(qkv, cu, heads * D, scale_log2, ctx, x);
  return cuda_error(cudaGetLastError(), "attention kernel launch");
}

}  // namespace

bool attention_supports(int head_dim) { return head_dim == 32 || head_dim == 64 || head_dim == 128; }

std::string attention_prepare(int head_dim) {
  switch (head_dim) {
    case 32: return prepare<32>();
    case 64: return prepare<64>();
    case 128: return prepare<128>();
    default: return "attention: head size " + std::to_string(head_dim) + " is not supported (32, 64 or 128)";
  }
}

std::string attention(const __half* qkv, const int32_t* cu_seqlens, int n_seqs, int max_len, int heads, int head_dim,
                      __half* ctx, cudaStream_t stream, const AttentionExtras& x) {
  if (n_seqs <= 0 || max_len <= 0) return {};
  if (x.rel_bias && x.rel_span < 1) return "attention: a relative bias table needs a span";
  if (x.window < 0 || !(x.scale >= 0.f)) return "attention: the window and the scale must not be negative";
  if (x.c2p && (!x.p2c || !x.pos_index || x.pos_r <= 0 || x.tokens <= 0 || x.pos_len < max_len))
    return "attention: disentangled terms need p2c, an index table over every offset, pos_r and the token count";
  switch (head_dim) {
    case 32: return launch<32>(qkv, cu_seqlens, n_seqs, max_len, heads, ctx, stream, x);
    case 64: return launch<64>(qkv, cu_seqlens, n_seqs, max_len, heads, ctx, stream, x);
    case 128: return launch<128>(qkv, cu_seqlens, n_seqs, max_len, heads, ctx, stream, x);
    default: return "attention: head size " + std::to_string(head_dim) + " is not supported (32, 64 or 128)";
  }
}

namespace {
// One block per token; thread j of the block handles pair j of Q (j < heads * half) or of K (the rest).
__global__ void rope_kernel(__half* __restrict__ qkv, const int32_t* __restrict__ positions, int hidden, int head_dim,
                            const float* __restrict__ cos, const float* __restrict__ sin) {
  const int t = blockIdx.x, half = head_dim / 2, pairs = hidden / 2;  // per part: heads * half pairs
  const float* c = cos + static_cast<size_t>(positions[t]) * half;
  const float* s = sin + static_cast<size_t>(positions[t]) * half;
  __half* row = qkv + static_cast<size_t>(t) * 3 * hidden;
  for (int j = threadIdx.x; j < 2 * pairs; j += blockDim.x) {
    const int part = j / pairs, h = (j % pairs) / half, i = j % half;
    __half* v = row + part * hidden + h * head_dim;
    const float a = __half2float(v[i]), b = __half2float(v[i + half]);
    v[i] = __float2half_rn(a * c[i] - b * s[i]);
    v[i + half] = __float2half_rn(b * c[i] + a * s[i]);
  }
}
}  // namespace

void rope_rotate(__half* qkv, const int32_t* positions, int tokens, int heads, int head_dim, const float* cos,
                 const float* sin, cudaStream_t stream) {
  if (tokens <= 0) return;
  rope_kernel<<<tokens, 256, 0, stream>>>(qkv, positions, heads * head_dim, head_dim, cos, sin);
}

namespace {
// One block per token: Q and K of its row of qkv, each head's slice to row t of that head's [tokens][head_dim] matrix.
__global__ void split_heads_kernel(const __half* __restrict__ qkv, int tokens, int hidden, int head_dim, __half* __restrict__ q,
                                   __half* __restrict__ k) {
  const int t = blockIdx.x;
  const __half* row = qkv + static_cast<size_t>(t) * 3 * hidden;
  for (int j = threadIdx.x; j < 2 * hidden; j += blockDim.x) {
    const int part = j / hidden, c = j % hidden, h = c / head_dim, d = c % head_dim;
    (part == 0 ? q : k)[(static_cast<size_t>(h) * tokens + t) * head_dim + d] = row[j];
  }
}
}  // namespace

void split_heads(const __half* qkv, int tokens, int heads, int head_dim, __half* q, __half* k, cudaStream_t stream) {
  if (tokens <= 0) return;
  split_heads_kernel<<<tokens, 256, 0, stream>>>(qkv, tokens, heads * head_dim, head_dim, q, k);
}

}  // namespace bertrt_cuda
