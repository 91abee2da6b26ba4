// The encoder's shared parts: binding the checkpoint's tensors, INT8 calibration, the batch checks, embeddings and
// positions, and the forward pass that runs the config's layer kind (see encoder.h for where each kind lives).
// Activations are FP32 between the GEMMs in every precision.
#include "encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace bertrt {

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
  if (c.rotary && (c.modern || c.position_table || c.padding_idx >= 0 || c.relative_attention_buckets > 0 || c.disentangled_span > 0 ||
                   c.embedding_size > 0 || c.layer_groups > 0 || (c.hidden_size / c.num_attention_heads) % 2 != 0 ||
                   !(c.rope_theta_global > 1.f) || !(c.rope_theta_global < 1e12f) || !(c.rope_ntk >= 1.f) || !(c.rope_ntk <= 1024.f)))
    return bad("rotary positions need an even head size, rope_theta > 1, an NTK factor in [1, 1024] and no other position scheme");
  if (c.rope_dynamic != 0.f && (!c.rotary || !(c.rope_dynamic >= 1.f) || !(c.rope_dynamic <= 1024.f) || c.rope_trained < 2 ||
                                c.rope_trained > c.max_position_embeddings || c.hidden_size / c.num_attention_heads < 4))
    return bad("dynamic rotary scaling needs a factor in [1, 1024] and a trained length in [2, max_position_embeddings]");
  if (c.gated && c.modern) return bad("a gated FFN is a post-norm layer's option (ModernBERT's GeGLU is its own)");
  if (c.hidden_act != "gelu" && c.hidden_act != "gelu_new" && c.hidden_act != "gelu_pytorch_tanh" && c.hidden_act != "silu")
    return {Code::kUnsupported, "hidden_act '" + c.hidden_act + "' is not supported ('gelu', 'gelu_new', 'gelu_pytorch_tanh', 'silu')"};
  return Status::Ok();
}

Status check_batch(const BatchView& b, const BertConfig& cfg, int* max_len) {
  if (b.n_seqs < 0 || b.tokens < 0 || !b.cu_seqlens || (b.tokens > 0 && !b.ids))
    return {Code::kInvalidArgument, "batch: missing ids, lengths or output"};
  if (b.cu_seqlens[0] != 0) return {Code::kInvalidArgument, "batch: cuSeqlens[0] must be 0"};
  int longest = 0;
  for (int s = 0; s < b.n_seqs; ++s) {
    const int32_t a = b.cu_seqlens[s], e = b.cu_seqlens[s + 1];
    if (e < a || e > b.tokens) return {Code::kInvalidArgument, "batch: cuSeqlens must be non-decreasing and end at the token count"};
    if (b.key_lens && (b.key_lens[s] < 1 || b.key_lens[s] > e - a) && e > a)
      return {Code::kInvalidArgument, "batch: keyLens[" + std::to_string(s) + "] must be in [1, the sequence's length]"};
    longest = std::max(longest, e - a);
  }
  if (b.cu_seqlens[b.n_seqs] != b.tokens) return {Code::kInvalidArgument, "batch: cuSeqlens must end at the token count"};
  for (int t = 0; t < b.tokens; ++t) {
    if (b.ids[t] < 0 || b.ids[t] >= cfg.vocab_size)
      return {Code::kInvalidArgument, "batch: token id " + std::to_string(b.ids[t]) + " at " + std::to_string(t) +
                                          " is outside the vocabulary [0, " + std::to_string(cfg.vocab_size) + ")"};
    if (b.type_ids) {
      const int limit = cfg.type_vocab_size > 0 ? cfg.type_vocab_size : 1;
      if (b.type_ids[t] < 0 || b.type_ids[t] >= limit)
        return {Code::kInvalidArgument, "batch: token type id " + std::to_string(b.type_ids[t]) + " at " + std::to_string(t) +
                                            " is outside [0, " + std::to_string(limit) + ")"};
    }
  }
  if (max_len) *max_len = longest;
  return Status::Ok();
}

void fold_abs_max(const float* a, int rows, int k, float* max) {
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < k; ++j) max[j] = std::max(max[j], std::fabs(a[static_cast<size_t>(r) * k + j]));
}

namespace {

// Q, K and V stacked into one [3H][H] matrix (one GEMM reads the activations once for all three), their biases into
// L.qkv's.
void stack_qkv(const LayerWeights& lw, int H, float* qkv, EncoderLayer& L) {
  L.qkv.bias.resize(static_cast<size_t>(3) * H);
  const AlignedBuffer<float>* parts[3][2] = {{&lw.q_w, &lw.q_b}, {&lw.k_w, &lw.k_b}, {&lw.v_w, &lw.v_b}};
  for (int i = 0; i < 3; ++i) {
    std::memcpy(qkv + static_cast<size_t>(i) * H * H, parts[i][0]->data(), sizeof(float) * H * H);
    std::memcpy(L.qkv.bias.data() + static_cast<size_t>(i) * H, parts[i][1]->data(), sizeof(float) * H);
  }
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

}  // namespace

void Encoder::take_layer(LayerWeights& lw, EncoderLayer& L) const {
  const float eps = cfg_.layer_norm_eps;
  L.attn_out.bias = std::move(lw.o_b), L.out.bias = std::move(lw.f_b);
  if (cfg_.gated) {  // i_b: the activated projection's biases, then the multiplier's
    const int I = cfg_.intermediate_size;
    L.inter.bias.resize(I), L.gate.bias.resize(I);
    std::memcpy(L.inter.bias.data(), lw.i_b.data(), sizeof(float) * I);
    std::memcpy(L.gate.bias.data(), lw.i_b.data() + I, sizeof(float) * I);
  } else {
    L.inter.bias = std::move(lw.i_b);
  }
  L.inter.act = ffn_activation();
  L.ln1 = LayerNorm::take(lw.ln1_g, lw.ln1_b, eps), L.ln2 = LayerNorm::take(lw.ln2_g, lw.ln2_b, eps);
}

void Encoder::pack_layer(const LayerWeights& lw, const float* qkv, Precision p, EncoderLayer& L) {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size;
  pack(L.qkv, p, qkv, 3 * H, H);
  pack(L.attn_out, p, lw.o_w.data(), H, H);
  pack(L.inter, p, lw.i_w.data(), I, H);
  if (cfg_.gated) pack(L.gate, p, lw.i_w.data() + static_cast<size_t>(I) * H, I, H);
  pack(L.out, p, lw.f_w.data(), H, I);
}

Status Encoder::bind(const BertConfig& cfg, const WeightSource& src, Precision precision, ThreadPool& pool) {
  cfg_ = cfg;
  precision_ = precision;
  knobs_ = LoadKnobs::from_env();
  k_.fp32 = &cpu::kernels();
  k_.int8 = &cpu::kernels_s8();
  k_.bf16 = cpu::kernels_bf16(/*tiles=*/precision == Precision::kBF16);  // INT8 uses only its BF16 attention
  if (precision == Precision::kBF16 && !k_.bf16)
    return {Code::kUnsupported, "precision 'bf16' needs AVX512-BF16, which this CPU does not have (use 'fp32' or 'int8')"};
  const int H = cfg.hidden_size;
  EmbeddingWeights emb;
  BERTRT_RETURN_IF_ERROR(read_embeddings(src, cfg, &emb, /*word_f16=*/knobs_.f16_weights));
  word_ = std::move(emb.word), word_half_ = std::move(emb.word_f16), pos_ = std::move(emb.pos), type_ = std::move(emb.type);
  emb_ln_ = LayerNorm::take(emb.ln_g, emb.ln_b, cfg.layer_norm_eps);
  rel_ = std::move(emb.rel);
  if (knobs_.f16_weights && word_half_.size() == 0) {  // an F32 file's table whose every entry is a half: kept as halves too
    const size_t n = static_cast<size_t>(cfg.vocab_size) * embedding_width(cfg);
    AlignedBuffer<uint16_t> half(n);
    size_t i = 0;
    for (; i < n && cpu::float_to_half_exact(word_.data()[i], half.data() + i); ++i) {
    }
    if (i == n) word_half_ = std::move(half), word_ = {};
  }
  bytes_ += sizeof(float) * (word_.size() + pos_.size() + type_.size()) + sizeof(uint16_t) * word_half_.size();
  if (cfg.embedding_size > 0) {
    proj_.pack(k_, Precision::kFP32, emb.proj_w.data(), H, cfg.embedding_size, /*halves=*/false);
    proj_.bias = std::move(emb.proj_b);
    bytes_ += proj_.bytes();
  }
  if (cfg.disentangled_span > 0) {
    rel_emb_ = std::move(emb.rel_emb);
    if (cfg.rel_norm)
      k_.fp32->add_layernorm(rel_emb_.data(), nullptr, emb.rel_g.data(), emb.rel_b.data(), 2 * cfg.disentangled_span, H,
                             cfg.layer_norm_eps, pool, 0);
    bytes_ += sizeof(float) * rel_emb_.size();
  }
  if (cfg.modern) bind_modern(emb);
  if (cfg.rotary) rope_table(0, cfg.rope_theta_global, cfg.rope_ntk);

  // Row groups (see layer()). INT8 and BF16: ~512 KB of Q/K/V rows, half of a Zen 4 / Skylake-SP core's L2. FP32:
  // 768 tokens, eight of its GEMM's 96-row blocks (in A/B rounds while this was written, 128-token groups cost
  // FP32 4-9%: its B panels amortized over fewer rows). Against one group, bench/results/row-groups.md: INT8 1.17x,
  // BF16 1.11x, FP32 0.97-1.01x at MiniLM's shapes; the scratch holds one group instead of the whole batch.
  // BERTRT_SEQ_CHUNK overrides.
  // Groups run as tasks (plan_groups) are of ~512 KB of Q/K/V rows in every precision: a 128-token sequence each for
  // MiniLM, where FP32 tasks of 768 tokens ran 1.005-1.05x the time of one group at a time and tasks of 128 tokens
  // 0.97-0.99x (development-ab.md, step 26).
  const int l2_tokens = std::max(16, (512 << 10) / (12 * H));
  chunk_tokens_ = knobs_.seq_chunk > 0 ? knobs_.seq_chunk : precision == Precision::kFP32 ? 768 : l2_tokens;
  task_tokens_ = knobs_.seq_chunk > 0 ? knobs_.seq_chunk : l2_tokens;
  // (DeBERTa: the group's c2p / p2c terms are [rows][heads][2 span] each: fewer rows per group than BERT's)
  if (cfg.disentangled_span > 0 && knobs_.seq_chunk <= 0) chunk_tokens_ = std::min(chunk_tokens_, 256), task_tokens_ = std::min(task_tokens_, 256);
  const int n_weights = cfg.layer_groups > 0 ? cfg.layer_groups : cfg.num_hidden_layers;
  layers_.resize(n_weights);
  // (shared layers: one set of smoothing factors would have to serve every position the group runs at; they are
  // quantized without smoothing)
  // (ModernBERT's LayerNorms run before their GEMMs as separate steps; it is quantized without smoothing too)
  if (precision == Precision::kINT8 && cfg.layer_groups == 0 && !cfg.modern && knobs_.int8_smoothing)
    return calibrate_and_pack(src, pool);
  AlignedBuffer<float> qkv(static_cast<size_t>(3) * H * H);
  for (int l = 0; l < n_weights; ++l) {
    LayerWeights lw;  // one layer's FP32 tensors at a time, packed, then dropped
    BERTRT_RETURN_IF_ERROR(read_layer(src, cfg, l, &lw));
    EncoderLayer& L = layers_[l];
    if (cfg.modern) {
      pack_modern_layer(lw, L);
      continue;
    }
    stack_qkv(lw, H, qkv.data(), L);
    take_layer(lw, L);
    if (cfg.disentangled_span > 0) disentangle_layer(qkv.data(), L.qkv.bias.data(), L, pool);
    pack_layer(lw, qkv.data(), precision, L);
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
Status Encoder::calibrate_and_pack(const WeightSource& src, ThreadPool& pool) {
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
  EncoderScratch s;
  relative_table(len, s);
  disentangled_table(len, s);
  AlignedBuffer<float> x(static_cast<size_t>(T) * H), qkv(static_cast<size_t>(3) * H * H);
  embed(b, positions.data(), x.data(), pool, 0);
  for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
    LayerWeights lw;
    BERTRT_RETURN_IF_ERROR(read_layer(src, cfg_, l, &lw));
    EncoderLayer& L = layers_[l];
    stack_qkv(lw, H, qkv.data(), L);
    take_layer(lw, L);
    if (cfg_.disentangled_span > 0) disentangle_layer(qkv.data(), L.qkv.bias.data(), L, pool);
    // the layer in FP32 (FP32 panels, not counted in the model's bytes), run over the batch, then packed in INT8
    L.qkv.pack(k_, Precision::kFP32, qkv.data(), 3 * H, H, false);
    L.attn_out.pack(k_, Precision::kFP32, lw.o_w.data(), H, H, false);
    L.inter.pack(k_, Precision::kFP32, lw.i_w.data(), I, H, false);
    if (cfg_.gated) L.gate.pack(k_, Precision::kFP32, lw.i_w.data() + static_cast<size_t>(I) * H, I, H, false);
    L.out.pack(k_, Precision::kFP32, lw.f_w.data(), H, I, false);
    std::vector<float> x_max(H, 0.f), ln1_max(H, 0.f);
    fold_abs_max(x.data(), T, H, x_max.data());
    layer(L, Precision::kFP32, x.data(), b, positions.data(), s, pool, 0, false, nullptr, ln1_max.data());
    L.qkv.smooth = smooth_factors(x_max, qkv.data(), 3 * H, H);
    // (gated: both input projections read the one quantized input, so one set of factors over their stacked rows)
    L.inter.smooth = smooth_factors(ln1_max, lw.i_w.data(), cfg_.gated ? 2 * I : I, H);
    pack_layer(lw, qkv.data(), Precision::kINT8, L);
    bytes_ += sizeof(float) * 2 * H;
  }
  return Status::Ok();
}

Status Encoder::forward(const BatchView& b, float* out, ThreadPool& pool, int nth) const {
  if (b.tokens > 0 && !out) return {Code::kInvalidArgument, "batch: missing ids, lengths or output"};
  int max_len = 0;
  BERTRT_RETURN_IF_ERROR(check_batch(b, cfg_, &max_len));
  std::vector<int32_t> positions(b.tokens);
  BERTRT_RETURN_IF_ERROR(positions_of(b, positions.data()));
  const int T = b.tokens;
  if (T == 0) return Status::Ok();

  // Activations live in a grow-only arena of the calling thread (in the addon, always the one job thread):
  // fresh allocations would page-fault tens of MB on every batch.
  static thread_local EncoderScratch scratch;
  relative_table(max_len, scratch);
  disentangled_table(max_len, scratch);
  dynamic_rope_tables(b, scratch);
  float* x = out;  // the residual stream lives in the caller's output buffer
  embed(b, positions.data(), x, pool, nth);
  const int L = cfg_.num_hidden_layers;
  if (cfg_.modern) {
    for (int l = 0; l < L; ++l) modern_layer(layers_[l], l, precision_, x, b, positions.data(), pool, nth);
    final_ln_.apply(*k_.fp32, x, T, pool, nth);
    return Status::Ok();
  }
  for (int l = 0; l < L; ++l)
    layer(weights_of(l), precision_, x, b, positions.data(), scratch, pool, nth, precision_ != Precision::kFP32 && l > 0,
          l + 1 < L ? &weights_of(l + 1) : nullptr, nullptr);
  return Status::Ok();
}

// (after check_batch)
Status Encoder::positions_of(const BatchView& b, int32_t* positions) const {
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

int Encoder::group_rows(const BatchView& b, int s0, int s1, GroupScratch& g) const {
  const int r0 = b.cu_seqlens[s0];
  g.cu.resize(s1 - s0 + 1);
  for (int i = s0; i <= s1; ++i) g.cu[i - s0] = b.cu_seqlens[i] - r0;
  return r0;
}

GroupScratch& group_scratch() {
  static thread_local GroupScratch g;
  return g;
}

int group_end(const BatchView& b, int s0, int chunk_tokens) {
  int s1 = s0 + 1;
  while (s1 < b.n_seqs && b.cu_seqlens[s1 + 1] - b.cu_seqlens[s0] <= chunk_tokens) ++s1;
  return s1;
}

// A batch of several short sequences runs each group as a task that one thread takes through the whole layer with
// single-threaded kernels, instead of one group at a time with each of its ~9 steps spread over the threads and
// closed by a wait for the slowest: INT8 32 x 128 in one-sequence groups made ~1,700 such waits per forward (perf:
// 4.9% of its samples in the pool, 0.3% with tasks). Same bits either way (every step is row by row or within a
// sequence). Measured on the AMD Zen 5, 2 threads, the embedded MiniLM, both plans alternating call by call in one
// process (bench/results/development-ab.md, step 26): 0.96-0.99 of the time for 8-128 sequences of 8-128 tokens in
// INT8 (BF16 0.84-0.99, FP32 0.97-0.99) and on length-sorted real batches; INT8 4 x 512 as tasks took 1.05x. Tasks
// need sequences that can be shared out evenly: at least two per thread, none longer than a thread's share of the
// tokens, none longer than two task groups (a 512-token sequence wants both cores' L2). Their groups are of about
// task_tokens, balanced by tokens, a multiple of the threads in number where the sequences allow; one group at a time
// runs groups of up to chunk_tokens. The post-norm layer and ModernBERT's pre-norm layer both run by this plan.
GroupPlan plan_groups(const BatchView& b, int chunk_tokens, int task_tokens, int threads, bool tasks_allowed) {
  GroupPlan plan;
  int longest = 0;
  for (int q = 0; q < b.n_seqs; ++q) longest = std::max(longest, b.cu_seqlens[q + 1] - b.cu_seqlens[q]);
  plan.tasks = tasks_allowed && threads > 1 && b.n_seqs >= 2 * threads && static_cast<int64_t>(longest) * threads <= b.tokens &&
               longest <= 2 * task_tokens;
  if (!plan.tasks) {
    for (int s0 = 0; s0 < b.n_seqs;) {
      const int s1 = group_end(b, s0, chunk_tokens);
      plan.groups.emplace_back(s0, s1);
      s0 = s1;
    }
    return plan;
  }
  int n = std::max(threads, (b.tokens + task_tokens - 1) / task_tokens);
  n = std::min((n + threads - 1) / threads * threads, b.n_seqs);
  for (int k = 1, s0 = 0; k <= n && s0 < b.n_seqs; ++k) {
    // group k ends at the last sequence that ends within k/n of the tokens (at least one sequence; the last takes the rest)
    const int64_t until = static_cast<int64_t>(b.tokens) * k / n;
    int s1 = s0 + 1;
    while (s1 < b.n_seqs && b.cu_seqlens[s1 + 1] <= until) ++s1;
    if (k == n) s1 = b.n_seqs;
    plan.groups.emplace_back(s0, s1);
    s0 = s1;
  }
  return plan;
}

cpu::AttentionArgs Encoder::attention_args() const {
  const int H = cfg_.hidden_size;
  cpu::AttentionArgs at;
  at.ld_qkv = 3 * H, at.ld_out = H;
  at.n_heads = cfg_.num_attention_heads, at.head_dim = H / cfg_.num_attention_heads;
  // (DeBERTa: the content and the two disentangled terms share one scale, 1/sqrt(3 head_dim))
  at.scale = 1.f / std::sqrt(static_cast<float>(at.head_dim) * (cfg_.disentangled_span > 0 ? 3.f : 1.f));
  return at;
}

void Encoder::embed(const BatchView& b, const int32_t* positions, float* x, ThreadPool& pool, int nth) const {
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
  e.gamma = emb_ln_.g.data();
  e.beta = emb_ln_.b.data();
  e.eps = emb_ln_.eps;
  e.h = E;
  e.tokens = b.tokens;
  e.out = cfg_.embedding_size > 0 ? narrow.data() : x;
  k_.fp32->embed_layernorm(e, pool, nth);
  if (cfg_.embedding_size > 0) {
    LinearInput unused;  // FP32 reads the rows as they are
    proj_.forward(narrow.data(), E, b.tokens, nullptr, x, cfg_.hidden_size, unused, pool, nth);
  }
}

Status BertModel::load(const BertConfig& config, const WeightFiles& path, const std::vector<TensorDesc>& tensors,
                       Precision precision, ThreadPool& pool, std::unique_ptr<BertModel>* out) {
  BERTRT_RETURN_IF_ERROR(check_config(config));
  if (precision == Precision::kFP8)
    return {Code::kUnsupported, "precision 'fp8' runs only on the CUDA backend (a GPU of compute capability 8.9 or newer, with cuBLASLt)"};
  WeightSource src;
  BERTRT_RETURN_IF_ERROR(src.open(path, tensors));
  auto m = std::make_unique<Encoder>();
  BERTRT_RETURN_IF_ERROR(m->bind(config, src, precision, pool));
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace bertrt
