// libbertrt_cuda.so: the BERT encoder on an NVIDIA GPU behind the C interface of bertrt_cuda.h. One forward pass
// is one stream of kernels with no device-to-host synchronization until the hidden states are copied back:
//   embedding + LayerNorm -> per layer: QKV GEMM (bias fused) [-> RoPE on Q and K] [-> DeBERTa: Q and K head-major,
//   two GEMMs per head against the projected relative embeddings] -> fused varlen attention (with MPNet's relative
//   bias, DeBERTa's disentangled terms, or ModernBERT's sliding window) ->
//   output GEMM (bias and residual fused) -> LayerNorm [-> gated FFNs: up GEMM] -> FFN-in GEMM (bias and GELU or SiLU
//   fused; gated: times the up projection) -> FFN-out GEMM (bias and residual fused) -> LayerNorm.
// ModernBERT's pre-norm layer runs the same kernels in its order: LayerNorm -> QKV -> RoPE -> attention -> output GEMM
// (+ residual) -> LayerNorm -> up, FFN-in (GELU, times up) -> FFN-out (+ residual), and a final LayerNorm.
// FP16 mode: GEMM inputs FP16. INT8 mode: weights s8 per output channel, activations s8 per token; the LayerNorms
// quantize their output for the next GEMM in the same pass, and the attention and GELU outputs are quantized by a
// row kernel. FP8 mode (cuBLASLt only, compute capability 8.9+): the same with E4M3 values and scales max|x| / 448.
// INT8 and FP8 on cuBLASLt: the product into acc_, then one row-wise kernel that applies the scales and finishes the
// step — the FFN's activation quantized for the next GEMM, a residual block's sum normalized by its LayerNorm (with
// the next GEMM's input) — with the bits of the separate kernels (cublaslt.cuh).
// The residual stream, LayerNorm, softmax and GELU are FP32 in every mode.
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>
#include <string>
#include <vector>

#include "../core/quantize.h"
#include "attention.cuh"
#include "bertrt_cuda.h"
#include "common.cuh"
#include "cublaslt.cuh"
#include "gemm.cuh"
#include "norm.cuh"

namespace bertrt_cuda {
namespace {

void set_message(char* buf, size_t n, const std::string& msg) {
  if (!buf || n == 0) return;
  const size_t len = std::min(n - 1, msg.size());
  std::memcpy(buf, msg.data(), len);
  buf[len] = '\0';
}

// An allocation that frees itself, on the device or (Pinned) in page-locked host memory, which copies captured in a
// CUDA graph need. It grows, never shrinks, and does not keep its contents when it grows.
template <typename T, bool Pinned = false>
struct Buffer {
  T* ptr = nullptr;
  size_t count = 0;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : ptr(o.ptr), count(o.count) { o.ptr = nullptr, o.count = 0; }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) release(), ptr = o.ptr, count = o.count, o.ptr = nullptr, o.count = 0;
    return *this;
  }
  ~Buffer() { release(); }
  void release() {
    if (ptr) Pinned ? cudaFreeHost(ptr) : cudaFree(ptr);
    ptr = nullptr;
    count = 0;
  }
  std::string reserve(size_t n) {
    if (n <= count) return {};
    release();
    const size_t bytes = std::max<size_t>(n, 1) * sizeof(T);
    BERTRT_CUDA_TRY(Pinned ? cudaMallocHost(reinterpret_cast<void**>(&ptr), bytes) : cudaMalloc(reinterpret_cast<void**>(&ptr), bytes));
    count = n;
    return {};
  }
  std::string reserve(size_t n, size_t& generation) {  // as reserve(n), counting moves (captured graphs hold pointers)
    if (n > count) ++generation;
    return reserve(n);
  }
  std::string upload(const T* host, size_t n) {
    std::string e = reserve(n);
    if (!e.empty()) return e;
    BERTRT_CUDA_TRY(cudaMemcpy(ptr, host, n * sizeof(T), Pinned ? cudaMemcpyHostToHost : cudaMemcpyHostToDevice));
    return {};
  }
};
template <typename T>
using DeviceBuffer = Buffer<T, false>;
template <typename T>
using PinnedBuffer = Buffer<T, true>;

// One linear layer on the device: FP16 weights, or s8 / E4M3 weights with one scale per output channel.
struct Linear {
  int n = 0, k = 0;
  DeviceBuffer<__half> w16;
  DeviceBuffer<int8_t> w8;
  DeviceBuffer<__nv_fp8_e4m3> wf8;
  DeviceBuffer<float> w_scale;
  DeviceBuffer<float> bias;
  DeviceBuffer<__half> bias16;  // cuBLASLt's FP16-output GEMMs take the bias in D's type

  // rows: the weight matrices stacked along the output dimension (QKV is three [H][H] matrices).
  std::string upload(const std::vector<const float*>& w_parts, const std::vector<const float*>& b_parts, int part_n,
                     int k_, int precision) {
    n = part_n * static_cast<int>(w_parts.size());
    k = k_;
    std::vector<float> b(static_cast<size_t>(n));
    for (size_t p = 0; p < b_parts.size(); ++p) std::memcpy(&b[p * part_n], b_parts[p], sizeof(float) * part_n);
    std::string e = bias.upload(b.data(), b.size());
    if (!e.empty()) return e;
    const size_t total = static_cast<size_t>(n) * k;
    if (precision == BERTRT_CUDA_FP16) {
      std::vector<__half> b16(b.size());
      for (size_t i = 0; i < b.size(); ++i) b16[i] = __float2half_rn(b[i]);
      e = bias16.upload(b16.data(), b16.size());
      if (!e.empty()) return e;
      std::vector<__half> h(total);
      for (size_t p = 0; p < w_parts.size(); ++p)
        for (size_t i = 0; i < static_cast<size_t>(part_n) * k; ++i) h[p * part_n * k + i] = __float2half_rn(w_parts[p][i]);
      return w16.upload(h.data(), total);
    }
    std::vector<float> s(static_cast<size_t>(n));
    if (precision == BERTRT_CUDA_FP8) {
      std::vector<__nv_fp8_e4m3> q(total);
      for (size_t p = 0; p < w_parts.size(); ++p)
        quantize_weight_rows_fp8(w_parts[p], part_n, k, q.data() + p * part_n * k, s.data() + p * part_n);
      e = wf8.upload(q.data(), total);
    } else {
      std::vector<int8_t> q(total);
      // the CPU engine's quantization (core/quantize.h): both engines multiply the same integers
      for (size_t p = 0; p < w_parts.size(); ++p)
        bertrt::quantize_weight_rows(w_parts[p], part_n, k, q.data() + p * part_n * k, s.data() + p * part_n);
      e = w8.upload(q.data(), total);
    }
    if (!e.empty()) return e;
    return w_scale.upload(s.data(), s.size());
  }
};

struct Layer {
  Linear qkv, out, ffn_in, ffn_out;
  Linear ffn_up;  // gated FFNs: the second input projection
  DeviceBuffer<float> ln1_g, ln1_b, ln2_g, ln2_b;  // (ModernBERT's layer 0: no ln1)
  DeviceBuffer<__half> pq16, pk16;                 // DeBERTa: [heads][2 span][head_dim] each
};

// A [rows][H] host matrix as FP16 [heads][rows][head_dim]: each head's columns one contiguous GEMM operand.
std::vector<__half> head_major(const float* m, int rows, int heads, int head_dim) {
  const int H = heads * head_dim;
  std::vector<__half> out(static_cast<size_t>(rows) * H);
  for (int h = 0; h < heads; ++h)
    for (int r = 0; r < rows; ++r)
      for (int d = 0; d < head_dim; ++d)
        out[(static_cast<size_t>(h) * rows + r) * head_dim + d] = __float2half_rn(m[static_cast<size_t>(r) * H + h * head_dim + d]);
  return out;
}

class Model {
 public:
  std::string create(const bertrt_cuda_config& c, const bertrt_cuda_embeddings& emb, const bertrt_cuda_layer* layers,
                     int precision, int device) {
    cfg_ = c;
    precision_ = precision;
    int8_ = precision == BERTRT_CUDA_INT8;
    fp8_ = precision == BERTRT_CUDA_FP8;
    device_ = device;
    const int H = c.hidden_size, I = c.intermediate_size;
    if (H <= 0 || I <= 0 || c.num_heads <= 0 || H % c.num_heads != 0) return "invalid config";
    if (!attention_supports(H / c.num_heads))
      return "head size " + std::to_string(H / c.num_heads) + " is not supported by the CUDA attention kernel (32, 64 or 128)";
    if (H % 16 != 0 || I % 16 != 0) return "hidden and intermediate sizes must be multiples of 16 on CUDA";
    if (c.padding_idx < -1 || c.padding_idx > c.max_positions - 2) return "padding_idx must leave room in the position table";
    if (c.rotary && (c.padding_idx >= 0 || (H / c.num_heads) % 2 != 0 || !(c.rope_theta > 1.f) || !(c.rope_ntk >= 1.f)))
      return "rotary positions need BERT's position ids, an even head size, rope_theta > 1 and rope_ntk >= 1";
    if (c.activation != BERTRT_CUDA_GELU && c.activation != BERTRT_CUDA_SILU && c.activation != BERTRT_CUDA_GELU_TANH)
      return "unknown FFN activation";
    if (c.embedding_size < 0 || c.embedding_size > H || c.embedding_size % 16 != 0 || (c.embedding_size > 0 && (!emb.proj_w || !emb.proj_b)))
      return "factorized embeddings need a width in [16, hidden_size], a multiple of 16, and their projection";
    if (c.layer_groups < 0 || c.layer_groups > c.num_layers || (c.layer_groups > 0 && c.num_layers % c.layer_groups != 0))
      return "layer_groups must divide num_layers";
    if (c.modern && (c.embedding_size > 0 || c.layer_groups > 0)) return "ModernBERT has neither factorized embeddings nor shared layers";
    if (c.modern && (!c.rotary || !c.gated || c.global_every < 1 || c.local_window < 1 || !(c.rope_theta_local > 1.f) ||
                     !emb.final_g || !emb.final_b || c.disentangled_span != 0 || emb.rel_bias))
      return "ModernBERT needs rotary, gated, global_every >= 1, local_window >= 1, rope_theta_local > 1 and a final norm";
    if (c.disentangled_span != 0) {
      if (c.disentangled_span < 1 || c.disentangled_span > 4096 || !emb.pos_index || c.rotary || emb.rel_bias)
        return "disentangled attention needs a span in [1, 4096] and its index table, and no other position scheme";
      for (int d = 0; d < 2 * c.max_positions - 1; ++d)
        if (emb.pos_index[d] < 0 || emb.pos_index[d] >= 2 * c.disentangled_span)
          return "disentangled attention: index " + std::to_string(emb.pos_index[d]) + " is outside the relative embeddings";
    }
    BERTRT_CUDA_TRY(cudaSetDevice(device));
    BERTRT_CUDA_TRY(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    const char* graphs = std::getenv("BERTRT_CUDA_GRAPHS");
    graphs_enabled_ = !(graphs && std::string(graphs) == "0");
    // kernel attributes are set here, never while a graph is being captured
    std::string prepared = attention_prepare(H / c.num_heads);
    if (prepared.empty()) prepared = gemm_prepare();
    if (!prepared.empty()) return prepared;
    // FP16 GEMMs on cuBLASLt where it loads, unless BERTRT_CUBLASLT=0 or BERTRT_CUDA_GEMM forces one of the own
    // kernels (both read at each model's creation)
    const char* forced = std::getenv("BERTRT_CUDA_GEMM");
    const char* lt_env = std::getenv("BERTRT_CUBLASLT");
    const bool own = (forced && *forced && std::string(forced) != "cublaslt") || (lt_env && std::string(lt_env) == "0");
    const std::string kind = fp8_ ? "FP8 GEMMs: " : int8_ ? "INT8 GEMMs: " : "FP16 GEMMs: ";
    const std::string own_kernels = int8_ ? "own IMMA kernels" : "own mma.sync kernels";
    const std::string why_own = own ? (lt_env && std::string(lt_env) == "0" ? "BERTRT_CUBLASLT=0" : std::string("BERTRT_CUDA_GEMM=") + forced)
                                    : cublaslt_status();
    if (!why_own.empty()) {
      if (fp8_) return "precision 'fp8' runs on cuBLASLt only, which is not in use: " + why_own;
      gemm_note_ = kind + own_kernels + " (" + why_own + ")";
    } else {
      lt_ = true;
      gemm_note_ = kind + cublaslt_description() + (fp8_ || int8_ ? ", then the scale epilogue" : "");
      if (std::string err = lt_workspace_.reserve(kLtWorkspace); !err.empty()) return err;
    }
    if (fp8_) {
      cudaDeviceProp p{};
      BERTRT_CUDA_TRY(cudaGetDeviceProperties(&p, device));
      if (p.major * 10 + p.minor < 89)
        return "precision 'fp8' needs compute capability 8.9 or newer (Ada, Hopper); this GPU has " +
               std::to_string(p.major) + "." + std::to_string(p.minor);
      if (!lt_f8_supported(3 * H, H, kLtWorkspace) || !lt_f8_supported(I, H, kLtWorkspace) || !lt_f8_supported(H, I, kLtWorkspace))
        return "precision 'fp8': " + cublaslt_description() + " has no FP8 algorithm for this model's shapes on this GPU";
    }
    std::string e;
    auto up = [&](DeviceBuffer<float>& d, const float* h, size_t n) {
      if (e.empty()) e = d.upload(h, n);
    };
    const int E = c.embedding_size > 0 ? c.embedding_size : H;  // the embedding tables' width
    up(word_, emb.word, static_cast<size_t>(c.vocab_size) * E);
    // cos and sin of position * inv_freq_i in FP32, as the CPU engine's tables (Encoder::rope_table)
    auto rope_table = [&](float theta, float ntk, DeviceBuffer<float>& cos_out, DeviceBuffer<float>& sin_out) {
      const int half = H / c.num_heads / 2;
      std::vector<float> cs(static_cast<size_t>(c.max_positions) * half), sn(cs.size());
      const float base = theta * ntk, shrink = ntk == 1.f ? 1.f : std::pow(ntk, 2.f / static_cast<float>(2 * half));
      for (int i = 0; i < half; ++i) {
        float inv = 1.f / std::pow(base, static_cast<float>(2 * i) / static_cast<float>(2 * half));
        if (shrink != 1.f) inv /= shrink;
        for (int p = 0; p < c.max_positions; ++p) {
          cs[static_cast<size_t>(p) * half + i] = std::cos(static_cast<float>(p) * inv);
          sn[static_cast<size_t>(p) * half + i] = std::sin(static_cast<float>(p) * inv);
        }
      }
      up(cos_out, cs.data(), cs.size());
      up(sin_out, sn.data(), sn.size());
    };
    if (c.rotary) {
      rope_table(c.rope_theta, c.rope_ntk, rope_cos_, rope_sin_);
      if (c.modern) rope_table(c.rope_theta_local, 1.f, rope_cos_local_, rope_sin_local_);
    } else if (emb.pos) {  // (DeBERTa-v3: no absolute positions)
      up(pos_, emb.pos, static_cast<size_t>(c.max_positions) * E);
    }
    if (c.type_vocab_size > 0) up(type_, emb.type, static_cast<size_t>(c.type_vocab_size) * E);
    if (emb.rel_bias) {
      if (c.rel_span < 1 || c.rel_span > (1 << 20)) return "rel_span out of range";
      up(rel_, emb.rel_bias, static_cast<size_t>(c.num_heads) * (2 * static_cast<size_t>(c.rel_span) - 1));
    }
    up(emb_g_, emb.ln_g, E);
    up(emb_b_, emb.ln_b, E);
    if (c.embedding_size > 0 && e.empty()) e = proj_.upload({emb.proj_w}, {emb.proj_b}, H, E, precision_);
    if (c.modern) up(final_g_, emb.final_g, H), up(final_b_, emb.final_b, H);
    if (c.disentangled_span > 0 && e.empty()) e = pos_index_.upload(emb.pos_index, 2 * static_cast<size_t>(c.max_positions) - 1);
    layers_.resize(c.layer_groups > 0 ? c.layer_groups : c.num_layers);  // (ALBERT: one per group)
    for (int l = 0; l < static_cast<int>(layers_.size()) && e.empty(); ++l) {
      const bertrt_cuda_layer& s = layers[l];
      Layer& L = layers_[l];
      if (c.disentangled_span > 0) {
        if (!s.pq || !s.pk) return "disentangled attention needs each layer's pq and pk";
        const int R = 2 * c.disentangled_span, dh = H / c.num_heads;
        const std::vector<__half> pq = head_major(s.pq, R, c.num_heads, dh), pk = head_major(s.pk, R, c.num_heads, dh);
        e = L.pq16.upload(pq.data(), pq.size());
        if (e.empty()) e = L.pk16.upload(pk.data(), pk.size());
        if (!e.empty()) break;
      }
      e = L.qkv.upload({s.q_w, s.k_w, s.v_w}, {s.q_b, s.k_b, s.v_b}, H, H, precision_);
      if (e.empty()) e = L.out.upload({s.o_w}, {s.o_b}, H, H, precision_);
      if (e.empty()) e = L.ffn_in.upload({s.i_w}, {s.i_b}, I, H, precision_);
      if (e.empty() && c.gated) e = s.u_w && s.u_b ? L.ffn_up.upload({s.u_w}, {s.u_b}, I, H, precision_) : "a gated FFN needs u_w and u_b";
      if (e.empty()) e = L.ffn_out.upload({s.f_w}, {s.f_b}, H, I, precision_);
      if (c.modern && l == 0) {
        if (s.ln1_g || s.ln1_b) return "ModernBERT's layer 0 has no attention LayerNorm";
      } else {
        if (!s.ln1_g || !s.ln1_b) return "layer " + std::to_string(l) + " lacks its first LayerNorm";
        up(L.ln1_g, s.ln1_g, H);
        up(L.ln1_b, s.ln1_b, H);
      }
      up(L.ln2_g, s.ln2_g, H);
      up(L.ln2_b, s.ln2_b, H);
    }
    return e;
  }

  ~Model() {
    drop_graphs();
    if (stream_) cudaStreamDestroy(stream_);
  }

  // Checks every size and index that came from the caller, before anything reaches the device: BERTRT_CUDA_OK,
  // or EINPUT / ETOOLONG with the reason in *err; *max_len is the longest sequence.
  int check(const int32_t* ids, const int32_t* type_ids, const int32_t* cu, int n_seqs, int tokens, int* max_len,
            std::string* err) const {
    auto bad = [&](int code, std::string msg) {
      *err = "batch: " + std::move(msg);
      return code;
    };
    if (n_seqs < 0 || tokens < 0 || !cu) return bad(BERTRT_CUDA_EINPUT, "missing lengths");
    if (n_seqs > 65535) return bad(BERTRT_CUDA_EINPUT, "at most 65535 sequences per call on CUDA");
    if (cu[0] != 0 || cu[n_seqs] != tokens) return bad(BERTRT_CUDA_EINPUT, "cuSeqlens must start at 0 and end at the token count");
    *max_len = 0;
    for (int s = 0; s < n_seqs; ++s) {
      const int len = cu[s + 1] - cu[s];
      if (len < 0) return bad(BERTRT_CUDA_EINPUT, "cuSeqlens must not decrease");
      *max_len = std::max(*max_len, len);
    }
    if (tokens > 0 && !ids) return bad(BERTRT_CUDA_EINPUT, "missing ids");
    // every position a sequence takes (see position_ids) must be inside the table
    for (int s = 0; s < n_seqs; ++s) {
      int next = cfg_.padding_idx + 1;  // (0 without padding_idx)
      for (int i = cu[s]; i < cu[s + 1]; ++i) next += cfg_.padding_idx < 0 || ids[i] != cfg_.padding_idx;
      if (next > cfg_.max_positions) return bad(BERTRT_CUDA_ETOOLONG, "a sequence is longer than max_position_embeddings allows");
    }
    for (int t = 0; t < tokens; ++t) {
      if (ids[t] < 0 || ids[t] >= cfg_.vocab_size) return bad(BERTRT_CUDA_EINPUT, "token id " + std::to_string(ids[t]) + " out of range");
      if (type_ids && (type_ids[t] < 0 || type_ids[t] >= std::max(1, cfg_.type_vocab_size)))
        return bad(BERTRT_CUDA_EINPUT, "token type id " + std::to_string(type_ids[t]) + " out of range");
    }
    return BERTRT_CUDA_OK;
  }

  // A checked batch on the device; an error message (a device failure) or empty.
  std::string forward(const int32_t* ids, const int32_t* type_ids, const int32_t* cu, int n_seqs, int tokens, int max_len,
                      float* out) {
    std::lock_guard<std::mutex> lock(mu_);
    const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
    if (tokens == 0) return {};
    BERTRT_CUDA_TRY(cudaSetDevice(device_));
    const size_t T = static_cast<size_t>(tokens);
    const size_t span = static_cast<size_t>(cfg_.disentangled_span);
    // inputs staged in pinned memory as [ids | types | positions | cu_seqlens], one copy to the device
    const size_t n_in = 3 * T + n_seqs + 1;
    const size_t before = generation_;
    for (auto r : {stage_.reserve(n_in, generation_), d_in_.reserve(n_in, generation_), x32_.reserve(T * H, generation_),
                   y32_.reserve(T * H, generation_), qkv16_.reserve(T * 3 * H, generation_),
                   ctx16_.reserve(T * H, generation_), x16_.reserve(T * H, generation_), inter16_.reserve(T * I, generation_),
                   up16_.reserve(cfg_.gated ? T * I : 1, generation_),
                   q8_.reserve(int8_ ? T * std::max(H, I) : 1, generation_), f8_.reserve(fp8_ ? T * std::max(H, I) : 1, generation_),
                   acc_.reserve(lt_ && (int8_ || fp8_) ? T * std::max(3 * H, I) : 1, generation_), qs_.reserve(T, generation_),
                   n32_.reserve(cfg_.modern ? T * H : 1, generation_), qh16_.reserve(span ? T * H : 1, generation_),
                   kh16_.reserve(span ? T * H : 1, generation_), c2p16_.reserve(span ? T * 2 * span * cfg_.num_heads : 1, generation_),
                   p2c16_.reserve(span ? T * 2 * span * cfg_.num_heads : 1, generation_)}) {
      if (!r.empty()) return r;
    }
    if (generation_ != before) drop_graphs();  // captured graphs point at the old buffers
    int32_t* in = stage_.ptr;
    std::memcpy(in, ids, T * 4);
    if (type_ids) std::memcpy(in + T, type_ids, T * 4);
    position_ids(ids, cu, n_seqs, in + 2 * T);
    std::memcpy(in + 3 * T, cu, (n_seqs + 1) * 4);

    // Shapes that repeat run as a CUDA graph (captured the second time a shape is seen): one launch instead of
    // ~7 per layer, which is most of the time of a short batch. BERTRT_CUDA_GRAPHS=0 turns this off.
    const Key key{tokens, n_seqs, max_len, type_ids != nullptr};
    if (graphs_.size() >= 256 && !graphs_.count(key)) drop_graphs();  // many distinct shapes: start over, not grow
    Graph& g = graphs_[key];
    if (graphs_enabled_ && !g.exec && ++g.seen >= 2) {
      BERTRT_CUDA_TRY(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      std::string e = enqueue(key);
      cudaGraph_t graph = nullptr;
      const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
      if (e.empty()) e = cuda_error(end, "cudaStreamEndCapture");
      if (e.empty()) e = cuda_error(cudaGraphInstantiate(&g.exec, graph, 0), "cudaGraphInstantiate");
      if (graph) cudaGraphDestroy(graph);
      if (!e.empty()) {
        g.exec = nullptr;
        return e;
      }
    }
    if (g.exec) {
      BERTRT_CUDA_TRY(cudaGraphLaunch(g.exec, stream_));
    } else {
      std::string e = enqueue(key);
      if (!e.empty()) return e;
    }
    return finish(key, out);
  }

 private:
  // Each token's position: 0, 1, ... per sequence (BERT), or from padding_idx + 1 with pad tokens at padding_idx
  // (RoBERTa), as the CPU engine computes them.
  void position_ids(const int32_t* ids, const int32_t* cu, int n_seqs, int32_t* pos) const {
    const int pad = cfg_.padding_idx;
    for (int s = 0; s < n_seqs; ++s) {
      int32_t next = pad + 1;  // (0 without padding_idx)
      for (int i = cu[s]; i < cu[s + 1]; ++i) pos[i] = pad >= 0 && ids[i] == pad ? pad : next++;
    }
  }

  struct Key {
    int tokens, n_seqs, max_len;
    bool types;
    bool operator<(const Key& o) const {
      return std::tie(tokens, n_seqs, max_len, types) < std::tie(o.tokens, o.n_seqs, o.max_len, o.types);
    }
  };
  struct Graph {
    int seen = 0;
    cudaGraphExec_t exec = nullptr;
  };

  // Copies the hidden states back (when asked) and waits for the stream: the only synchronization of a batch.
  std::string finish(const Key& key, float* out) {
    if (out)
      BERTRT_CUDA_TRY(cudaMemcpyAsync(out, cfg_.modern ? y32_.ptr : x32_.ptr, static_cast<size_t>(key.tokens) * cfg_.hidden_size * sizeof(float),
                                      cudaMemcpyDeviceToHost, stream_));
    BERTRT_CUDA_TRY(cudaStreamSynchronize(stream_));
    BERTRT_CUDA_TRY(cudaGetLastError());
    return {};
  }

  void drop_graphs() {
    for (auto& [k, g] : graphs_)
      if (g.exec) cudaGraphExecDestroy(g.exec);
    graphs_.clear();
  }

  // The whole encoder on stream_, from the staged inputs to x32_ (ModernBERT: y32_): no host synchronization, no
  // allocation, so that it can be captured as a graph.
  std::string enqueue(const Key& key) {
    const int H = cfg_.hidden_size, heads = cfg_.num_heads, tokens = key.tokens;
    const size_t T = static_cast<size_t>(tokens);
    const size_t n_in = 3 * T + key.n_seqs + 1;
    BERTRT_CUDA_TRY(cudaMemcpyAsync(d_in_.ptr, stage_.ptr, n_in * 4, cudaMemcpyHostToDevice, stream_));
    const int32_t* d_ids = d_in_.ptr;
    const int32_t* d_types = key.types ? d_in_.ptr + T : nullptr;
    const int32_t* d_pos = d_in_.ptr + 2 * T;
    const int32_t* d_cu = d_in_.ptr + 3 * T;
    // the next GEMM's input: FP16 in x16_, or INT8 in q8_ / FP8 in f8_ with per-row scales in qs_
    RowOut norm_out = gemm_input();
    norm_out.x32 = x32_.ptr;
    const int E = cfg_.embedding_size > 0 ? cfg_.embedding_size : H;
    embed_layernorm(d_ids, d_types, d_pos, tokens, E, word_.ptr, pos_.count ? pos_.ptr : nullptr, cfg_.type_vocab_size > 0 ? type_.ptr : nullptr,
                    emb_g_.ptr, emb_b_.ptr, cfg_.layer_norm_eps, norm_out, stream_);
    if (cfg_.modern) return modern_layers(key, d_pos, d_cu);
    // factorized embeddings: the LayerNorm's E-wide output (x16_ / q8_) projected to the hidden stream x32_, and to FP16
    // in ctx16_ for the first QKV GEMM (free until the first attention writes it)
    const __half* first_in = nullptr;
    if (cfg_.embedding_size > 0) {
      Epilogue pe;
      pe.bias = proj_.bias.ptr, pe.c32 = x32_.ptr, pe.c16 = ctx16_.ptr;
      if (!linear(proj_, tokens, pe)) return "embedding projection GEMM: unsupported shape";
      first_in = ctx16_.ptr;
    }
    AttentionExtras extras;
    if (rel_.count) extras.rel_bias = rel_.ptr, extras.rel_span = cfg_.rel_span;
    const int span = cfg_.disentangled_span, dh = H / heads;
    if (span > 0) {
      extras.c2p = c2p16_.ptr, extras.p2c = p2c16_.ptr, extras.pos_r = 2 * span, extras.tokens = tokens;
      extras.pos_index = pos_index_.ptr, extras.pos_len = cfg_.max_positions;
      extras.scale = 1.f / std::sqrt(static_cast<float>(dh) * 3.f);
    }
    for (int l = 0; l < cfg_.num_layers; ++l) {
      const Layer& L = layers_[cfg_.layer_groups > 0 ? l * cfg_.layer_groups / cfg_.num_layers : l];  // (ALBERT's groups)
      Epilogue qkv_e;
      qkv_e.bias = L.qkv.bias.ptr, qkv_e.c16 = qkv16_.ptr;
      if (!linear(L.qkv, tokens, qkv_e, l == 0 ? first_in : nullptr)) return "QKV GEMM: unsupported shape";
      if (cfg_.rotary) rope_rotate(qkv16_.ptr, d_pos, tokens, heads, H / heads, rope_cos_.ptr, rope_sin_.ptr, stream_);
      if (span > 0 && !disentangled_terms(L, tokens)) return "disentangled terms: unsupported shape";
      std::string e = attention(qkv16_.ptr, d_cu, key.n_seqs, key.max_len, heads, H / heads, ctx16_.ptr, stream_, extras);
      if (!e.empty()) return e;
      if (!linear_residual_layernorm(L.out, tokens, ctx16_.ptr, L.ln1_g.ptr, L.ln1_b.ptr, norm_out))
        return "attention output GEMM: unsupported shape";
      if (cfg_.gated) {  // the second projection first: the activated one's epilogue multiplies by it
        Epilogue up_e;
        up_e.bias = L.ffn_up.bias.ptr, up_e.c16 = up16_.ptr;
        if (!linear(L.ffn_up, tokens, up_e)) return "FFN up GEMM: unsupported shape";
      }
      Epilogue in_e;  // activation output [T][I] (gated: times the up projection), FP16
      in_e.bias = L.ffn_in.bias.ptr, in_e.c16 = inter16_.ptr;
      in_e.gelu = cfg_.activation == BERTRT_CUDA_GELU, in_e.silu = cfg_.activation == BERTRT_CUDA_SILU;
      in_e.gelu_tanh = cfg_.activation == BERTRT_CUDA_GELU_TANH;
      if (cfg_.gated) in_e.mul16 = up16_.ptr;
      const __half* inter = nullptr;
      if (!linear_activation(L.ffn_in, tokens, in_e, &inter)) return "FFN-in GEMM: unsupported shape";
      if (!linear_residual_layernorm(L.ffn_out, tokens, inter, L.ln2_g.ptr, L.ln2_b.ptr, norm_out))
        return "FFN-out GEMM: unsupported shape";
    }
    return cuda_error(cudaGetLastError(), "encoder kernel launch");
  }

  // DeBERTa: c2p[h] = Q_h . pk_h^T and p2c[h] = K_h . pq_h^T, [tokens][2 span] per head, FP16 GEMMs in both modes (the
  // attention reads FP16 Q and K either way).
  bool disentangled_terms(const Layer& L, int tokens) {
    const int heads = cfg_.num_heads, dh = cfg_.hidden_size / heads, R = 2 * cfg_.disentangled_span;
    const size_t T = static_cast<size_t>(tokens);
    split_heads(qkv16_.ptr, tokens, heads, dh, qh16_.ptr, kh16_.ptr, stream_);
    for (int h = 0; h < heads; ++h) {
      Epilogue c2p, p2c;
      c2p.c16 = c2p16_.ptr + h * T * R, p2c.c16 = p2c16_.ptr + h * T * R;
      if (!gemm_f16(qh16_.ptr + h * T * dh, L.pk16.ptr + static_cast<size_t>(h) * R * dh, tokens, R, dh, c2p, stream_) ||
          !gemm_f16(kh16_.ptr + h * T * dh, L.pq16.ptr + static_cast<size_t>(h) * R * dh, tokens, R, dh, p2c, stream_))
        return false;
    }
    return true;
  }

  // ModernBERT's layers from the embeddings' output (x32_, and x16_ / q8_ for layer 0's QKV GEMM) to y32_: the residual
  // stream in x32_, each block's LayerNorm into n32_ (and the next GEMM's input), the attention block's sum in y32_.
  std::string modern_layers(const Key& key, const int32_t* d_pos, const int32_t* d_cu) {
    const int H = cfg_.hidden_size, heads = cfg_.num_heads, tokens = key.tokens;
    RowOut pre = gemm_input();  // a block's LayerNorm: n32_ and the GEMM input, never the residual stream
    pre.x32 = n32_.ptr;
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      const bool global = l % cfg_.global_every == 0;
      if (l > 0) layernorm(x32_.ptr, tokens, H, L.ln1_g.ptr, L.ln1_b.ptr, cfg_.layer_norm_eps, pre, stream_);
      Epilogue qkv_e;
      qkv_e.bias = L.qkv.bias.ptr, qkv_e.c16 = qkv16_.ptr;
      if (!linear(L.qkv, tokens, qkv_e)) return "QKV GEMM: unsupported shape";
      rope_rotate(qkv16_.ptr, d_pos, tokens, heads, H / heads, global ? rope_cos_.ptr : rope_cos_local_.ptr,
                  global ? rope_sin_.ptr : rope_sin_local_.ptr, stream_);
      AttentionExtras extras;
      extras.window = global ? 0 : cfg_.local_window;
      std::string e = attention(qkv16_.ptr, d_cu, key.n_seqs, key.max_len, heads, H / heads, ctx16_.ptr, stream_, extras);
      if (!e.empty()) return e;
      Epilogue out_e;  // y = x + Wo(attention)
      out_e.bias = L.out.bias.ptr, out_e.residual = x32_.ptr, out_e.c32 = y32_.ptr;
      if (!linear(L.out, tokens, out_e, ctx16_.ptr)) return "attention output GEMM: unsupported shape";
      layernorm(y32_.ptr, tokens, H, L.ln2_g.ptr, L.ln2_b.ptr, cfg_.layer_norm_eps, pre, stream_);
      Epilogue up_e;  // GeGLU: gelu(Wi_input(h)) * Wi_gate(h)
      up_e.bias = L.ffn_up.bias.ptr, up_e.c16 = up16_.ptr;
      if (!linear(L.ffn_up, tokens, up_e)) return "FFN gate GEMM: unsupported shape";
      Epilogue in_e;
      in_e.bias = L.ffn_in.bias.ptr, in_e.c16 = inter16_.ptr, in_e.mul16 = up16_.ptr;
      in_e.gelu = cfg_.activation == BERTRT_CUDA_GELU, in_e.gelu_tanh = cfg_.activation == BERTRT_CUDA_GELU_TANH;
      const __half* inter = nullptr;
      if (!linear_activation(L.ffn_in, tokens, in_e, &inter)) return "FFN-in GEMM: unsupported shape";
      Epilogue ffo_e;  // x = y + Wo(mlp)
      ffo_e.bias = L.ffn_out.bias.ptr, ffo_e.residual = y32_.ptr, ffo_e.c32 = x32_.ptr;
      if (!linear(L.ffn_out, tokens, ffo_e, inter)) return "FFN-out GEMM: unsupported shape";
    }
    RowOut final_out;
    final_out.x32 = y32_.ptr;
    layernorm(x32_.ptr, tokens, H, final_g_.ptr, final_b_.ptr, cfg_.layer_norm_eps, final_out, stream_);
    return cuda_error(cudaGetLastError(), "encoder kernel launch");
  }

  // Where a LayerNorm leaves the next GEMM's input in this mode.
  RowOut gemm_input() {
    RowOut r;
    if (int8_) r.q8 = q8_.ptr, r.q_scale = qs_.ptr;
    else if (fp8_) r.f8 = f8_.ptr, r.q_scale = qs_.ptr;
    else r.x16 = x16_.ptr;
    return r;
  }

  // y = x . W^T with e's epilogue. x: the FP16 input `a16` (FP16 mode; default x16_), or in INT8 / FP8 mode q8_ / f8_
  // as quantized by the last LayerNorm, unless `a16` is given, which is quantized per row first.
  bool linear(const Linear& w, int m, const Epilogue& e, const __half* a16 = nullptr) {
    if (lt_product(w, m, a16)) {
      if (int8_) scale_epilogue(reinterpret_cast<const int32_t*>(acc_.ptr), m, w.n, qs_.ptr, w.w_scale.ptr, e, stream_);
      else scale_epilogue(acc_.ptr, m, w.n, qs_.ptr, w.w_scale.ptr, e, stream_);
      return true;
    }
    return linear_after_product(w, m, e, a16);
  }

  // linear() once lt_product has declined (or does not apply): FP16 on cuBLASLt or the own kernels, INT8 on the own
  // kernels (a16 quantized here unless lt_product already did it), FP8 nowhere (create() has checked that cuBLASLt
  // runs these shapes; there is no own FP8 kernel).
  bool linear_after_product(const Linear& w, int m, const Epilogue& e, const __half* a16) {
    if (fp8_) return false;
    if (int8_) {
      if (!lt_) quantize_input(a16, m, w.k);
      return gemm_s8(q8_.ptr, qs_.ptr, w.w8.ptr, w.w_scale.ptr, m, w.n, w.k, e, stream_);
    }
    if (lt_ && lt_linear(w, m, e, a16 ? a16 : x16_.ptr)) return true;
    return gemm_f16(a16 ? a16 : x16_.ptr, w.w16.ptr, m, w.n, w.k, e, stream_);
  }

  // a16 quantized per row into the INT8 / FP8 GEMM input (q8_ / f8_, scales in qs_); nothing when null.
  void quantize_input(const __half* a16, int m, int k) {
    if (!a16) return;
    if (int8_) quantize_rows(a16, m, k, q8_.ptr, qs_.ptr, stream_);
    else if (fp8_) quantize_rows(a16, m, k, f8_.ptr, qs_.ptr, stream_);
  }

  // INT8 / FP8 mode on cuBLASLt: the product of the quantized input (from a16 when given) and w's weights into acc_,
  // before an epilogue. False when not in those modes, cuBLASLt is not in use, or it declines the shape.
  bool lt_product(const Linear& w, int m, const __half* a16) {
    if (!lt_ || !(int8_ || fp8_)) return false;
    quantize_input(a16, m, w.k);
    return int8_ ? lt_quantized(lt_gemm_s8(q8_.ptr, w.w8.ptr, m, w.n, w.k, reinterpret_cast<int32_t*>(acc_.ptr),
                                           lt_workspace_.ptr, kLtWorkspace, stream_))
                 : lt_quantized(lt_gemm_f8(f8_.ptr, w.wf8.ptr, m, w.n, w.k, acc_.ptr, lt_workspace_.ptr, kLtWorkspace, stream_));
  }

  // The FFN's activated GEMM (e: bias, activation, gate; FP16 output inter16_). In INT8 / FP8 mode on cuBLASLt its
  // output goes straight to the next GEMM's quantized input (scale_epilogue_quantize: the bits of writing FP16 and
  // quantizing it), and *next is null; otherwise *next is inter16_, for the next linear() to quantize.
  bool linear_activation(const Linear& w, int m, const Epilogue& e, const __half** next) {
    *next = nullptr;
    if (lt_product(w, m, nullptr)) {
      if (int8_) scale_epilogue_quantize(reinterpret_cast<const int32_t*>(acc_.ptr), m, w.n, qs_.ptr, w.w_scale.ptr, e, q8_.ptr, qs_.ptr, stream_);
      else scale_epilogue_quantize(acc_.ptr, m, w.n, qs_.ptr, w.w_scale.ptr, e, f8_.ptr, qs_.ptr, stream_);
      return true;
    }
    *next = e.c16;
    return linear_after_product(w, m, e, nullptr);
  }

  // A post-norm residual block: x32_ = LayerNorm(x . W^T + bias + x32_), with the next GEMM's input, into `norm`. In
  // INT8 / FP8 mode on cuBLASLt one kernel after the product (scale_epilogue_layernorm); otherwise the GEMM's epilogue
  // into y32_, then layernorm. The same bits either way.
  bool linear_residual_layernorm(const Linear& w, int m, const __half* a16, const float* gamma, const float* beta,
                                 const RowOut& norm) {
    const int H = cfg_.hidden_size;
    if (lt_product(w, m, a16)) {
      if (int8_)
        scale_epilogue_layernorm(reinterpret_cast<const int32_t*>(acc_.ptr), m, H, qs_.ptr, w.w_scale.ptr, w.bias.ptr, x32_.ptr,
                                 gamma, beta, cfg_.layer_norm_eps, norm, stream_);
      else
        scale_epilogue_layernorm(acc_.ptr, m, H, qs_.ptr, w.w_scale.ptr, w.bias.ptr, x32_.ptr, gamma, beta,
                                 cfg_.layer_norm_eps, norm, stream_);
      return true;
    }
    Epilogue e;
    e.bias = w.bias.ptr, e.residual = x32_.ptr, e.c32 = y32_.ptr;
    if (!linear_after_product(w, m, e, a16)) return false;
    layernorm(y32_.ptr, m, H, gamma, beta, cfg_.layer_norm_eps, norm, stream_);
    return true;
  }

  // Whether a quantized cuBLASLt product ran (its scale epilogue to follow); a failure is remembered for describe().
  bool lt_quantized(const std::string& err) {
    if (err.empty()) return true;
    if (err != "unsupported" && lt_error_.empty()) lt_error_ = err;
    return false;
  }

  // The FP16 GEMM through cuBLASLt where it carries the epilogue (cublaslt.cuh): FP32 output with bias and residual,
  // or FP16 output with the bias, the activation and a gated FFN's product then applied in place. False: the caller
  // runs its own kernel (a shape cuBLASLt has no algorithm for; a failure is remembered for describe()).
  bool lt_linear(const Linear& w, int m, const Epilogue& e, const __half* a) {
    LtEpilogue le;
    const bool fp32_out = e.c32 && !e.c16 && !e.gelu && !e.gelu_tanh && !e.silu && !e.mul16;
    const bool fp16_out = e.c16 && !e.c32 && !e.residual;
    if (fp32_out) le.c32 = e.c32, le.bias32 = e.bias, le.residual = e.residual;
    else if (fp16_out) le.c16 = e.c16, le.bias16 = e.bias ? w.bias16.ptr : nullptr;
    else return false;
    const std::string err = lt_gemm_f16(a, w.w16.ptr, m, w.n, w.k, le, lt_workspace_.ptr, kLtWorkspace, stream_);
    if (!err.empty()) {
      if (err != "unsupported" && lt_error_.empty()) lt_error_ = err;
      return false;
    }
    if (fp16_out && (e.gelu || e.gelu_tanh || e.silu || e.mul16))
      activate_f16(e.c16, static_cast<size_t>(m) * w.n, e.gelu ? 1 : e.silu ? 2 : e.gelu_tanh ? 3 : 0, e.mul16, stream_);
    return true;
  }

 public:
  // Which GEMMs this model runs, and a cuBLASLt failure if one happened.
  std::string describe() const { return gemm_note_ + (lt_error_.empty() ? "" : "; fell back after: " + lt_error_); }

 private:
  static constexpr size_t kLtWorkspace = size_t(32) << 20;
  bool lt_ = false;
  std::string gemm_note_, lt_error_;
  DeviceBuffer<unsigned char> lt_workspace_;
  bertrt_cuda_config cfg_{};
  int precision_ = BERTRT_CUDA_FP16;
  bool int8_ = false, fp8_ = false;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  std::mutex mu_;
  DeviceBuffer<float> word_, pos_, type_, emb_g_, emb_b_;
  DeviceBuffer<float> rope_cos_, rope_sin_;  // rotary: [max_positions][head_dim / 2]
  DeviceBuffer<float> rope_cos_local_, rope_sin_local_;  // ModernBERT's local layers' (rope_theta_local)
  DeviceBuffer<float> rel_;                  // MPNet: [heads][2 rel_span - 1], or empty
  DeviceBuffer<float> final_g_, final_b_;    // ModernBERT's final LayerNorm
  DeviceBuffer<int32_t> pos_index_;          // DeBERTa: [2 max_positions - 1]
  Linear proj_;                              // ALBERT, ELECTRA: the embeddings' projection [H][E]
  std::vector<Layer> layers_;
  std::map<Key, Graph> graphs_;
  bool graphs_enabled_ = true;
  size_t generation_ = 0;  // bumped whenever a workspace buffer moves
  PinnedBuffer<int32_t> stage_;
  DeviceBuffer<int32_t> d_in_;
  DeviceBuffer<float> x32_, y32_, qs_, n32_;
  DeviceBuffer<__half> qkv16_, ctx16_, x16_, inter16_, up16_, qh16_, kh16_, c2p16_, p2c16_;
  DeviceBuffer<int8_t> q8_;
  DeviceBuffer<__nv_fp8_e4m3> f8_;
  DeviceBuffer<float> acc_;  // cuBLASLt's INT8 (as int32) and FP8 products before the scale epilogue: [T][max N]
};

}  // namespace
}  // namespace bertrt_cuda

using bertrt_cuda::Model;
using bertrt_cuda::set_message;

extern "C" {

int bertrt_cuda_abi(void) { return BERTRT_CUDA_ABI_VERSION; }

int bertrt_cuda_probe(int device, char* info, size_t info_size) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    // without any driver the runtime says "driver version is insufficient": name what is actually missing
    const bool driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL) != nullptr;
    set_message(info, info_size, driver ? std::string("no usable CUDA device: ") + cudaGetErrorString(e)
                                         : std::string("no NVIDIA driver (libcuda.so.1 cannot be loaded)"));
    return 1;
  }
  if (device < 0 || device >= count) {
    set_message(info, info_size, "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " found)");
    return 1;
  }
  cudaDeviceProp p{};
  e = cudaGetDeviceProperties(&p, device);
  if (e != cudaSuccess) {
    set_message(info, info_size, std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(e));
    return 1;
  }
  const std::string desc = std::string(p.name) + ", compute capability " + std::to_string(p.major) + "." +
                           std::to_string(p.minor) + ", " + std::to_string(p.totalGlobalMem >> 20) + " MiB";
  if (p.major < 8) {
    set_message(info, info_size, desc + ": bertrt's CUDA kernels need compute capability 8.0 or newer");
    return 1;
  }
  set_message(info, info_size, desc);
  return 0;
}

int bertrt_cuda_create(const bertrt_cuda_config* config, const bertrt_cuda_embeddings* embeddings,
                       const bertrt_cuda_layer* layers, int precision, int device, void** model, char* err,
                       size_t err_size) {
  if (!config || !embeddings || !layers || !model) {
    set_message(err, err_size, "bertrt_cuda_create: null argument");
    return 1;
  }
  *model = nullptr;
  if (precision != BERTRT_CUDA_FP16 && precision != BERTRT_CUDA_INT8 && precision != BERTRT_CUDA_FP8) {
    set_message(err, err_size, "bertrt_cuda_create: unknown precision");
    return 1;
  }
  try {
    auto* m = new Model();
    std::string e = m->create(*config, *embeddings, layers, precision, device);
    if (!e.empty()) {
      delete m;
      set_message(err, err_size, e);
      return 1;
    }
    *model = m;
    return 0;
  } catch (const std::exception& ex) {  // host allocation failures; nothing may escape a C interface
    set_message(err, err_size, std::string("bertrt_cuda_create: ") + ex.what());
    return 1;
  }
}

int bertrt_cuda_forward(void* model, const int32_t* ids, const int32_t* type_ids, const int32_t* cu_seqlens,
                        int n_seqs, int tokens, float* out, char* err, size_t err_size) {
  if (!model) {
    set_message(err, err_size, "bertrt_cuda_forward: null model");
    return BERTRT_CUDA_EINPUT;
  }
  try {
    Model* m = static_cast<Model*>(model);
    std::string e;
    int max_len = 0;
    const int code = m->check(ids, type_ids, cu_seqlens, n_seqs, tokens, &max_len, &e);
    if (code == BERTRT_CUDA_OK) e = m->forward(ids, type_ids, cu_seqlens, n_seqs, tokens, max_len, out);
    if (e.empty()) return BERTRT_CUDA_OK;
    set_message(err, err_size, e);
    return code == BERTRT_CUDA_OK ? BERTRT_CUDA_EDEVICE : code;
  } catch (const std::exception& ex) {
    set_message(err, err_size, std::string("bertrt_cuda_forward: ") + ex.what());
    return BERTRT_CUDA_EDEVICE;
  }
}

void bertrt_cuda_destroy(void* model) { delete static_cast<Model*>(model); }

int bertrt_cuda_describe(void* model, char* info, size_t info_size) {
  if (!model) {
    set_message(info, info_size, "bertrt_cuda_describe: null model");
    return 1;
  }
  try {
    set_message(info, info_size, static_cast<Model*>(model)->describe());
    return 0;
  } catch (const std::exception& ex) {
    set_message(info, info_size, std::string("bertrt_cuda_describe: ") + ex.what());
    return 1;
  }
}

}  // extern "C"
