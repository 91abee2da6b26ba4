// Reads named tensors out of a memory-mapped safetensors file into FP32 buffers, checking every range, dtype
// and shape that came from the file or the caller.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../core/aligned.h"
#include "../core/mapped_file.h"
#include "bertrt/model.h"

namespace bertrt {

class WeightSource {
 public:
  Status open(const WeightFiles& paths, const std::vector<TensorDesc>& tensors);
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  // Copies tensor `name` (F32, F16 or BF16 in the file) into out as FP32, after checking its shape.
  Status read(const std::string& name, const std::vector<int64_t>& shape, AlignedBuffer<float>* out) const;
  // The same checks, for a tensor the file holds in F16: copies its halves as they are into out. Sets *is_f16 false
  // and leaves out alone when the file holds it in another type.
  Status read_f16(const std::string& name, const std::vector<int64_t>& shape, AlignedBuffer<uint16_t>* out, bool* is_f16) const;

 private:
  Status find(const std::string& name, const std::vector<int64_t>& shape, const TensorDesc** t, size_t* n) const;
  std::vector<std::unique_ptr<MappedFile>> files_;
  WeightFiles paths_;
  std::map<std::string, TensorDesc> index_;
};

// The BERT encoder's tensors as FP32, each read and shape-checked against the config: the one list of names and
// shapes that the CPU engine and the CUDA backend both load from.
struct EmbeddingWeights {
  AlignedBuffer<float> word, pos, type, ln_g, ln_b;  // type is empty when the model has no token types
  AlignedBuffer<uint16_t> word_f16;  // the word table as the file's halves (word then empty): see read_embeddings
  AlignedBuffer<float> rel;  // encoder.relative_attention_bias.weight [buckets][heads]; empty without relative attention
  AlignedBuffer<float> proj_w, proj_b;  // embeddings.project [hidden][embedding_size], [hidden]; empty unless factorized
  AlignedBuffer<float> final_g, final_b;  // ModernBERT: encoder.final_norm
  AlignedBuffer<float> rel_emb, rel_g, rel_b;  // DeBERTa: encoder.rel_embeddings [2 span][hidden], encoder.LayerNorm
};
struct LayerWeights {
  AlignedBuffer<float> q_w, q_b, k_w, k_b, v_w, v_b;  // attention.self.{query,key,value}
  AlignedBuffer<float> o_w, o_b, ln1_g, ln1_b;        // attention.output.{dense,LayerNorm}
  AlignedBuffer<float> i_w, i_b;                      // intermediate.dense
  AlignedBuffer<float> f_w, f_b, ln2_g, ln2_b;        // output.{dense,LayerNorm}
};
// word_f16: a word table the file holds in F16 goes to out->word_f16 as it is, never widened (the largest tensor).
Status read_embeddings(const WeightSource& src, const BertConfig& cfg, EmbeddingWeights* out, bool word_f16 = false);
// `layer` is the index of the weights: the layer's own, or its group's (BertConfig::layer_groups). ModernBERT's layers
// land in the same fields: q_w/q_b its fused Wqkv [3H][H], o the attention's Wo, ln1 attn_norm (empty in layer 0),
// i its Wi [2I][H] (GELU's input rows, then the gate's), f the MLP's Wo, ln2 mlp_norm; missing biases are zeros. A gated
// post-norm layer (BertConfig::gated) has i [2I][H] too: intermediate.dense's rows (activated), then intermediate.up's.
Status read_layer(const WeightSource& src, const BertConfig& cfg, int layer, LayerWeights* out);
// The width of the embedding tables: embedding_size when factorized, else hidden_size.
inline int embedding_width(const BertConfig& c) { return c.embedding_size > 0 ? c.embedding_size : c.hidden_size; }

// Element conversions, exposed for tests.
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);

}  // namespace bertrt
