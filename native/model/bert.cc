// The BERT encoder: weights bound by their checkpoint names, Q/K/V fused into one packed GEMM, then per layer
// fused attention, output projection with the residual in its epilogue, LayerNorm, FFN with GELU in the
// epilogue, residual, LayerNorm. Activations are FP32 between the GEMMs in every precision. Each layer runs over
// groups of whole sequences so that a group's intermediates stay in cache from one step to the next.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>

#include "../core/aligned.h"
#include "../core/mapped_file.h"
#include "../cpu/kernels.h"
#include "bertrt/model.h"
#include "internal.h"
#include "weights.h"

namespace bertrt {

namespace {

struct Layer {
  cpu::PackedMatrix qkv, attn_out, inter, out;         // FP32
  cpu::QuantMatrix qqkv, qattn_out, qinter, qout;      // INT8
  cpu::Bf16Matrix bqkv, battn_out, binter, bout;       // BF16
  AlignedBuffer<float> qkv_b, attn_out_b, inter_b, out_b;
  AlignedBuffer<float> ln1_g, ln1_b, ln2_g, ln2_b;
  // INT8: per-input-channel factors 1/s that the inputs of Q/K/V and FFN-in are multiplied by before they are
  // quantized (their weights were packed multiplied by s; see smooth_factors). Empty: no smoothing.
  AlignedBuffer<float> qkv_smooth, inter_smooth;
  // ModernBERT's GeGLU: inter holds Wi's GELU-input rows, gate its gate rows
  cpu::PackedMatrix gate;
  cpu::QuantMatrix qgate;
  cpu::Bf16Matrix bgate;
  AlignedBuffer<float> gate_b;
  // DeBERTa: per head, the key (pk) and query (pq) projections of the relative embeddings, [2 span][head_dim] packed
  std::vector<cpu::PackedMatrix> pk, pq;
};

// A GEMM input in the form the precision reads: INT8 quantized rows, or rows rounded to BF16 (FP32 reads floats).
struct Prepared {
  cpu::QuantRows q;
  cpu::Bf16Rows bq;
};

// A layer runs over groups of whole sequences (see chunk_tokens_); everything but the layer's input and output is
// one group's rows.
struct Scratch {
  AlignedBuffer<float> y, qkv, ctx, inter;  // [group rows][H, 3H, H, I]
  Prepared in;                              // the layer input, all T rows (INT8: written by the LayerNorm before)
  Prepared local;                           // the group's other GEMM inputs
  std::vector<int32_t> cu;                  // the group's cu_seqlens, from 0
  AlignedBuffer<float> gate, normed;        // ModernBERT: the GeGLU's gate rows [group rows][I]; a LayerNorm's output [T][H]
  AlignedBuffer<float> c2p, p2c;            // DeBERTa: the group's disentangled terms [group rows][heads][2 span]
  std::vector<int32_t> pos_index;           // DeBERTa: the batch's relative-embedding row by offset i - j
  int pos_len = 0;
  AlignedBuffer<float> rel;                 // relative attention: the batch's bias by head and offset (see AttentionArgs)
  int rel_len = 0;                          // ... for sequences of up to this many tokens
};

class Bert final : public BertModel {
 public:
  Status bind(const BertConfig& cfg, const WeightSource& src, Precision precision, ThreadPool& pool);
  Status forward(const BatchView& batch, float* out, ThreadPool& pool, int nth) const override;
  Status vocab_logits(const float* x, int rows, const float* bias, float* out, ThreadPool& pool, int nth) const override;
  Status vocab_sparse(const float* x, const int32_t* cu, int n_seqs, const float* bias, bool sum, float* out, ThreadPool& pool,
                      int nth) const override {
    return vocab_sparse_cpu(word_table(), cfg_.vocab_size, embedding_width(cfg_), x, cu, n_seqs, bias, sum, out, pool, nth);
  }
  const BertConfig& config() const override { return cfg_; }
  size_t weight_bytes() const override { return bytes_; }
  Precision precision() const override { return precision_; }
  const char* gemm_isa() const override {
    return precision_ == Precision::kINT8 ? ks8_->name : precision_ == Precision::kBF16 ? kbf_->name : k_->name;
  }

 private:
  // One linear layer in precision p: y = act(x . W^T + b) + residual.
  struct Weights {
    const cpu::PackedMatrix& fp;
    const cpu::QuantMatrix& q;
    const cpu::Bf16Matrix& bf;
    const AlignedBuffer<float>* smooth = nullptr;  // INT8: factors for the input before it is quantized, if any
  };

  // The GEMM input in the form precision p reads: INT8 quantized rows (unless `quantized` says s.q already holds
  // them, written by the LayerNorm that produced x), BF16 rounded rows; FP32 reads x itself.
  void prepare(Precision p, const float* x, int lda, int k, int m, const Weights& w, Prepared& s, ThreadPool& pool,
               int nth, bool quantized) const {
    if (p == Precision::kBF16) kbf_->convert_rows_bf16(x, m, k, lda, &s.bq, pool, nth);
    else if (p == Precision::kINT8 && !quantized) ks8_->quantize_rows(x, m, k, lda, smooth_of(w.smooth), &s.q, pool, nth);
  }

  // Rows [r0, r0 + m) of a prepared GEMM; epi's c and residual point at row r0's output.
  void gemm_rows(Precision p, const float* x, int lda, const Weights& w, const cpu::Epilogue& epi, int r0, int m,
                 const Prepared& s, ThreadPool& pool, int nth) const {
    if (p == Precision::kBF16) {
      cpu::GemmBf16Args g;
      static_cast<cpu::Epilogue&>(g) = epi;
      g.a = &s.bq, g.w = &w.bf, g.row0 = r0, g.rows = m;
      kbf_->gemm_bf16(g, pool, nth);
    } else if (p == Precision::kINT8) {
      cpu::GemmS8Args g;
      static_cast<cpu::Epilogue&>(g) = epi;
      g.a = &s.q, g.w = &w.q, g.row0 = r0, g.rows = m;
      ks8_->gemm_s8(g, pool, nth);
    } else {
      cpu::GemmArgs g;
      static_cast<cpu::Epilogue&>(g) = epi;
      g.a = x + static_cast<size_t>(r0) * lda, g.lda = lda, g.w = &w.fp, g.m = m;
      k_->gemm(g, pool, nth);
    }
  }

  void linear(Precision p, const float* x, int lda, int k, const Weights& w, const float* bias, bool gelu,
              const float* residual, float* c, int ldc, int m, Prepared& s, ThreadPool& pool, int nth,
              bool quantized = false) const {
    cpu::Epilogue epi;
    epi.bias = bias, epi.gelu = gelu, epi.tanh_gelu = gelu && tanh_gelu_, epi.residual = residual, epi.ldr = ldc, epi.c = c, epi.ldc = ldc;
    prepare(p, x, lda, k, m, w, s, pool, nth, quantized);
    gemm_rows(p, x, lda, w, epi, 0, m, s, pool, nth);
  }

  static const float* smooth_of(const AlignedBuffer<float>* f) { return f && f->size() ? f->data() : nullptr; }

  // One encoder layer in precision p, in place on the residual stream x [T][H]. INT8: x_quantized says s.in
  // already holds x's INT8 form; the closing LayerNorm quantizes its output for the next layer's Q/K/V (with its
  // smoothing) unless this is the last layer. ln1_max (calibration): per-channel max |.| of the first LayerNorm's
  // output, folded in.
  // ModernBERT's layer l, in place on x [T][H] (positions: each token's, for the rotary embedding).
  void modern_layer(const Layer& L, int l, Precision p, float* x, const BatchView& b, const int32_t* positions,
                    Scratch& s, ThreadPool& pool, int nth) const;
  // Rotates the Q and K parts of qkv rows [0, rows) (positions[r] each) by RoPE with table t (0 global, 1 local).
  void rotate(float* qkv, int rows, const int32_t* positions, int t) const;
  void layer(const Layer& L, Precision p, float* x, const BatchView& b, Scratch& s, ThreadPool& pool, int nth,
             bool x_quantized, const Layer* next, float* ln1_max) const;
  // The group of sequences that starts at s0 ends before the returned index: whole sequences while their tokens
  // stay within chunk_tokens_, at least one.
  int group_end(const BatchView& b, int s0) const {
    int s1 = s0 + 1;
    while (s1 < b.n_seqs && b.cu_seqlens[s1 + 1] - b.cu_seqlens[s0] <= chunk_tokens_) ++s1;
    return s1;
  }

  // The embedding LayerNorm of b's tokens, to x [T][H].
  void embed(const BatchView& b, const int32_t* positions, float* x, ThreadPool& pool, int nth) const;
  // b's position ids (the config's scheme), after checking that each fits the position table.
  Status positions_of(const BatchView& b, int32_t* positions) const;
  // Relative attention: s.rel for sequences of up to max_len tokens, from the learned table by bucket.
  void relative_table(int max_len, Scratch& s) const;

  // INT8 smoothing (SmoothQuant, Xiao et al. 2022, with alpha = 1/2) of the GEMMs fed by a LayerNorm.
  Status calibrate_and_pack(const WeightSource& src, ThreadPool& pool);

  // Packs a layer's four weight matrices (Q/K/V stacked in qkv) for the model's precision.
  void pack_layer(const float* qkv, const LayerWeights& lw, Layer& L) {
    const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
    pack(qkv, 3 * H, H, &L.qkv, &L.qqkv, &L.bqkv);
    pack(lw.o_w.data(), H, H, &L.attn_out, &L.qattn_out, &L.battn_out);
    pack(lw.i_w.data(), I, H, &L.inter, &L.qinter, &L.binter);
    pack(lw.f_w.data(), H, I, &L.out, &L.qout, &L.bout);
  }

  // ModernBERT's layer: Wqkv as it is (already fused), Wi split into its GELU-input and gate halves.
  void pack_modern_layer(LayerWeights& lw, Layer& L) {
    const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
    pack(lw.q_w.data(), 3 * H, H, &L.qkv, &L.qqkv, &L.bqkv);
    pack(lw.o_w.data(), H, H, &L.attn_out, &L.qattn_out, &L.battn_out);
    pack(lw.i_w.data(), I, H, &L.inter, &L.qinter, &L.binter);
    pack(lw.i_w.data() + static_cast<size_t>(I) * H, I, H, &L.gate, &L.qgate, &L.bgate);
    pack(lw.f_w.data(), H, I, &L.out, &L.qout, &L.bout);
    L.qkv_b = std::move(lw.q_b), L.attn_out_b = std::move(lw.o_b), L.out_b = std::move(lw.f_b);
    L.inter_b.resize(I), L.gate_b.resize(I);
    std::memcpy(L.inter_b.data(), lw.i_b.data(), sizeof(float) * I);
    std::memcpy(L.gate_b.data(), lw.i_b.data() + I, sizeof(float) * I);
    L.ln1_g = std::move(lw.ln1_g), L.ln1_b = std::move(lw.ln1_b), L.ln2_g = std::move(lw.ln2_g), L.ln2_b = std::move(lw.ln2_b);
  }

  // Packs W [n][k] for the model's precision.
  void pack(const float* w, int n, int k, cpu::PackedMatrix* fp, cpu::QuantMatrix* q, cpu::Bf16Matrix* bf) {
    if (precision_ == Precision::kBF16) {
      kbf_->pack_weights_bf16(w, n, k, bf);
      bytes_ += 2 * bf->data.size();
    } else if (precision_ == Precision::kINT8) {
      ks8_->pack_weights_s8(w, n, k, q);
      bytes_ += q->data.size() + 8 * static_cast<size_t>(n);
    } else {
      // FP32: an F16 checkpoint's weights stay in 16 bits (every value is a half; see PackedMatrix)
      if (!(f16_weights_ && k_->pack_weights_f16(w, n, k, fp))) k_->pack_weights(w, n, k, fp);
      bytes_ += fp->bytes();
    }
  }

  BertConfig cfg_;
  Precision precision_ = Precision::kFP32;
  bool f16_weights_ = true;  // FP32 GEMM weights that are all exact halves kept as halves; BERTRT_F16_WEIGHTS=0: never
  const cpu::Kernels* k_ = nullptr;
  const cpu::Kernels* ks8_ = nullptr;
  const cpu::Kernels* kbf_ = nullptr;
  AlignedBuffer<float> word_, pos_, type_, emb_g_, emb_b_;
  AlignedBuffer<uint16_t> word_half_;  // the word table in halves (then word_ is empty): an F16 checkpoint's, see bind
  WordTable word_table() const { return word_half_.size() ? WordTable{nullptr, word_half_.data()} : WordTable{word_.data(), nullptr}; }
  AlignedBuffer<float> rel_;  // [buckets][heads], empty without relative attention
  cpu::PackedMatrix proj_;     // factorized embeddings: [hidden][embedding_size], FP32 in every precision
  AlignedBuffer<float> proj_b_;
  bool tanh_gelu_ = false;     // hidden_act is GELU's tanh form
  AlignedBuffer<float> final_g_, final_b_;    // ModernBERT's final LayerNorm
  AlignedBuffer<float> rope_cos_[2], rope_sin_[2];  // ModernBERT: [max positions][head_dim / 2], global then local theta
  AlignedBuffer<float> rel_emb_;  // DeBERTa: encoder.rel_embeddings after its LayerNorm, [2 span][hidden]
  // DeBERTa: a layer's pk / pq from its stacked Q/K/V weights and biases (before any smoothing touches them).
  void disentangle_layer(const float* qkv_w, const float* qkv_b, Layer& L) const {
    const int H = cfg_.hidden_size, heads = cfg_.num_attention_heads, dh = H / heads, R = 2 * cfg_.disentangled_span;
    L.pk.resize(heads), L.pq.resize(heads);
    std::vector<float> part(static_cast<size_t>(R) * dh);
    for (int which = 0; which < 2; ++which) {  // 0: the query projection (pq), 1: the key projection (pk)
      const float* w = qkv_w + static_cast<size_t>(which) * H * H;
      const float* b = qkv_b + static_cast<size_t>(which) * H;
      for (int h = 0; h < heads; ++h) {
        for (int r = 0; r < R; ++r) {
          const float* e = rel_emb_.data() + static_cast<size_t>(r) * H;
          for (int d = 0; d < dh; ++d) {
            const float* wr = w + static_cast<size_t>(h * dh + d) * H;
            double acc = b[h * dh + d];
            for (int x = 0; x < H; ++x) acc += static_cast<double>(e[x]) * wr[x];
            part[static_cast<size_t>(r) * dh + d] = static_cast<float>(acc);
          }
        }
        k_->pack_weights(part.data(), R, dh, which == 0 ? &L.pq[h] : &L.pk[h]);
      }
    }
  }
  // DeBERTa: s.pos_index for sequences of up to max_len tokens.
  void disentangled_table(int max_len, Scratch& s) const;
  // DeBERTa: the group's c2p / p2c terms from its Q/K/V rows.
  void disentangled_terms(const Layer& L, const float* qkv, int T, Scratch& s, ThreadPool& pool, int nth) const;
  // The weights layer l runs: its own, or its group's (ALBERT).
  const Layer& weights_of(int l) const {
    return layers_[cfg_.layer_groups > 0 ? l / (cfg_.num_hidden_layers / cfg_.layer_groups) : l];
  }
  std::vector<Layer> layers_;
  size_t bytes_ = 0;
  int chunk_tokens_ = 0;  // each layer runs over groups of whole sequences of at most this many tokens (>= 1 sequence)
};

}  // namespace

Status check_config(const BertConfig& c) {
  auto bad = [](const std::string& m) { return Status(Code::kModelFormat, "config.json: " + m); };
  if (c.vocab_size <= 0 || c.vocab_size > (1 << 24)) return bad("vocab_size out of range");
  if (c.hidden_size <= 0 || c.hidden_size > 16384) return bad("hidden_size out of range");
  if (c.num_hidden_layers <= 0 || c.num_hidden_layers > 256) return bad("num_hidden_layers out of range");
  if (c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads != 0)
    return bad("hidden_size must be a multiple of num_attention_heads");
  if (c.intermediate_size <= 0 || c.intermediate_size > 65536) return bad("intermediate_size out of range");
  if (c.max_position_embeddings <= 0 || c.max_position_embeddings > 65536) return bad("max_position_embeddings out of range");
  if (c.type_vocab_size < 0 || c.type_vocab_size > 1024) return bad("type_vocab_size out of range");
  if (!(c.layer_norm_eps > 0.f) || !(c.layer_norm_eps < 1.f)) return bad("layer_norm_eps out of range");
  if (c.padding_idx < -1 || c.padding_idx > c.max_position_embeddings - 2)
    return bad("pad_token_id must leave room in the position table (padding_idx + 1 < max_position_embeddings)");
  if (c.relative_attention_buckets != 0 &&
      (c.relative_attention_buckets < 4 || c.relative_attention_buckets > 1024 || c.relative_attention_buckets % 2 != 0))
    return bad("relative_attention_num_buckets must be 0 or an even number in [4, 1024]");
  if (c.relative_attention_buckets != 0 &&
      (c.relative_attention_max_distance <= c.relative_attention_buckets / 4 || c.relative_attention_max_distance > 65536))
    return bad("the relative attention's max distance must be in (buckets / 4, 65536]");
  if (c.embedding_size < 0 || c.embedding_size > 16384) return bad("embedding_size out of range");
  if (c.layer_groups < 0 || c.layer_groups > c.num_hidden_layers || (c.layer_groups > 0 && c.num_hidden_layers % c.layer_groups != 0))
    return bad("num_hidden_groups must divide num_hidden_layers");
  if (c.modern && (c.global_every < 1 || c.global_every > 1024 || c.local_window < 0 || c.local_window > 65536 ||
                   !(c.rope_theta_global > 1.f) || !(c.rope_theta_local > 1.f) || (c.hidden_size / c.num_attention_heads) % 2 != 0 ||
                   c.embedding_size > 0 || c.layer_groups > 0 || c.padding_idx >= 0 || c.relative_attention_buckets > 0))
    return bad("ModernBERT's global_attn_every_n_layers, local_attention, rope thetas or head size are out of range");
  if (c.disentangled_span < 0 || c.disentangled_span > 4096 || c.position_buckets < 0 || c.position_buckets > 8192 ||
      c.max_relative_positions < 0 || c.max_relative_positions > 65536 ||
      (c.disentangled_span > 0 && (c.modern || c.relative_attention_buckets > 0 || (c.position_buckets > 0 && c.max_relative_positions < 2))))
    return bad("DeBERTa's position_buckets / max_relative_positions are out of range");
  if (c.hidden_act != "gelu" && c.hidden_act != "gelu_new" && c.hidden_act != "gelu_pytorch_tanh")
    return {Code::kUnsupported, "hidden_act '" + c.hidden_act + "' is not supported ('gelu', 'gelu_new', 'gelu_pytorch_tanh')"};
  return Status::Ok();
}

namespace {

// Q, K and V stacked into one [3H][H] matrix (one GEMM reads the activations once for all three); the layer's
// biases and LayerNorms moved into L.
void take_layer(LayerWeights& lw, int H, float* qkv, Layer& L) {
  L.qkv_b.resize(static_cast<size_t>(3) * H);
  const AlignedBuffer<float>* parts[3][2] = {{&lw.q_w, &lw.q_b}, {&lw.k_w, &lw.k_b}, {&lw.v_w, &lw.v_b}};
  for (int i = 0; i < 3; ++i) {
    std::memcpy(qkv + static_cast<size_t>(i) * H * H, parts[i][0]->data(), sizeof(float) * H * H);
    std::memcpy(L.qkv_b.data() + static_cast<size_t>(i) * H, parts[i][1]->data(), sizeof(float) * H);
  }
  L.attn_out_b = std::move(lw.o_b), L.inter_b = std::move(lw.i_b), L.out_b = std::move(lw.f_b);
  L.ln1_g = std::move(lw.ln1_g), L.ln1_b = std::move(lw.ln1_b), L.ln2_g = std::move(lw.ln2_g), L.ln2_b = std::move(lw.ln2_b);
}

// max[j] = the largest of max[j] and |a[r][j]| over the rows of a [rows][k].
void fold_abs_max(const float* a, int rows, int k, float* max) {
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < k; ++j) max[j] = std::max(max[j], std::fabs(a[static_cast<size_t>(r) * k + j]));
}

// SmoothQuant's factors (alpha = 1/2) for W [n][k] given its inputs' per-channel max |x_j|:
// s_j = sqrt(max|x_j| / max_i |W_ij|). Multiplies W's column j by s_j in place and returns the 1/s_j the input is
// multiplied by before it is quantized, so the product is unchanged while the inputs' channels are evened out.
AlignedBuffer<float> smooth_factors(const std::vector<float>& x_max, float* w, int n, int k) {
  std::vector<float> w_max(k, 0.f);
  fold_abs_max(w, n, k, w_max.data());
  AlignedBuffer<float> inv(k);
  std::vector<float> f(k);
  for (int j = 0; j < k; ++j) {
    const float sj = std::sqrt(x_max[j] / w_max[j]);
    f[j] = std::isfinite(sj) && sj > 0.f ? sj : 1.f;  // a dead input channel or weight column: left as it is
    inv.data()[j] = 1.f / f[j];
  }
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < k; ++j) w[static_cast<size_t>(i) * k + j] *= f[j];
  return inv;
}

Status Bert::bind(const BertConfig& cfg, const WeightSource& src, Precision precision, ThreadPool& pool) {
  cfg_ = cfg;
  precision_ = precision;
  const char* f16_env = std::getenv("BERTRT_F16_WEIGHTS");
  f16_weights_ = !(f16_env && std::string(f16_env) == "0");
  k_ = &cpu::kernels();
  ks8_ = &cpu::kernels_s8();
  kbf_ = cpu::kernels_bf16(/*tiles=*/precision == Precision::kBF16);  // INT8 uses only its BF16 attention
  if (precision == Precision::kBF16 && !kbf_)
    return {Code::kUnsupported, "precision 'bf16' needs AVX512-BF16, which this CPU does not have (use 'fp32' or 'int8')"};
  const int H = cfg.hidden_size;
  EmbeddingWeights emb;
  BERTRT_RETURN_IF_ERROR(read_embeddings(src, cfg, &emb, /*word_f16=*/f16_weights_));
  word_ = std::move(emb.word), word_half_ = std::move(emb.word_f16), pos_ = std::move(emb.pos), type_ = std::move(emb.type);
  emb_g_ = std::move(emb.ln_g), emb_b_ = std::move(emb.ln_b), rel_ = std::move(emb.rel);
  if (f16_weights_ && word_half_.size() == 0) {  // an F32 file's table whose every entry is a half: kept as halves too
    const size_t n = static_cast<size_t>(cfg.vocab_size) * embedding_width(cfg);
    AlignedBuffer<uint16_t> half(n);
    size_t i = 0;
    for (; i < n && cpu::float_to_half_exact(word_.data()[i], half.data() + i); ++i) {
    }
    if (i == n) word_half_ = std::move(half), word_ = {};
  }
  bytes_ += sizeof(float) * (word_.size() + pos_.size() + type_.size()) + sizeof(uint16_t) * word_half_.size();
  if (cfg.embedding_size > 0) {
    k_->pack_weights(emb.proj_w.data(), H, cfg.embedding_size, &proj_);
    proj_b_ = std::move(emb.proj_b);
    bytes_ += sizeof(float) * proj_.data.size();
  }
  tanh_gelu_ = cfg.hidden_act != "gelu";
  if (cfg.disentangled_span > 0) {
    rel_emb_ = std::move(emb.rel_emb);
    if (cfg.rel_norm)
      k_->add_layernorm(rel_emb_.data(), nullptr, emb.rel_g.data(), emb.rel_b.data(), 2 * cfg.disentangled_span, H,
                        cfg.layer_norm_eps, pool, 0);
    // the group's c2p / p2c terms are [rows][heads][2 span] each: fewer rows per group than BERT's
    bytes_ += sizeof(float) * rel_emb_.size();
  }
  if (cfg.modern) {
    final_g_ = std::move(emb.final_g), final_b_ = std::move(emb.final_b);
    // cos and sin of position * theta^(-2i / head_dim), in FP32 as transformers computes them
    const int half = H / cfg.num_attention_heads / 2, P = cfg.max_position_embeddings;
    for (int t = 0; t < 2; ++t) {
      const float theta = t == 0 ? cfg.rope_theta_global : cfg.rope_theta_local;
      rope_cos_[t].resize(static_cast<size_t>(P) * half), rope_sin_[t].resize(static_cast<size_t>(P) * half);
      for (int i = 0; i < half; ++i) {
        const float inv = 1.f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(2 * half));
        for (int p = 0; p < P; ++p) {
          const float a = static_cast<float>(p) * inv;
          rope_cos_[t].data()[static_cast<size_t>(p) * half + i] = std::cos(a);
          rope_sin_[t].data()[static_cast<size_t>(p) * half + i] = std::sin(a);
        }
      }
    }
  }

  // Row groups (see layer()). INT8 and BF16: ~512 KB of Q/K/V rows, half of a Zen 4 / Skylake-SP core's L2. FP32:
  // 768 tokens, eight of its GEMM's 96-row blocks (in A/B rounds while this was written, 128-token groups cost
  // FP32 4-9%: its B panels amortized over fewer rows). Against one group, bench/results/row-groups.md: INT8 1.17x, BF16 1.11x, FP32 0.97-1.01x at
  // MiniLM's shapes; the scratch holds one group instead of the whole batch. BERTRT_SEQ_CHUNK overrides.
  const char* chunk_env = std::getenv("BERTRT_SEQ_CHUNK");
  const int chunk_set = chunk_env ? std::atoi(chunk_env) : 0;
  chunk_tokens_ = chunk_set > 0 ? chunk_set : precision == Precision::kFP32 ? 768 : std::max(16, (512 << 10) / (12 * H));
  if (cfg.disentangled_span > 0 && chunk_set <= 0) chunk_tokens_ = std::min(chunk_tokens_, 256);
  const int n_weights = cfg.layer_groups > 0 ? cfg.layer_groups : cfg.num_hidden_layers;
  layers_.resize(n_weights);
  const char* smooth_env = std::getenv("BERTRT_INT8_SMOOTHING");
  // (shared layers: one set of smoothing factors would have to serve every position the group runs at; they are
  // quantized without smoothing)
  // (ModernBERT's LayerNorms run before their GEMMs as separate steps; it is quantized without smoothing too)
  if (precision == Precision::kINT8 && cfg.layer_groups == 0 && !cfg.modern && !(smooth_env && std::string(smooth_env) == "0"))
    return calibrate_and_pack(src, pool);
  AlignedBuffer<float> qkv(static_cast<size_t>(3) * H * H);
  for (int l = 0; l < n_weights; ++l) {
    LayerWeights lw;  // one layer's FP32 tensors at a time, packed, then dropped
    BERTRT_RETURN_IF_ERROR(read_layer(src, cfg, l, &lw));
    Layer& L = layers_[l];
    if (cfg.modern) {
      pack_modern_layer(lw, L);
      continue;
    }
    take_layer(lw, H, qkv.data(), L);
    if (cfg.disentangled_span > 0) disentangle_layer(qkv.data(), L.qkv_b.data(), L);
    pack_layer(qkv.data(), lw, L);
  }
  return Status::Ok();
}

// INT8 with smoothing. Per-token 8-bit activations lose most where a few input channels carry much larger values
// than the rest, as BERT's LayerNorm outputs do: the row's one scale is set by those channels. The inputs of the
// two GEMMs fed by a LayerNorm (Q/K/V and FFN-in) are divided per channel by smooth_factors' s_j, their weights
// multiplied by it; the division rides on the fused LayerNorm + quantize pass. (Smoothing the attention output and
// FFN-out inputs too gained nothing in tools/simulate_quantization.py.) max|x_j| is measured here, at load, by the
// FP32 layers over a fixed batch of 16 x 32 pseudo-random token ids, one layer at a time: its FP32 weights are
// packed, run, then replaced by the INT8 ones. (In the simulation, 64 sentences of text and 64 x 32 random ids gave
// the same mean cosine; in the engine, 16 and 64 random sequences gave the same accuracy, so the cheaper one.)
Status Bert::calibrate_and_pack(const WeightSource& src, ThreadPool& pool) {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size, V = cfg_.vocab_size;
  const int len = std::min(32, cfg_.max_position_embeddings - (cfg_.padding_idx + 1)), n_seqs = 16, T = n_seqs * len;
  std::vector<int32_t> ids(T), positions(T), cu(n_seqs + 1);
  const int lo = V / 30;  // past the special and unused entries at the start of BERT vocabularies
  uint64_t state = 0x853c49e6748fea9bull;
  for (int t = 0; t < T; ++t) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;  // a fixed LCG: the same batch on every load
    ids[t] = lo + static_cast<int32_t>((state >> 33) % static_cast<uint64_t>(V - lo));
  }
  for (int i = 0; i <= n_seqs; ++i) cu[i] = i * len;
  BatchView b;
  b.ids = ids.data(), b.cu_seqlens = cu.data(), b.n_seqs = n_seqs, b.tokens = T;
  BERTRT_RETURN_IF_ERROR(positions_of(b, positions.data()));
  Scratch s;
  relative_table(len, s);
  disentangled_table(len, s);
  AlignedBuffer<float> x(static_cast<size_t>(T) * H), qkv(static_cast<size_t>(3) * H * H);
  embed(b, positions.data(), x.data(), pool, 0);
  for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
    LayerWeights lw;
    BERTRT_RETURN_IF_ERROR(read_layer(src, cfg_, l, &lw));
    Layer& L = layers_[l];
    take_layer(lw, H, qkv.data(), L);
    if (cfg_.disentangled_span > 0) disentangle_layer(qkv.data(), L.qkv_b.data(), L);
    k_->pack_weights(qkv.data(), 3 * H, H, &L.qkv);
    k_->pack_weights(lw.o_w.data(), H, H, &L.attn_out);
    k_->pack_weights(lw.i_w.data(), I, H, &L.inter);
    k_->pack_weights(lw.f_w.data(), H, I, &L.out);
    std::vector<float> x_max(H, 0.f), ln1_max(H, 0.f);
    fold_abs_max(x.data(), T, H, x_max.data());
    layer(L, Precision::kFP32, x.data(), b, s, pool, 0, false, nullptr, ln1_max.data());
    L.qkv = {}, L.attn_out = {}, L.inter = {}, L.out = {};
    L.qkv_smooth = smooth_factors(x_max, qkv.data(), 3 * H, H);
    L.inter_smooth = smooth_factors(ln1_max, lw.i_w.data(), I, H);
    pack_layer(qkv.data(), lw, L);
    bytes_ += sizeof(float) * 2 * H;
  }
  return Status::Ok();
}

}  // namespace

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
}  // namespace

Status vocab_logits_cpu(WordTable word, int64_t V, int64_t H, const float* x, int rows, const float* bias, float* out,
                        ThreadPool& pool, int nth) {
  if (rows < 0 || (rows > 0 && (!x || !out))) return {Code::kInvalidArgument, "vocab_logits: missing input or output"};
  if (rows == 0) return Status::Ok();
  const cpu::Kernels& k = cpu::kernels();
  pool.parallel_for(
      (V + kVocabBlock - 1) / kVocabBlock,
      [&](int64_t task, int) {
        static thread_local cpu::PackedMatrix block;
        static thread_local AlignedBuffer<float> tile;
        const int64_t v0 = task * kVocabBlock, nb = std::min(kVocabBlock, V - v0);
        pack_word_block(k, word, v0, nb, H, &block);
        tile.resize(static_cast<size_t>(kRowChunk) * nb);
        for (int r0 = 0; r0 < rows; r0 += kRowChunk) {
          const int m = std::min(kRowChunk, rows - r0);
          decoder_tile(k, x, H, r0, m, block, bias ? bias + v0 : nullptr, tile.data(), pool);
          for (int r = 0; r < m; ++r)
            std::memcpy(out + static_cast<int64_t>(r0 + r) * V + v0, tile.data() + static_cast<size_t>(r) * nb, sizeof(float) * nb);
        }
      },
      nth);
  return Status::Ok();
}

Status vocab_sparse_cpu(WordTable word, int64_t V, int64_t H, const float* x, const int32_t* cu, int n_seqs,
                        const float* bias, bool sum, float* out, ThreadPool& pool, int nth) {
  if (n_seqs < 0 || !cu || (n_seqs > 0 && (!x || !out))) return {Code::kInvalidArgument, "vocab_sparse: missing input or output"};
  if (n_seqs == 0) return Status::Ok();
  const int rows = cu[n_seqs];
  const cpu::Kernels& k = cpu::kernels();
  // each logit is folded into its sequence's running max (or sum) of log1p(relu(.)) as its tile is made; for the max,
  // log1p being increasing, the running value is max(0, logit) and log1p runs once per sequence and id at the end
  pool.parallel_for(
      (V + kVocabBlock - 1) / kVocabBlock,
      [&](int64_t task, int) {
        static thread_local cpu::PackedMatrix block;
        static thread_local AlignedBuffer<float> tile;
        const int64_t v0 = task * kVocabBlock, nb = std::min(kVocabBlock, V - v0);
        for (int s = 0; s < n_seqs; ++s) std::fill(out + static_cast<int64_t>(s) * V + v0, out + static_cast<int64_t>(s) * V + v0 + nb, 0.f);
        if (rows == 0) return;
        pack_word_block(k, word, v0, nb, H, &block);
        tile.resize(static_cast<size_t>(kRowChunk) * nb);
        int s = 0;  // the sequence of row r0
        for (int r0 = 0; r0 < rows; r0 += kRowChunk) {
          const int m = std::min(kRowChunk, rows - r0);
          decoder_tile(k, x, H, r0, m, block, bias ? bias + v0 : nullptr, tile.data(), pool);
          for (int r = 0; r < m; ++r) {
            while (cu[s + 1] <= r0 + r) ++s;
            float* acc = out + static_cast<int64_t>(s) * V + v0;  // log1p(relu(.)) >= 0: 0 is the max and the sum of nothing
            const float* z = tile.data() + static_cast<size_t>(r) * nb;
            if (sum) {
              for (int64_t v = 0; v < nb; ++v)
                if (z[v] > 0.f) acc[v] += std::log1p(z[v]);
            } else {
              for (int64_t v = 0; v < nb; ++v) acc[v] = std::max(acc[v], z[v]);
            }
          }
        }
        if (!sum)
          for (int q = 0; q < n_seqs; ++q)
            for (float *a = out + static_cast<int64_t>(q) * V + v0, *e = a + nb; a < e; ++a) *a = std::log1p(*a);
      },
      nth);
  return Status::Ok();
}

namespace {

Status Bert::vocab_logits(const float* x, int rows, const float* bias, float* out, ThreadPool& pool, int nth) const {
  return vocab_logits_cpu(word_table(), cfg_.vocab_size, embedding_width(cfg_), x, rows, bias, out, pool, nth);
}

Status Bert::forward(const BatchView& b, float* out, ThreadPool& pool, int nth) const {
  if (b.n_seqs < 0 || b.tokens < 0 || !b.cu_seqlens || (b.tokens > 0 && (!b.ids || !out)))
    return {Code::kInvalidArgument, "batch: missing ids, lengths or output"};
  if (b.cu_seqlens[0] != 0) return {Code::kInvalidArgument, "batch: cuSeqlens[0] must be 0"};
  int max_len = 0;
  for (int s = 0; s < b.n_seqs; ++s) {
    const int32_t a = b.cu_seqlens[s], e = b.cu_seqlens[s + 1];
    if (e < a || e > b.tokens) return {Code::kInvalidArgument, "batch: cuSeqlens must be non-decreasing and end at the token count"};
    if (b.key_lens && (b.key_lens[s] < 1 || b.key_lens[s] > e - a) && e > a)
      return {Code::kInvalidArgument, "batch: keyLens[" + std::to_string(s) + "] must be in [1, the sequence's length]"};
    max_len = std::max(max_len, e - a);
  }
  if (b.cu_seqlens[b.n_seqs] != b.tokens) return {Code::kInvalidArgument, "batch: cuSeqlens must end at the token count"};
  std::vector<int32_t> positions(b.tokens);
  BERTRT_RETURN_IF_ERROR(positions_of(b, positions.data()));
  for (int t = 0; t < b.tokens; ++t) {
    if (b.ids[t] < 0 || b.ids[t] >= cfg_.vocab_size)
      return {Code::kInvalidArgument, "batch: token id " + std::to_string(b.ids[t]) + " at " + std::to_string(t) +
                                          " is outside the vocabulary [0, " + std::to_string(cfg_.vocab_size) + ")"};
    if (b.type_ids) {
      const int limit = cfg_.type_vocab_size > 0 ? cfg_.type_vocab_size : 1;
      if (b.type_ids[t] < 0 || b.type_ids[t] >= limit)
        return {Code::kInvalidArgument, "batch: token type id " + std::to_string(b.type_ids[t]) + " at " + std::to_string(t) +
                                            " is outside [0, " + std::to_string(limit) + ")"};
    }
  }
  const int T = b.tokens;
  if (T == 0) return Status::Ok();

  // Activations live in a grow-only arena of the calling thread (in the addon, always the one job thread):
  // fresh allocations would page-fault tens of MB on every batch.
  static thread_local Scratch scratch;
  relative_table(max_len, scratch);
  disentangled_table(max_len, scratch);
  float* x = out;  // the residual stream lives in the caller's output buffer
  embed(b, positions.data(), x, pool, nth);
  const int L = cfg_.num_hidden_layers;
  if (cfg_.modern) {
    for (int l = 0; l < L; ++l) modern_layer(layers_[l], l, precision_, x, b, positions.data(), scratch, pool, nth);
    k_->add_layernorm(x, nullptr, final_g_.data(), final_b_.data(), T, cfg_.hidden_size, cfg_.layer_norm_eps, pool, nth);
    return Status::Ok();
  }
  for (int l = 0; l < L; ++l)
    layer(weights_of(l), precision_, x, b, scratch, pool, nth, precision_ == Precision::kINT8 && l > 0,
          l + 1 < L ? &weights_of(l + 1) : nullptr, nullptr);
  return Status::Ok();
}

// The ids are checked after this; a position only compares them with padding_idx.
Status Bert::positions_of(const BatchView& b, int32_t* positions) const {
  const int pad = cfg_.padding_idx;
  for (int s = 0; s < b.n_seqs; ++s) {
    const int32_t a = b.cu_seqlens[s], e = b.cu_seqlens[s + 1];
    int32_t next = pad < 0 ? 0 : pad + 1;
    for (int32_t t = a; t < e; ++t) positions[t] = pad >= 0 && b.ids[t] == pad ? pad : next++;
    if (next > cfg_.max_position_embeddings) {
      const int most = cfg_.max_position_embeddings - (pad < 0 ? 0 : pad + 1);
      return {Code::kInputTooLong, "batch: sequence " + std::to_string(s) + " has " + std::to_string(e - a) +
                                       " tokens, the model takes at most " + std::to_string(most)};
    }
  }
  return Status::Ok();
}

// The bucket of a key `rel` = j - i tokens from its query, as MPNet (after T5) computes it: half the buckets for
// keys before the query and half for keys after; within a half, distances below a quarter of the buckets each
// have their own, and longer ones share log-spaced buckets up to max_distance (the last bucket holds the rest).
// The log is evaluated in FP32 as PyTorch does, so bucket edges fall where the reference puts them.
int relative_bucket(int rel, int buckets, int max_distance) {
  const int half = buckets / 2, exact = half / 2;
  int ret = rel > 0 ? half : 0;  // n = -rel < 0: keys after the query
  const int n = std::abs(rel);
  if (n < exact) return ret + n;
  const float ratio = std::log(static_cast<float>(n) / static_cast<float>(exact)) /
                      static_cast<float>(std::log(static_cast<double>(max_distance) / exact));
  const int large = exact + static_cast<int>(ratio * static_cast<float>(half - exact));
  return ret + std::min(large, half - 1);
}

void Bert::relative_table(int max_len, Scratch& s) const {
  s.rel_len = 0;
  if (rel_.size() == 0 || max_len <= 0) return;
  const int heads = cfg_.num_attention_heads, n = 2 * max_len - 1, B = cfg_.relative_attention_buckets;
  s.rel.resize(static_cast<size_t>(heads) * n);
  for (int d = 0; d < n; ++d) {
    const int bucket = relative_bucket(d - (max_len - 1), B, cfg_.relative_attention_max_distance);
    for (int h = 0; h < heads; ++h) s.rel.data()[static_cast<size_t>(h) * n + d] = rel_.data()[static_cast<size_t>(bucket) * heads + h];
  }
  s.rel_len = max_len;
}

void Bert::embed(const BatchView& b, const int32_t* positions, float* x, ThreadPool& pool, int nth) const {
  // factorized: the sum and LayerNorm at the tables' width, then embeddings.project to hidden_size
  static thread_local AlignedBuffer<float> narrow;
  const int E = embedding_width(cfg_);
  if (cfg_.embedding_size > 0) narrow.resize(static_cast<size_t>(b.tokens) * E);
  cpu::EmbedArgs e;
  e.word = word_.data();
  e.word_half = word_half_.data();
  // (ModernBERT: rotary positions, in the attention; DeBERTa without position_biased_input: relative ones only)
  e.pos = cfg_.modern || !cfg_.position_table ? nullptr : pos_.data();
  e.type = cfg_.type_vocab_size > 0 ? type_.data() : nullptr;
  e.ids = b.ids;
  e.type_ids = b.type_ids;
  e.positions = positions;
  e.gamma = emb_g_.data();
  e.beta = emb_b_.data();
  e.eps = cfg_.layer_norm_eps;
  e.h = E;
  e.tokens = b.tokens;
  e.out = cfg_.embedding_size > 0 ? narrow.data() : x;
  k_->embed_layernorm(e, pool, nth);
  if (cfg_.embedding_size > 0) {
    cpu::GemmArgs g;
    g.a = narrow.data(), g.lda = E, g.w = &proj_, g.m = b.tokens, g.bias = proj_b_.data(), g.c = x, g.ldc = cfg_.hidden_size;
    k_->gemm(g, pool, nth);
  }
}

void Bert::layer(const Layer& L, Precision p, float* x, const BatchView& b, Scratch& s, ThreadPool& pool, int nth,
                 bool x_quantized, const Layer* next, float* ln1_max) const {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const bool int8 = p == Precision::kINT8;
  const Weights wqkv{L.qkv, L.qqkv, L.bqkv, &L.qkv_smooth}, wo{L.attn_out, L.qattn_out, L.battn_out},
      wi{L.inter, L.qinter, L.binter, &L.inter_smooth}, wf{L.out, L.qout, L.bout};
  prepare(p, x, H, H, b.tokens, wqkv, s.in, pool, nth, x_quantized);
  cpu::AttentionArgs at;
  at.ld_qkv = 3 * H, at.ld_out = H;
  at.n_heads = cfg_.num_attention_heads, at.head_dim = H / cfg_.num_attention_heads;
  // (DeBERTa: the content and the two disentangled terms share one scale, 1/sqrt(3 head_dim))
  at.scale = 1.f / std::sqrt(static_cast<float>(at.head_dim) * (cfg_.disentangled_span > 0 ? 3.f : 1.f));
  if (s.rel_len > 0) at.rel_bias = s.rel.data(), at.rel_len = s.rel_len;
  // The whole layer, a group of whole sequences at a time: every step but attention is row by row, and attention
  // stays within a sequence, so the group's intermediates (Q/K/V, context, FFN activations: ~0.5-2 MB) stay in
  // cache between the steps instead of passing through [T][3H] and [T][I] buffers far larger than L2.
  for (int s0 = 0; s0 < b.n_seqs;) {
    const int s1 = group_end(b, s0), r0 = b.cu_seqlens[s0], T = b.cu_seqlens[s1] - r0;
    s.y.resize(static_cast<size_t>(T) * H);  // grow-only: the largest group's size after the first batches
    s.qkv.resize(static_cast<size_t>(T) * 3 * H);
    s.ctx.resize(static_cast<size_t>(T) * H);
    s.inter.resize(static_cast<size_t>(T) * I);
    float *y = s.y.data(), *qkv = s.qkv.data(), *ctx = s.ctx.data(), *inter = s.inter.data();
    at.qkv = qkv, at.out = ctx;
    s.cu.resize(s1 - s0 + 1);
    for (int i = s0; i <= s1; ++i) s.cu[i - s0] = b.cu_seqlens[i] - r0;
    float* xg = x + static_cast<size_t>(r0) * H;
    if (T > 0) {
      cpu::Epilogue epi;
      epi.bias = L.qkv_b.data(), epi.c = qkv, epi.ldc = 3 * H;
      gemm_rows(p, x, H, wqkv, epi, r0, T, s.in, pool, nth);
      at.cu_seqlens = s.cu.data(), at.n_seqs = s1 - s0, at.key_lens = b.key_lens ? b.key_lens + s0 : nullptr;
      if (cfg_.disentangled_span > 0) {
        disentangled_terms(L, qkv, T, s, pool, nth);
        at.c2p = s.c2p.data(), at.p2c = s.p2c.data(), at.pos_r = 2 * cfg_.disentangled_span;
        at.pos_index = s.pos_index.data(), at.pos_len = s.pos_len;
      }
      // INT8 and BF16 run attention's two products in bfloat16 where the CPU has AVX512-BF16 (FP32 softmax, sums)
      if (p != Precision::kFP32 && kbf_) kbf_->attention_bf16(at, pool, nth);
      else k_->attention(at, pool, nth);

      linear(p, ctx, H, H, wo, L.attn_out_b.data(), false, xg, y, H, T, s.local, pool, nth);
      // INT8: a LayerNorm before a GEMM also quantizes its output for that GEMM, in the same pass over each row
      if (int8) ks8_->layernorm_quantize(y, L.ln1_g.data(), L.ln1_b.data(), T, H, cfg_.layer_norm_eps, smooth_of(&L.inter_smooth), &s.local.q, 0, pool, nth);
      else k_->add_layernorm(y, nullptr, L.ln1_g.data(), L.ln1_b.data(), T, H, cfg_.layer_norm_eps, pool, nth);
      if (ln1_max) fold_abs_max(y, T, H, ln1_max);
      linear(p, y, H, H, wi, L.inter_b.data(), true, nullptr, inter, I, T, s.local, pool, nth, int8);
      linear(p, inter, I, I, wf, L.out_b.data(), false, y, xg, H, T, s.local, pool, nth);
      // the next layer's Q/K/V input: this group's rows of s.in, read above and not again in this layer
      if (int8 && next) ks8_->layernorm_quantize(xg, L.ln2_g.data(), L.ln2_b.data(), T, H, cfg_.layer_norm_eps, smooth_of(&next->qkv_smooth), &s.in.q, r0, pool, nth);
      else k_->add_layernorm(xg, nullptr, L.ln2_g.data(), L.ln2_b.data(), T, H, cfg_.layer_norm_eps, pool, nth);
    }
    s0 = s1;
  }
}

// DeBERTa's bucket of offset rel = i - j (transformers' make_log_bucket_position, its FP32 log and ceil): offsets
// inside +-bucket_size/2 as they are, longer ones on a log scale up to max_position.
int deberta_bucket(int rel, int bucket_size, int max_position) {
  if (bucket_size <= 0 || max_position <= 0) return rel;
  const int mid = bucket_size / 2;
  const int abs_pos = rel < mid && rel > -mid ? mid - 1 : std::abs(rel);
  if (abs_pos <= mid) return rel;
  const float lp = std::ceil(std::log(static_cast<float>(abs_pos) / static_cast<float>(mid)) /
                             std::log(static_cast<float>(static_cast<double>(max_position - 1) / mid)) * static_cast<float>(mid - 1)) +
                   static_cast<float>(mid);
  return static_cast<int>(lp) * (rel > 0 ? 1 : -1);
}

void Bert::disentangled_table(int max_len, Scratch& s) const {
  s.pos_len = 0;
  if (cfg_.disentangled_span <= 0 || max_len <= 0) return;
  const int span = cfg_.disentangled_span;
  s.pos_index.resize(2 * static_cast<size_t>(max_len) - 1);
  for (int d = -(max_len - 1); d <= max_len - 1; ++d) {
    const int b = deberta_bucket(d, cfg_.position_buckets, cfg_.max_relative_positions);
    s.pos_index[d + max_len - 1] = std::min(std::max(b + span, 0), 2 * span - 1);
  }
  s.pos_len = max_len;
}

void Bert::disentangled_terms(const Layer& L, const float* qkv, int T, Scratch& s, ThreadPool& pool, int nth) const {
  const int H = cfg_.hidden_size, heads = cfg_.num_attention_heads, dh = H / heads, R = 2 * cfg_.disentangled_span;
  s.c2p.resize(static_cast<size_t>(T) * heads * R);
  s.p2c.resize(static_cast<size_t>(T) * heads * R);
  for (int h = 0; h < heads; ++h)
    for (int which = 0; which < 2; ++which) {  // c2p: queries against pk; p2c: keys against pq
      cpu::GemmArgs g;
      g.a = qkv + (which == 0 ? 0 : H) + static_cast<size_t>(h) * dh, g.lda = 3 * H;
      g.w = which == 0 ? &L.pk[h] : &L.pq[h], g.m = T;
      g.c = (which == 0 ? s.c2p.data() : s.p2c.data()) + static_cast<size_t>(h) * R, g.ldc = heads * R;
      k_->gemm(g, pool, nth);
    }
}

void Bert::rotate(float* qkv, int rows, const int32_t* positions, int t) const {
  const int H = cfg_.hidden_size, heads = cfg_.num_attention_heads, dh = H / heads, half = dh / 2;
  for (int r = 0; r < rows; ++r) {
    const float* c = rope_cos_[t].data() + static_cast<size_t>(positions[r]) * half;
    const float* sn = rope_sin_[t].data() + static_cast<size_t>(positions[r]) * half;
    float* row = qkv + static_cast<size_t>(r) * 3 * H;
    for (int part = 0; part < 2; ++part)  // Q, then K
      for (int h = 0; h < heads; ++h) {
        float* v = row + part * H + h * dh;
        for (int d = 0; d < half; ++d) {  // (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin): rotate_half's layout
          const float a = v[d], b2 = v[d + half];
          v[d] = a * c[d] - b2 * sn[d];
          v[d + half] = b2 * c[d] + a * sn[d];
        }
      }
  }
}

// Pre-LayerNorm: x += Wo(attention(rope(Wqkv(norm(x))))); x += Wo_mlp(gelu(Wi_in(norm(x))) * Wi_gate(norm(x))).
// A group of whole sequences at a time, as layer() does.
void Bert::modern_layer(const Layer& L, int l, Precision p, float* x, const BatchView& b, const int32_t* positions,
                        Scratch& s, ThreadPool& pool, int nth) const {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const bool global = l % cfg_.global_every == 0;
  const Weights wqkv{L.qkv, L.qqkv, L.bqkv}, wo{L.attn_out, L.qattn_out, L.battn_out}, wi{L.inter, L.qinter, L.binter},
      wg{L.gate, L.qgate, L.bgate}, wf{L.out, L.qout, L.bout};
  cpu::AttentionArgs at;
  at.ld_qkv = 3 * H, at.ld_out = H;
  at.n_heads = cfg_.num_attention_heads, at.head_dim = H / cfg_.num_attention_heads;
  at.scale = 1.f / std::sqrt(static_cast<float>(at.head_dim));
  at.window = global ? 0 : cfg_.local_window;
  for (int s0 = 0; s0 < b.n_seqs;) {
    const int g0 = s0, s1 = group_end(b, s0), r0 = b.cu_seqlens[s0], T = b.cu_seqlens[s1] - r0;
    s0 = s1;
    if (T == 0) continue;
    s.y.resize(static_cast<size_t>(T) * H);
    s.qkv.resize(static_cast<size_t>(T) * 3 * H);
    s.ctx.resize(static_cast<size_t>(T) * H);
    s.inter.resize(static_cast<size_t>(T) * I);
    s.gate.resize(static_cast<size_t>(T) * I);
    float *y = s.y.data(), *qkv = s.qkv.data(), *ctx = s.ctx.data(), *inter = s.inter.data(), *gate = s.gate.data();
    float* xg = x + static_cast<size_t>(r0) * H;
    s.cu.resize(s1 - g0 + 1);
    for (int i = g0; i <= s1; ++i) s.cu[i - g0] = b.cu_seqlens[i] - r0;
    // attention input: layer 0 reads x as it is, the others its LayerNorm
    const float* in = xg;
    if (L.ln1_g.size()) {
      std::memcpy(y, xg, sizeof(float) * T * H);
      k_->add_layernorm(y, nullptr, L.ln1_g.data(), L.ln1_b.data(), T, H, cfg_.layer_norm_eps, pool, nth);
      in = y;
    }
    linear(p, in, H, H, wqkv, L.qkv_b.data(), false, nullptr, qkv, 3 * H, T, s.local, pool, nth);
    rotate(qkv, T, positions + r0, global ? 0 : 1);
    at.qkv = qkv, at.out = ctx;
    at.cu_seqlens = s.cu.data(), at.n_seqs = static_cast<int>(s.cu.size()) - 1, at.key_lens = b.key_lens ? b.key_lens + g0 : nullptr;
    if (p != Precision::kFP32 && kbf_) kbf_->attention_bf16(at, pool, nth);
    else k_->attention(at, pool, nth);
    // (the residual is never the GEMM's own output: with K past one block the epilogue would read partial sums)
    linear(p, ctx, H, H, wo, L.attn_out_b.data(), false, xg, y, H, T, s.local, pool, nth);
    std::memcpy(xg, y, sizeof(float) * T * H);
    // the GeGLU MLP on the LayerNorm of the new x (ctx, free again, holds it)
    std::memcpy(ctx, xg, sizeof(float) * T * H);
    k_->add_layernorm(ctx, nullptr, L.ln2_g.data(), L.ln2_b.data(), T, H, cfg_.layer_norm_eps, pool, nth);
    linear(p, ctx, H, H, wi, L.inter_b.data(), true, nullptr, inter, I, T, s.local, pool, nth);
    linear(p, ctx, H, H, wg, L.gate_b.data(), false, nullptr, gate, I, T, s.local, pool, nth);
    for (size_t i = 0; i < static_cast<size_t>(T) * I; ++i) inter[i] *= gate[i];
    linear(p, inter, I, I, wf, L.out_b.data(), false, xg, y, H, T, s.local, pool, nth);
    std::memcpy(xg, y, sizeof(float) * T * H);
  }
}

}  // namespace

Status BertModel::load(const BertConfig& config, const WeightFiles& path, const std::vector<TensorDesc>& tensors,
                       Precision precision, ThreadPool& pool, std::unique_ptr<BertModel>* out) {
  BERTRT_RETURN_IF_ERROR(check_config(config));
  WeightSource src;
  BERTRT_RETURN_IF_ERROR(src.open(path, tensors));
  auto m = std::make_unique<Bert>();
  BERTRT_RETURN_IF_ERROR(m->bind(config, src, precision, pool));
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace bertrt
