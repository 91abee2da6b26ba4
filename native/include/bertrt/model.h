// The engine's C++ API: a BERT-family encoder loaded from a safetensors file whose header the caller (the
// TypeScript side) has parsed. Every size and offset is re-checked here before a byte is read.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bertrt/status.h"

namespace bertrt {

class ThreadPool;

struct BertConfig {
  int vocab_size = 0;
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int intermediate_size = 0;
  int max_position_embeddings = 0;
  int type_vocab_size = 0;  // 0: the model has no token-type embeddings (DistilBERT)
  float layer_norm_eps = 1e-12f;
  std::string hidden_act = "gelu";  // "gelu" (erf), or its tanh form: "gelu_new", "gelu_pytorch_tanh"; "silu" (gated FFNs)
  // Factorized embeddings (ALBERT, ELECTRA): the embedding tables and their LayerNorm are embedding_size wide and
  // embeddings.project.{weight [hidden][embedding_size], bias} maps them to hidden_size. 0: hidden_size wide.
  int embedding_size = 0;
  // Layers that share weights (ALBERT): layer l runs group l * layer_groups / num_hidden_layers, whose tensors are
  // bound under encoder.layer.<group>. 0: every layer has its own.
  int layer_groups = 0;
  // Position ids. -1: BERT's, 0, 1, 2, ... within each sequence. >= 0: RoBERTa's (and MPNet's) scheme around
  // padding_idx = the pad token's id: a pad token gets padding_idx, every other token padding_idx + 1 + the number
  // of non-pad tokens before it in its sequence (so a sequence holds at most max_position_embeddings -
  // padding_idx - 1 tokens).
  int padding_idx = -1;
  // MPNet's relative attention: a learned bias per head and bucket of the key's offset from the query
  // (encoder.relative_attention_bias.weight [buckets][heads], T5's bidirectional log buckets up to max_distance),
  // added to every layer's attention scores. 0: none.
  int relative_attention_buckets = 0;
  int relative_attention_max_distance = 128;
  // ModernBERT's block instead of BERT's: pre-LayerNorm (none before layer 0's attention), a fused Wqkv, rotary
  // position embeddings (no position table), a GeGLU MLP, every global_every-th layer global and the others a
  // sliding window of |i - j| <= local_window, a final LayerNorm. Tensor names: encoder.layer.<l>.{attn_norm,
  // attn.Wqkv, attn.Wo, mlp_norm, mlp.Wi, mlp.Wo}, encoder.final_norm.
  bool modern = false;
  bool norm_bias = true;       // LayerNorms carry a bias (ModernBERT: norm_bias, false in released checkpoints)
  bool attention_bias = true;  // ModernBERT: Wqkv and Wo carry biases
  bool mlp_bias = true;        // ModernBERT: Wi and Wo carry biases
  float rope_theta_global = 160000.f;
  float rope_theta_local = 10000.f;
  int global_every = 3;
  int local_window = 64;
  // DeBERTa-v2/v3's disentangled attention (disentangled_span > 0): a layer's scores gain q_i . Kr[idx] + k_j . Qr[idx]
  // (content-to-position, position-to-content), where Kr and Qr are its key and query projections of
  // encoder.rel_embeddings [2 span][hidden] (LayerNormed by encoder.LayerNorm when rel_norm) and idx = clamp(bucket(i -
  // j) + span, 0, 2 span - 1), bucket the log buckets of position_buckets up to max_relative_positions (or the plain
  // offset when position_buckets is 0); the scale is 1/sqrt(3 head_dim). position_table false: no absolute
  // positions (position_biased_input).
  int disentangled_span = 0;
  int position_buckets = 0;
  int max_relative_positions = 0;
  bool rel_norm = false;
  bool position_table = true;
  // Rotary positions in the post-norm layer (NomicBERT, GTE): Q and K rotated after the Q/K/V projection by RoPE
  // (rotate_half's layout) with theta rope_theta_global and NTK scaling by rope_ntk (GTE's rope_scaling: inverse
  // frequencies of theta * rope_ntk, divided by rope_ntk^(2 / head_dim); 1: none); position_table false.
  bool rotary = false;
  float rope_ntk = 1.f;
  // Dynamic NTK scaling (NomicBERT's rotary_scaling_factor, transformers' rope_type "dynamic"): a sequence of L >
  // rope_trained tokens is rotated with base theta * (rope_dynamic * L / rope_trained - (rope_dynamic - 1))^(d / (d - 2)),
  // d the head size, each sequence by its own length; shorter ones with theta. rope_dynamic 0: none.
  float rope_dynamic = 0.f;
  int rope_trained = 0;
  // A gated FFN (NomicBERT's SwiGLU, GTE's GeGLU): act(intermediate.dense(x)) * intermediate.up(x), then
  // output.dense; the act is hidden_act. mlp_in_bias: the two input projections carry biases; attention_bias and
  // mlp_bias (above) say the same of Q/K/V and the attention output, and of output.dense, in these families too.
  bool gated = false;
  bool mlp_in_bias = true;
};

enum class DType { kF32, kF16, kBF16 };

// What the encoder's GEMMs compute in. LayerNorm, softmax, GELU and the residual stream are FP32 in every mode.
//   kFP32  FP32 weights and activations
//   kINT8  weights s8 per output channel (quantized at load), activations u8 per token at run time, int32 sums
//   kBF16  weights and activations rounded to bfloat16, FP32 sums (AVX512-BF16 only)
//   kFP8   the CUDA backend only (compute capability 8.9+, cuBLASLt): weights E4M3 per output channel, activations E4M3
//          per token, FP32 sums; the CPU engine refuses it
enum class Precision { kFP32, kINT8, kBF16, kFP8 };

// One tensor of the weights: absolute byte range [begin, end) in weights file number `file` (a sharded checkpoint or
// a torch zip has several files or one file with storages anywhere in it).
struct TensorDesc {
  std::string name;  // canonical BERT name without a "bert." prefix, e.g. encoder.layer.0.attention.self.query.weight
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
  uint32_t file = 0;
};

// The weights files a model's TensorDescs index.
using WeightFiles = std::vector<std::string>;

// A packed batch: sequence s owns tokens [cu_seqlens[s], cu_seqlens[s+1]).
struct BatchView {
  const int32_t* ids = nullptr;
  const int32_t* type_ids = nullptr;  // may be null: all zero
  const int32_t* cu_seqlens = nullptr;
  int n_seqs = 0;
  int tokens = 0;
  // may be null: every token is a key. Else sequence s's tokens past its first key_lens[s] are queries only (no
  // token attends to them: ColBERT's query expansion, whose [MASK] padding has attention mask 0 but gets vectors).
  // Last, so that brace-initialized views of the fields above keep their meaning.
  const int32_t* key_lens = nullptr;
};

class BertModel {
 public:
  virtual ~BertModel() = default;
  // INT8 runs a calibration batch through the FP32 layers while loading (see Bert::calibrate_and_pack), on pool.
  static Status load(const BertConfig& config, const WeightFiles& weights, const std::vector<TensorDesc>& tensors,
                     Precision precision, ThreadPool& pool, std::unique_ptr<BertModel>* out);
  // Validates the batch, then writes hidden states [tokens][hidden_size] to out. Safe to call concurrently.
  virtual Status forward(const BatchView& batch, float* out, ThreadPool& pool, int nth) const = 0;
  // Scores against the (tied) word-embedding matrix, the MLM decoder: out[r][v] = bias[v] + x[r] . word[v] for
  // rows of x [rows][hidden_size]; bias (vocab_size floats) may be null. Memory-bound; parallel over the vocabulary.
  virtual Status vocab_logits(const float* x, int rows, const float* bias, float* out, ThreadPool& pool, int nth) const = 0;
  // The SPLADE head over the same decoder: out[s][v] = max (sum: the sum) over the rows r of sequence s (rows
  // cu_seqlens[s] .. cu_seqlens[s+1] of x) of log(1 + relu(bias[v] + x[r] . word[v])), [n_seqs][vocab_size]. The
  // [rows][vocab] logits are never stored: memory stays at x and out.
  virtual Status vocab_sparse(const float* x, const int32_t* cu_seqlens, int n_seqs, const float* bias, bool sum, float* out,
                              ThreadPool& pool, int nth) const = 0;
  virtual const BertConfig& config() const = 0;
  virtual size_t weight_bytes() const = 0;
  virtual Precision precision() const = 0;
  // Name of the kernel table the GEMMs use (e.g. "avx512").
  virtual const char* gemm_isa() const = 0;
};

}  // namespace bertrt
