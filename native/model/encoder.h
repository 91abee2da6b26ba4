// The CPU encoder: every family the engine runs is this class with the config's position scheme and layer kind. The
// shared parts (binding, embeddings, positions, batch checks, row groups) are in encoder.cc; each layer kind has its
// own file, written in terms of Linear and LayerNorm (linear.h) like the checkpoint's modules:
//   bert_layer.cc  post-LayerNorm layers: BERT, RoBERTa / XLM-R / CamemBERT, MPNet (relative buckets), ALBERT
//                  (shared layers), ELECTRA, DeBERTa (with deberta.cc's disentangled terms), NomicBERT and GTE (RoPE,
//                  gated FFNs)
//   modernbert.cc  ModernBERT's pre-LayerNorm layer: RoPE, sliding windows, GeGLU; the rotary tables and rotation
//                  every rotary family uses
//   deberta.cc     DeBERTa's disentangled attention terms
//   vocab.cc       the MLM decoder over the vocabulary (fill-mask, the fused sparse head)
#pragma once
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "../core/aligned.h"
#include "../core/knobs.h"
#include "../core/thread_pool.h"
#include "../cpu/kernels.h"
#include "bertrt/model.h"
#include "internal.h"
#include "linear.h"
#include "weights.h"

namespace bertrt {

// One layer's weights: attention.self's Q/K/V stacked into one [3H][H] GEMM (ModernBERT's Wqkv is that already),
// attention.output.dense, intermediate.dense, output.dense and the two LayerNorms (post-norm: after attention and
// after the FFN; ModernBERT: attn_norm and mlp_norm before them, attn_norm empty in layer 0).
struct EncoderLayer {
  Linear qkv, attn_out, inter, out;
  Linear gate;  // gated FFNs (ModernBERT's GeGLU, NomicBERT's SwiGLU, GTE's GeGLU): inter the activated rows, gate the multiplier
  LayerNorm ln1, ln2;
  // DeBERTa: per head, the key (pk) and query (pq) projections of the relative embeddings, [2 span][head_dim] packed
  std::vector<cpu::PackedMatrix> pk, pq;
  // The bytes of its packed GEMM weights.
  size_t bytes() const { return qkv.bytes() + attn_out.bytes() + inter.bytes() + gate.bytes() + out.bytes(); }
};

// A layer runs its groups as tasks (plan_groups) only while its packed weights take at most this many bytes: each task
// reads all of them, so they must stay in the last-level cache between tasks (32 MB on the AMD Zen 5 measured). FP32
// all-mpnet-base-v2 (28 MB a layer) and ModernBERT-base (20 MB) ran 32 x 48 at 1.033x and 1.011x as tasks; INT8 and
// BF16 at 5-14 MB a layer 0.83-1.00x (development-ab.md, step 26).
constexpr size_t kTaskLayerBytes = size_t(16) << 20;

// A layer runs over groups of whole sequences (see Encoder::layer); everything but the layer's input and output is one
// group's rows, in the arena of the thread that runs the group (group_scratch()).
struct GroupScratch {
  AlignedBuffer<float> y, qkv, ctx, inter;  // [group rows][H, 3H, H, I]
  LinearInput local;                        // the group's GEMM inputs but the layer input's
  LinearInput act;                          // BF16: the FFN's activation, written in bfloat16 by the GEMM before
  std::vector<int32_t> cu;                  // the group's cu_seqlens, from 0
  AlignedBuffer<float> gate;                // gated FFNs: the second projection's rows [group rows][I]
  AlignedBuffer<float> c2p, p2c;            // DeBERTa: the group's disentangled terms [group rows][heads][2 span]
  // y, qkv, ctx and inter for T rows of hidden size H and intermediate size I (grow-only: the largest group's size
  // after the first batches).
  void size(int T, int H, int I) {
    y.resize(static_cast<size_t>(T) * H);
    qkv.resize(static_cast<size_t>(T) * 3 * H);
    ctx.resize(static_cast<size_t>(T) * H);
    inter.resize(static_cast<size_t>(T) * I);
  }
};

// The calling thread's group arena: grow-only, so a thread's groups stop allocating after the first batches (fresh
// buffers would page-fault MBs per layer).
GroupScratch& group_scratch();

// What a forward shares across its groups (read-only while the groups run, but the rows of `in` each group writes).
struct EncoderScratch {
  LinearInput in;                           // the layer input, all T rows (INT8: written by the LayerNorm before)
  std::vector<int32_t> pos_index;           // DeBERTa: the batch's relative-embedding row by offset i - j
  int pos_len = 0;
  AlignedBuffer<float> rel;                 // relative attention: the batch's bias by head and offset (see AttentionArgs)
  int rel_len = 0;                          // ... for sequences of up to this many tokens
  // dynamic NTK rotary scaling: per sequence of the batch, its own cos and sin tables [len][head_dim / 2] (in dyn, cos
  // then sin at 2 i and 2 i + 1), or -1 for the model's table
  std::vector<int> dyn_of;
  std::vector<AlignedBuffer<float>> dyn;
};

// The group of sequences that starts at s0 ends before the returned index: whole sequences while their tokens stay
// within chunk_tokens, at least one.
int group_end(const BatchView& b, int s0, int chunk_tokens);

// A layer's groups of sequences, [first, end) each, and how they run: one group at a time with every step spread over
// the threads, or (tasks) each group a task that one thread runs through the whole layer.
struct GroupPlan {
  std::vector<std::pair<int, int>> groups;
  bool tasks = false;
};

// How a layer (either kind) runs b's sequences on `threads` threads: one group at a time in groups of up to chunk_tokens,
// or where the batch allows it (and tasks_allowed: the model's knob) as tasks of about task_tokens (see encoder.cc).
GroupPlan plan_groups(const BatchView& b, int chunk_tokens, int task_tokens, int threads, bool tasks_allowed);

// Runs fn(s0, s1, arena, step_threads) for each group [s0, s1) of the plan: as tasks, each on one thread in that
// thread's arena with its steps on that thread alone (a parallel_for of one thread runs inline); or one group at a
// time in the calling thread's arena, its steps on nth threads.
template <class F>
void run_groups(const GroupPlan& plan, ThreadPool& pool, int nth, F&& fn) {
  if (plan.tasks) {
    pool.parallel_for(static_cast<int64_t>(plan.groups.size()), [&](int64_t t, int) {
      fn(plan.groups[t].first, plan.groups[t].second, group_scratch(), 1);
    }, nth);
  } else {
    GroupScratch& g = group_scratch();
    for (const auto& [s0, s1] : plan.groups) fn(s0, s1, g, nth);
  }
}

// max[j] = the largest of max[j] and |a[r][j]| over the rows of a [rows][k] (INT8 calibration).
void fold_abs_max(const float* a, int rows, int k, float* max);

class Encoder final : public BertModel {
 public:
  Status bind(const BertConfig& cfg, const WeightSource& src, Precision precision, ThreadPool& pool);
  Status forward(const BatchView& batch, float* out, ThreadPool& pool, int nth) const override;
  Status vocab_logits(const float* x, int rows, const float* bias, float* out, ThreadPool& pool, int nth) const override {
    return vocab_logits_cpu(word_table(), cfg_.vocab_size, embedding_width(cfg_), x, rows, bias, out, pool, nth);
  }
  Status vocab_sparse(const float* x, const int32_t* cu, int n_seqs, const float* bias, bool sum, float* out, ThreadPool& pool,
                      int nth) const override {
    return vocab_sparse_cpu(word_table(), cfg_.vocab_size, embedding_width(cfg_), x, cu, n_seqs, bias, sum, out, pool, nth);
  }
  const BertConfig& config() const override { return cfg_; }
  size_t weight_bytes() const override { return bytes_; }
  Precision precision() const override { return precision_; }
  const char* gemm_isa() const override {
    return precision_ == Precision::kINT8 ? k_.int8->name : precision_ == Precision::kBF16 ? k_.bf16->name : k_.fp32->name;
  }

 private:
  // --- encoder.cc
  // INT8 smoothing (SmoothQuant, Xiao et al. 2022, with alpha = 1/2) of the GEMMs fed by a LayerNorm.
  Status calibrate_and_pack(const WeightSource& src, ThreadPool& pool);
  // A post-norm layer's biases, activation and LayerNorms, moved out of lw (Q/K/V's bias: stack_qkv).
  void take_layer(LayerWeights& lw, EncoderLayer& L) const;
  // Its four weight matrices packed in precision p (qkv: Q/K/V stacked).
  void pack_layer(const LayerWeights& lw, const float* qkv, Precision p, EncoderLayer& L);
  // The FFN-in activation: GELU, its tanh form (hidden_act gelu_new / gelu_pytorch_tanh), or SiLU.
  Activation ffn_activation() const {
    return cfg_.hidden_act == "gelu" ? Activation::kGelu : cfg_.hidden_act == "silu" ? Activation::kSilu : Activation::kGeluTanh;
  }
  // Packs W [n][k] into lin for precision p (F16-exact FP32 weights as halves unless the knob says no).
  void pack(Linear& lin, Precision p, const float* w, int n, int k) {
    lin.pack(k_, p, w, n, k, knobs_.f16_weights);
    bytes_ += lin.bytes();
  }
  // The plan of layer L's groups for b on nth threads (plan_groups): as tasks where `tasks` (the caller's), the knob
  // and the layer's weights (at most kTaskLayerBytes) allow.
  GroupPlan plan_layer(const BatchView& b, const EncoderLayer& L, ThreadPool& pool, int nth, bool tasks) const {
    const int threads = nth > 0 ? std::min(nth, pool.size()) : pool.size();
    return plan_groups(b, chunk_tokens_, task_tokens_, threads, tasks && knobs_.group_tasks && L.bytes() <= kTaskLayerBytes);
  }
  // Group [s0, s1)'s cu_seqlens from 0 in g.cu; returns its first row.
  int group_rows(const BatchView& b, int s0, int s1, GroupScratch& g) const;
  // The embedding LayerNorm of b's tokens, to x [T][H].
  void embed(const BatchView& b, const int32_t* positions, float* x, ThreadPool& pool, int nth) const;
  // b's position ids (the config's scheme), after checking that each fits the position table.
  Status positions_of(const BatchView& b, int32_t* positions) const;
  // The attention's shape and scale for this model (rows, lengths and extra terms are the caller's).
  cpu::AttentionArgs attention_args() const;
  // Attention in precision p: INT8 and BF16 run its two products in bfloat16 where the CPU has AVX512-BF16.
  void attend(Precision p, const cpu::AttentionArgs& at, ThreadPool& pool, int nth) const {
    if (p != Precision::kFP32 && k_.bf16) k_.bf16->attention_bf16(at, pool, nth);
    else k_.fp32->attention(at, pool, nth);
  }

  // --- bert_layer.cc
  // One post-norm layer in precision p, in place on the residual stream x [T][H]. INT8 and BF16: x_quantized says s.in
  // already holds x's INT8 (BF16) form; the closing LayerNorm writes that form of its output for the next layer's Q/K/V
  // (INT8: with its smoothing) unless this is the last layer. ln1_max (calibration): per-channel max |.| of the first
  // LayerNorm's output, folded in. positions: each token's, for rotary positions (BertConfig::rotary).
  void layer(const EncoderLayer& L, Precision p, float* x, const BatchView& b, const int32_t* positions, EncoderScratch& s,
             ThreadPool& pool, int nth, bool x_quantized, const EncoderLayer* next, float* ln1_max) const;
  // A gated FFN's product: inter (the activated projection of y's T rows) times y's second projection, in place.
  void gate_product(const EncoderLayer& L, const float* y, float* inter, int T, GroupScratch& g, ThreadPool& pool, int nth) const;
  // Relative attention (MPNet): s.rel for sequences of up to max_len tokens, from the learned table by bucket.
  void relative_table(int max_len, EncoderScratch& s) const;

  // --- modernbert.cc
  // ModernBERT: the final LayerNorm and the rotary tables.
  void bind_modern(EmbeddingWeights& emb);
  // ModernBERT's layer: Wqkv as it is (already fused), Wi split into its GELU-input and gate halves.
  void pack_modern_layer(LayerWeights& lw, EncoderLayer& L);
  // ModernBERT's layer l, in place on x [T][H] (positions: each token's, for the rotary embedding).
  void modern_layer(const EncoderLayer& L, int l, Precision p, float* x, const BatchView& b, const int32_t* positions,
                    ThreadPool& pool, int nth) const;
  // Rotates the Q and K parts of qkv rows [0, rows) (positions[r] each) by RoPE with the cos and sin tables given
  // ([position][head_dim / 2]: rope_cos_[t] and rope_sin_[t], t 0 global, 1 local; or a sequence's own).
  void rotate(float* qkv, int rows, const int32_t* positions, const float* cos, const float* sin, ThreadPool& pool, int nth) const;
  // The rotation of a post-norm layer's group of sequences [s0, s1) (rows from r0): the model's table, or with dynamic
  // scaling each long sequence's own.
  void rotate_group(float* qkv, const BatchView& b, int s0, int s1, int r0, const int32_t* positions, const EncoderScratch& s,
                    ThreadPool& pool, int nth) const;
  // s.dyn_of and s.dyn for b (dynamic NTK scaling: the tables of the sequences past rope_trained tokens).
  void dynamic_rope_tables(const BatchView& b, EncoderScratch& s) const;
  // Table t's cos and sin of position * inv_freq_i, inv_freq_i = (theta ntk)^(-2i / head_dim) / ntk^(2 / head_dim)
  // (ntk 1: plain RoPE), for every position the config allows.
  void rope_table(int t, float theta, float ntk);

  // --- deberta.cc
  // DeBERTa: a layer's pk / pq from its stacked Q/K/V weights and biases (before any smoothing touches them).
  void disentangle_layer(const float* qkv_w, const float* qkv_b, EncoderLayer& L, ThreadPool& pool) const;
  // DeBERTa: s.pos_index for sequences of up to max_len tokens.
  void disentangled_table(int max_len, EncoderScratch& s) const;
  // DeBERTa: the group's c2p / p2c terms from its Q/K/V rows, into the attention's arguments.
  void disentangled_terms(const EncoderLayer& L, const float* qkv, int T, const EncoderScratch& s, GroupScratch& g,
                          cpu::AttentionArgs& at, ThreadPool& pool, int nth) const;

  // The weights layer l runs: its own, or its group's (ALBERT).
  const EncoderLayer& weights_of(int l) const {
    return layers_[cfg_.layer_groups > 0 ? l / (cfg_.num_hidden_layers / cfg_.layer_groups) : l];
  }
  WordTable word_table() const { return word_half_.size() ? WordTable{nullptr, word_half_.data()} : WordTable{word_.data(), nullptr}; }

  BertConfig cfg_;
  Precision precision_ = Precision::kFP32;
  LoadKnobs knobs_;
  ModelKernels k_;
  AlignedBuffer<float> word_, pos_, type_;
  LayerNorm emb_ln_;
  AlignedBuffer<uint16_t> word_half_;  // the word table in halves (then word_ is empty): an F16 checkpoint's, see bind
  AlignedBuffer<float> rel_;           // [buckets][heads], empty without relative attention
  Linear proj_;                        // factorized embeddings: [hidden][embedding_size], FP32 in every precision
  LayerNorm final_ln_;                 // ModernBERT's final LayerNorm
  AlignedBuffer<float> rope_cos_[2], rope_sin_[2];  // rotary: [max positions][head_dim / 2], global then local theta
  AlignedBuffer<float> rel_emb_;       // DeBERTa: encoder.rel_embeddings after its LayerNorm, [2 span][hidden]
  std::vector<EncoderLayer> layers_;
  size_t bytes_ = 0;
  int chunk_tokens_ = 0;  // each layer runs over groups of whole sequences of at most this many tokens (>= 1 sequence)
  int task_tokens_ = 0;   // ... or, run as tasks (plan_groups), of about this many
};

}  // namespace bertrt
