// Weight file access with defensive checks: a truncated or lying safetensors file gives E_MODEL_FORMAT naming
// the tensor, never an out-of-bounds read.
#include "weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace bertrt {

namespace {
size_t dtype_size(DType d) { return d == DType::kF32 ? 4 : 2; }

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}
}  // namespace

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_f32(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

Status WeightSource::open(const WeightFiles& paths, const std::vector<TensorDesc>& tensors) {
  if (paths.empty()) return {Code::kInvalidArgument, "no weights file given"};
  paths_ = paths;
  files_.clear();
  for (const std::string& p : paths) {
    files_.push_back(std::make_unique<MappedFile>());
    BERTRT_RETURN_IF_ERROR(files_.back()->open(p));
  }
  for (const TensorDesc& t : tensors) {
    if (t.file >= files_.size())
      return {Code::kInvalidArgument, "tensor '" + t.name + "' names weights file " + std::to_string(t.file) + " of " + std::to_string(files_.size())};
    const MappedFile& file = *files_[t.file];
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || (d > 0 && numel > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)))
        return {Code::kModelFormat, "tensor '" + t.name + "' has an invalid shape " + shape_str(t.shape)};
      numel *= static_cast<uint64_t>(d);
    }
    if (t.end < t.begin || t.end > file.size())
      return {Code::kModelFormat, "tensor '" + t.name + "' lies outside " + paths_[t.file] + " (bytes " + std::to_string(t.begin) + ".." +
                                      std::to_string(t.end) + " of " + std::to_string(file.size()) + "): truncated file?"};
    if (numel > std::numeric_limits<uint64_t>::max() / 4 || t.end - t.begin != numel * dtype_size(t.dtype))
      return {Code::kModelFormat, "tensor '" + t.name + "' holds " + std::to_string(t.end - t.begin) + " bytes, its shape " +
                                      shape_str(t.shape) + " needs " + std::to_string(numel * dtype_size(t.dtype))};
    index_[t.name] = t;
  }
  return Status::Ok();
}

namespace {
// A bias the config says exists is read; one it says does not is zeros.
Status read_or_zero(const WeightSource& src, const std::string& name, bool present, int64_t n, AlignedBuffer<float>* out) {
  if (present) return src.read(name, {n}, out);
  out->resize(static_cast<size_t>(n));
  std::fill(out->data(), out->data() + n, 0.f);
  return Status::Ok();
}
}  // namespace

Status read_embeddings(const WeightSource& src, const BertConfig& cfg, EmbeddingWeights* out, bool word_f16) {
  const int H = embedding_width(cfg);
  if (cfg.embedding_size > 0) {
    BERTRT_RETURN_IF_ERROR(src.read("embeddings.project.weight", {cfg.hidden_size, H}, &out->proj_w));
    BERTRT_RETURN_IF_ERROR(src.read("embeddings.project.bias", {cfg.hidden_size}, &out->proj_b));
  }
  bool is_f16 = false;
  if (word_f16) BERTRT_RETURN_IF_ERROR(src.read_f16("embeddings.word_embeddings.weight", {cfg.vocab_size, H}, &out->word_f16, &is_f16));
  if (!is_f16) BERTRT_RETURN_IF_ERROR(src.read("embeddings.word_embeddings.weight", {cfg.vocab_size, H}, &out->word));
  if (cfg.modern) {  // no position or type tables; LayerNorms maybe without bias; a final norm
    BERTRT_RETURN_IF_ERROR(src.read("embeddings.LayerNorm.weight", {H}, &out->ln_g));
    BERTRT_RETURN_IF_ERROR(read_or_zero(src, "embeddings.LayerNorm.bias", cfg.norm_bias, H, &out->ln_b));
    BERTRT_RETURN_IF_ERROR(src.read("encoder.final_norm.weight", {H}, &out->final_g));
    return read_or_zero(src, "encoder.final_norm.bias", cfg.norm_bias, H, &out->final_b);
  }
  if (cfg.position_table)
    BERTRT_RETURN_IF_ERROR(src.read("embeddings.position_embeddings.weight", {cfg.max_position_embeddings, H}, &out->pos));
  if (cfg.disentangled_span > 0) {
    BERTRT_RETURN_IF_ERROR(src.read("encoder.rel_embeddings.weight", {2 * static_cast<int64_t>(cfg.disentangled_span), cfg.hidden_size}, &out->rel_emb));
    if (cfg.rel_norm) {
      BERTRT_RETURN_IF_ERROR(src.read("encoder.LayerNorm.weight", {cfg.hidden_size}, &out->rel_g));
      BERTRT_RETURN_IF_ERROR(src.read("encoder.LayerNorm.bias", {cfg.hidden_size}, &out->rel_b));
    }
  }
  if (cfg.type_vocab_size > 0)
    BERTRT_RETURN_IF_ERROR(src.read("embeddings.token_type_embeddings.weight", {cfg.type_vocab_size, H}, &out->type));
  BERTRT_RETURN_IF_ERROR(src.read("embeddings.LayerNorm.weight", {H}, &out->ln_g));
  if (cfg.relative_attention_buckets > 0)
    BERTRT_RETURN_IF_ERROR(src.read("encoder.relative_attention_bias.weight",
                                    {cfg.relative_attention_buckets, cfg.num_attention_heads}, &out->rel));
  return src.read("embeddings.LayerNorm.bias", {H}, &out->ln_b);
}

Status read_layer(const WeightSource& src, const BertConfig& cfg, int layer, LayerWeights* out) {
  const int64_t H = cfg.hidden_size, I = cfg.intermediate_size;
  const std::string p = "encoder.layer." + std::to_string(layer) + ".";
  if (cfg.modern) {
    BERTRT_RETURN_IF_ERROR(src.read(p + "attn.Wqkv.weight", {3 * H, H}, &out->q_w));
    BERTRT_RETURN_IF_ERROR(read_or_zero(src, p + "attn.Wqkv.bias", cfg.attention_bias, 3 * H, &out->q_b));
    BERTRT_RETURN_IF_ERROR(src.read(p + "attn.Wo.weight", {H, H}, &out->o_w));
    BERTRT_RETURN_IF_ERROR(read_or_zero(src, p + "attn.Wo.bias", cfg.attention_bias, H, &out->o_b));
    if (layer > 0) {  // layer 0's attention reads the embeddings' LayerNorm output as it is
      BERTRT_RETURN_IF_ERROR(src.read(p + "attn_norm.weight", {H}, &out->ln1_g));
      BERTRT_RETURN_IF_ERROR(read_or_zero(src, p + "attn_norm.bias", cfg.norm_bias, H, &out->ln1_b));
    }
    BERTRT_RETURN_IF_ERROR(src.read(p + "mlp_norm.weight", {H}, &out->ln2_g));
    BERTRT_RETURN_IF_ERROR(read_or_zero(src, p + "mlp_norm.bias", cfg.norm_bias, H, &out->ln2_b));
    BERTRT_RETURN_IF_ERROR(src.read(p + "mlp.Wi.weight", {2 * I, H}, &out->i_w));
    BERTRT_RETURN_IF_ERROR(read_or_zero(src, p + "mlp.Wi.bias", cfg.mlp_bias, 2 * I, &out->i_b));
    BERTRT_RETURN_IF_ERROR(src.read(p + "mlp.Wo.weight", {H, I}, &out->f_w));
    return read_or_zero(src, p + "mlp.Wo.bias", cfg.mlp_bias, H, &out->f_b);
  }
  const struct {
    const char* name;
    int64_t rows, cols;  // cols 0: a vector
    AlignedBuffer<float>* dst;
    bool present;  // false: a bias the config says the checkpoint leaves out (zeros)
  } tensors[] = {
      {"attention.self.query.weight", H, H, &out->q_w, true},   {"attention.self.query.bias", H, 0, &out->q_b, cfg.attention_bias},
      {"attention.self.key.weight", H, H, &out->k_w, true},     {"attention.self.key.bias", H, 0, &out->k_b, cfg.attention_bias},
      {"attention.self.value.weight", H, H, &out->v_w, true},   {"attention.self.value.bias", H, 0, &out->v_b, cfg.attention_bias},
      {"attention.output.dense.weight", H, H, &out->o_w, true}, {"attention.output.dense.bias", H, 0, &out->o_b, cfg.attention_bias},
      {"attention.output.LayerNorm.weight", H, 0, &out->ln1_g, true}, {"attention.output.LayerNorm.bias", H, 0, &out->ln1_b, true},
      {"intermediate.dense.weight", I, H, &out->i_w, true},     {"intermediate.dense.bias", I, 0, &out->i_b, cfg.mlp_in_bias},
      {"output.dense.weight", H, I, &out->f_w, true},           {"output.dense.bias", H, 0, &out->f_b, cfg.mlp_bias},
      {"output.LayerNorm.weight", H, 0, &out->ln2_g, true},     {"output.LayerNorm.bias", H, 0, &out->ln2_b, true},
  };
  for (const auto& t : tensors) {
    if (t.cols > 0) BERTRT_RETURN_IF_ERROR(src.read(p + t.name, {t.rows, t.cols}, t.dst));
    else BERTRT_RETURN_IF_ERROR(read_or_zero(src, p + t.name, t.present, t.rows, t.dst));
  }
  if (!cfg.gated) return Status::Ok();
  // the gated FFN's second input projection, stacked under the first: i [2I][H] (activated rows, then multiplier rows)
  AlignedBuffer<float> up_w, up_b;
  BERTRT_RETURN_IF_ERROR(src.read(p + "intermediate.up.weight", {I, H}, &up_w));
  BERTRT_RETURN_IF_ERROR(read_or_zero(src, p + "intermediate.up.bias", cfg.mlp_in_bias, I, &up_b));
  AlignedBuffer<float> w(static_cast<size_t>(2 * I * H)), b(static_cast<size_t>(2 * I));
  std::memcpy(w.data(), out->i_w.data(), sizeof(float) * I * H);
  std::memcpy(w.data() + I * H, up_w.data(), sizeof(float) * I * H);
  std::memcpy(b.data(), out->i_b.data(), sizeof(float) * I);
  std::memcpy(b.data() + I, up_b.data(), sizeof(float) * I);
  out->i_w = std::move(w), out->i_b = std::move(b);
  return Status::Ok();
}

Status WeightSource::find(const std::string& name, const std::vector<int64_t>& shape, const TensorDesc** t, size_t* n) const {
  auto it = index_.find(name);
  if (it == index_.end()) return {Code::kModelFormat, "weights " + paths_[0] + (paths_.size() > 1 ? " (and " + std::to_string(paths_.size() - 1) + " more files)" : std::string()) + " have no tensor '" + name + "'"};
  *t = &it->second;
  if ((*t)->shape != shape)
    return {Code::kShape, "tensor '" + name + "' has shape " + shape_str((*t)->shape) + ", the config implies " + shape_str(shape)};
  *n = 1;
  for (int64_t d : shape) *n *= static_cast<size_t>(d);  // open() checked the product against the tensor's bytes
  return Status::Ok();
}

namespace {
// A NaN or infinity in a weight poisons every output that touches it; refuse the file instead of serving nulls.
Status non_finite(const std::string& name, const std::string& path, bool nan, size_t i) {
  return {Code::kModelFormat, "tensor '" + name + "' in '" + path + "' holds a non-finite value (" +
                                  (nan ? std::string("NaN") : std::string("infinity")) + ") at element " + std::to_string(i)};
}
}  // namespace

Status WeightSource::read(const std::string& name, const std::vector<int64_t>& shape, AlignedBuffer<float>* out) const {
  const TensorDesc* t = nullptr;
  size_t n = 0;
  BERTRT_RETURN_IF_ERROR(find(name, shape, &t, &n));
  out->resize(n);
  float* dst = out->data();
  const MappedFile& file = *files_[t->file];
  const uint8_t* src = file.data() + t->begin;
  switch (t->dtype) {
    case DType::kF32:
      std::memcpy(dst, src, n * 4);
      break;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      break;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      break;
  }
  file.release(t->begin, t->end);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(dst[i])) {
      out->resize(0);
      return non_finite(name, paths_[t->file], std::isnan(dst[i]), i);
    }
  }
  return Status::Ok();
}

Status WeightSource::read_f16(const std::string& name, const std::vector<int64_t>& shape, AlignedBuffer<uint16_t>* out, bool* is_f16) const {
  const TensorDesc* t = nullptr;
  size_t n = 0;
  BERTRT_RETURN_IF_ERROR(find(name, shape, &t, &n));
  *is_f16 = t->dtype == DType::kF16;
  if (!*is_f16) return Status::Ok();
  out->resize(n);
  const MappedFile& file = *files_[t->file];
  std::memcpy(out->data(), file.data() + t->begin, n * 2);
  file.release(t->begin, t->end);
  for (size_t i = 0; i < n; ++i) {
    const uint16_t h = out->data()[i];
    if ((h & 0x7c00) == 0x7c00) {  // exponent all ones: infinity or NaN
      out->resize(0);
      return non_finite(name, paths_[t->file], (h & 0x3ff) != 0, i);
    }
  }
  return Status::Ok();
}

}  // namespace bertrt
