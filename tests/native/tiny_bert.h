// A tiny random BERT for the native tests: its weights (exactly representable in the dtype each is stored as), a
// safetensors writer, and a float64 encoder written from the paper's equations as the reference.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bertrt/model.h"
#include "harness.h"

namespace tiny {

using bertrt::BertConfig;
using bertrt::DType;
using bertrt::TensorDesc;

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // values exactly representable in the dtype they are stored as
  DType dtype;
};

inline uint16_t to_half_exact(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7fffffff) == 0) return static_cast<uint16_t>(b >> 16);
  uint32_t sign = (b >> 16) & 0x8000, e = (b >> 23) & 0xff, m = b & 0x7fffff;
  return static_cast<uint16_t>(sign | ((e - 127 + 15) << 10) | (m >> 13));
}

// Writes a safetensors file; returns the descriptors the TS side would derive from its header.
inline std::vector<TensorDesc> write_safetensors(const std::string& path, const std::map<std::string, Tensor>& ts) {
  std::string header = "{";
  std::vector<TensorDesc> descs;
  uint64_t off = 0;
  std::string body;
  for (auto& [name, t] : ts) {
    TensorDesc d;
    d.name = name, d.dtype = t.dtype, d.shape = t.shape;
    size_t es = t.dtype == DType::kF32 ? 4 : 2;
    std::string bytes(t.data.size() * es, '\0');
    for (size_t i = 0; i < t.data.size(); ++i) {
      if (t.dtype == DType::kF32) {
        std::memcpy(&bytes[i * 4], &t.data[i], 4);
      } else {
        uint32_t b;
        std::memcpy(&b, &t.data[i], 4);
        uint16_t h = t.dtype == DType::kBF16 ? static_cast<uint16_t>(b >> 16) : to_half_exact(t.data[i]);
        std::memcpy(&bytes[i * 2], &h, 2);
      }
    }
    const char* dt = t.dtype == DType::kF32 ? "F32" : t.dtype == DType::kF16 ? "F16" : "BF16";
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? "," : "") + std::to_string(t.shape[i]);
    if (header.size() > 1) header += ",";
    header += "\"" + name + "\":{\"dtype\":\"" + dt + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(off) + "," + std::to_string(off + bytes.size()) + "]}";
    d.begin = off;
    d.end = off + bytes.size();
    descs.push_back(d);
    off += bytes.size();
    body += bytes;
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  uint64_t n = header.size();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header << body;
  for (auto& d : descs) d.begin += 8 + n, d.end += 8 + n;
  return descs;
}

struct Tiny {
  BertConfig cfg;
  std::map<std::string, Tensor> w;
};

// Random tensors for the tiny models: stored as F32, F16 and BF16 in turn, every value a multiple of 1/256 in [lo, hi]
// (exact in F16 and in BF16: |k| < 256 keeps BF16's 8-bit mantissa).
struct Filler {
  Tiny& m;
  th::Rng rng;
  int which = 0;
  Filler(Tiny& model, uint64_t seed) : m(model), rng(seed) {}
  void operator()(const std::string& name, std::vector<int64_t> shape, float lo, float hi) {
    Tensor t;
    t.shape = shape;
    size_t n = 1;
    for (auto d : shape) n *= d;
    t.dtype = which % 3 == 0 ? DType::kF32 : which % 3 == 1 ? DType::kF16 : DType::kBF16;
    ++which;
    t.data.resize(n);
    for (auto& x : t.data) {
      float v = rng.uniform(lo, hi);
      x = std::round(v * 256.f) / 256.f;
      if (t.dtype == DType::kBF16) x = std::fmax(std::fmin(x, 255.f / 256.f), -255.f / 256.f);
    }
    m.w[name] = t;
  }
};

// A random two-layer BERT; tensors stored as F32, F16 and BF16 in turn. rotary: NomicBERT's layer instead (RoPE, no
// position table, a SwiGLU FFN with intermediate.up, no biases on Q/K/V, the attention output or the FFN input).
inline Tiny make_tiny(uint64_t seed, int H = 48, int heads = 4, int I = 96, int max_pos = 32, bool rotary = false) {
  Tiny m;
  m.cfg.vocab_size = 64, m.cfg.hidden_size = H, m.cfg.num_hidden_layers = 2, m.cfg.num_attention_heads = heads;
  m.cfg.intermediate_size = I, m.cfg.max_position_embeddings = max_pos, m.cfg.type_vocab_size = 2, m.cfg.layer_norm_eps = 1e-12f;
  if (rotary) {
    m.cfg.rotary = true, m.cfg.position_table = false, m.cfg.gated = true, m.cfg.hidden_act = "silu";
    m.cfg.rope_theta_global = 1000.f, m.cfg.attention_bias = false, m.cfg.mlp_in_bias = false;
  }
  Filler add(m, seed);
  const float s = 0.25f * std::sqrt(48.f / H);  // keeps pre-activations at the same scale for any width
  add("embeddings.word_embeddings.weight", {64, H}, -1, 1);
  if (!rotary) add("embeddings.position_embeddings.weight", {max_pos, H}, -0.5, 0.5);
  add("embeddings.token_type_embeddings.weight", {2, H}, -0.5, 0.5);
  add("embeddings.LayerNorm.weight", {H}, 0.5, 0.99);
  add("embeddings.LayerNorm.bias", {H}, -0.2, 0.2);
  for (int l = 0; l < 2; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* q : {"query", "key", "value"}) {
      add(p + "attention.self." + q + ".weight", {H, H}, -s, s);
      if (!rotary) add(p + "attention.self." + q + ".bias", {H}, -0.1, 0.1);
    }
    add(p + "attention.output.dense.weight", {H, H}, -s, s);
    if (!rotary) add(p + "attention.output.dense.bias", {H}, -0.1, 0.1);
    add(p + "attention.output.LayerNorm.weight", {H}, 0.5, 0.99);
    add(p + "attention.output.LayerNorm.bias", {H}, -0.2, 0.2);
    add(p + "intermediate.dense.weight", {I, H}, -s, s);
    if (rotary) add(p + "intermediate.up.weight", {I, H}, -s, s);
    else add(p + "intermediate.dense.bias", {I}, -0.1, 0.1);
    add(p + "output.dense.weight", {H, I}, -s, s);
    add(p + "output.dense.bias", {H}, -0.1, 0.1);
    add(p + "output.LayerNorm.weight", {H}, 0.5, 0.99);
    add(p + "output.LayerNorm.bias", {H}, -0.2, 0.2);
  }
  return m;
}

// A random ModernBERT (transformers' ModernBertModel, as the engine names its tensors): pre-LayerNorm without biases
// (none before layer 0's attention), fused Wqkv, RoPE with theta 160000 on the global layers (0 and 3) and 10000 on
// the local ones, a sliding window of |i - j| <= window on the local layers, a GeGLU MLP (Wi = [input; gate]), no
// linear biases, a final LayerNorm; eps 1e-5. Four layers, so that both kinds of layer follow both kinds.
inline Tiny make_tiny_modern(uint64_t seed, int H = 48, int heads = 4, int I = 64, int max_pos = 256, int window = 8) {
  Tiny m;
  BertConfig& c = m.cfg;
  c.vocab_size = 64, c.hidden_size = H, c.num_hidden_layers = 4, c.num_attention_heads = heads, c.intermediate_size = I;
  c.max_position_embeddings = max_pos, c.type_vocab_size = 0, c.layer_norm_eps = 1e-5f;
  c.modern = true, c.position_table = false, c.norm_bias = false, c.attention_bias = false, c.mlp_bias = false;
  c.rope_theta_global = 160000.f, c.rope_theta_local = 10000.f, c.global_every = 3, c.local_window = window;
  Filler add(m, seed);
  const float s = 0.25f * std::sqrt(48.f / H);
  add("embeddings.word_embeddings.weight", {64, H}, -1, 1);
  add("embeddings.LayerNorm.weight", {H}, 0.5, 0.99);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    if (l > 0) add(p + "attn_norm.weight", {H}, 0.5, 0.99);
    add(p + "attn.Wqkv.weight", {3 * H, H}, -s, s);
    add(p + "attn.Wo.weight", {H, H}, -s, s);
    add(p + "mlp_norm.weight", {H}, 0.5, 0.99);
    add(p + "mlp.Wi.weight", {2 * I, H}, -s, s);
    add(p + "mlp.Wo.weight", {H, I}, -s, s);
  }
  add("encoder.final_norm.weight", {H}, 0.5, 0.99);
  return m;
}

// A random BERT with factorized embeddings (ALBERT, ELECTRA): word, position and type tables and their LayerNorm at
// width E, then embeddings.project [H][E] to the hidden size; groups > 0: ALBERT's shared layers (layer l runs the
// weights of group l * groups / layers, bound under encoder.layer.<group>), with its tanh GELU; three layers.
inline Tiny make_tiny_factorized(uint64_t seed, int H = 64, int heads = 2, int I = 128, int max_pos = 256, int E = 32, int groups = 1) {
  Tiny m;
  BertConfig& c = m.cfg;
  c.vocab_size = 64, c.hidden_size = H, c.num_hidden_layers = 3, c.num_attention_heads = heads, c.intermediate_size = I;
  c.max_position_embeddings = max_pos, c.type_vocab_size = 2, c.layer_norm_eps = 1e-12f;
  c.embedding_size = E, c.layer_groups = groups, c.hidden_act = groups > 0 ? "gelu_new" : "gelu";
  Filler add(m, seed);
  const float s = 0.25f * std::sqrt(48.f / H);
  add("embeddings.word_embeddings.weight", {64, E}, -1, 1);
  add("embeddings.position_embeddings.weight", {max_pos, E}, -0.5, 0.5);
  add("embeddings.token_type_embeddings.weight", {2, E}, -0.5, 0.5);
  add("embeddings.LayerNorm.weight", {E}, 0.5, 0.99);
  add("embeddings.LayerNorm.bias", {E}, -0.2, 0.2);
  add("embeddings.project.weight", {H, E}, -0.25f * std::sqrt(48.f / E), 0.25f * std::sqrt(48.f / E));
  add("embeddings.project.bias", {H}, -0.1, 0.1);
  for (int l = 0; l < (groups > 0 ? groups : c.num_hidden_layers); ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* q : {"query", "key", "value"}) {
      add(p + "attention.self." + q + ".weight", {H, H}, -s, s);
      add(p + "attention.self." + q + ".bias", {H}, -0.1, 0.1);
    }
    add(p + "attention.output.dense.weight", {H, H}, -s, s);
    add(p + "attention.output.dense.bias", {H}, -0.1, 0.1);
    add(p + "attention.output.LayerNorm.weight", {H}, 0.5, 0.99);
    add(p + "attention.output.LayerNorm.bias", {H}, -0.2, 0.2);
    add(p + "intermediate.dense.weight", {I, H}, -s, s);
    add(p + "intermediate.dense.bias", {I}, -0.1, 0.1);
    add(p + "output.dense.weight", {H, I}, -s, s);
    add(p + "output.dense.bias", {H}, -0.1, 0.1);
    add(p + "output.LayerNorm.weight", {H}, 0.5, 0.99);
    add(p + "output.LayerNorm.bias", {H}, -0.2, 0.2);
  }
  return m;
}

// A random DeBERTa-v3 (transformers' DebertaV2Model with relative_attention, pos_att_type [p2c, c2p], share_att_key,
// norm_rel_ebd "layer_norm", position_biased_input false): BERT's post-norm layer with disentangled attention over
// 2 * buckets relative embeddings (log buckets past buckets / 2 up to max_rel), no position or type table.
inline Tiny make_tiny_deberta(uint64_t seed, int H = 48, int heads = 4, int I = 96, int max_pos = 256, int buckets = 16,
                              int max_rel = 64) {
  Tiny m = make_tiny(seed, H, heads, I, max_pos);
  BertConfig& c = m.cfg;
  c.position_table = false, c.type_vocab_size = 0, c.layer_norm_eps = 1e-7f;
  c.disentangled_span = buckets, c.position_buckets = buckets, c.max_relative_positions = max_rel, c.rel_norm = true;
  m.w.erase("embeddings.position_embeddings.weight");
  m.w.erase("embeddings.token_type_embeddings.weight");
  Filler add(m, seed + 1000);
  add("encoder.rel_embeddings.weight", {2 * buckets, H}, -1, 1);
  add("encoder.LayerNorm.weight", {H}, 0.5, 0.99);
  add("encoder.LayerNorm.bias", {H}, -0.2, 0.2);
  return m;
}

// MPNet's relative attention on a tiny model: 32 buckets up to distance 128 (MPNet's), a learned bias per bucket and
// head (encoder.relative_attention_bias.weight [32][heads]) added to every layer's scaled scores.
inline void add_relative(Tiny& m, uint64_t seed) {
  const int heads = m.cfg.num_attention_heads;
  m.cfg.relative_attention_buckets = 32, m.cfg.relative_attention_max_distance = 128;
  th::Rng rng(seed);
  Tensor t;
  t.shape = {32, heads}, t.dtype = DType::kF32, t.data.resize(size_t(32) * heads);
  for (auto& x : t.data) x = std::round(rng.uniform(-2.f, 2.f) * 256.f) / 256.f;
  m.w["encoder.relative_attention_bias.weight"] = t;
}

// The bucket of key offset rel = j - i as transformers' MPNet computes it (relative_position_bucket: n = -rel, the
// upper half of the buckets for keys after the query, exact below a quarter, log-spaced to max_distance in float32).
inline int mpnet_bucket(int rel, int buckets, int max_distance) {
  const int n = -rel, half = buckets / 2, exact = half / 2, a = std::abs(n);
  const int ret = n < 0 ? half : 0;
  if (a < exact) return ret + a;
  const float large = float(exact) + std::log(float(a) / float(exact)) / float(std::log(double(max_distance) / exact)) * float(half - exact);
  return ret + std::min(static_cast<int>(large), half - 1);
}

// DeBERTa's bucket of offset rel = i - j (transformers' make_log_bucket_position, its float32 log and ceil): offsets
// inside +-bucket_size / 2 as they are, longer ones log-spaced up to max_position.
inline int deberta_bucket(int rel, int bucket_size, int max_position) {
  const int mid = bucket_size / 2;
  const int abs_pos = rel < mid && rel > -mid ? mid - 1 : std::abs(rel);
  if (abs_pos <= mid) return rel;
  const float log_pos = std::ceil(std::log(float(abs_pos) / float(mid)) / std::log(float(double(max_position - 1) / mid)) * float(mid - 1)) + float(mid);
  return int(log_pos) * (rel > 0 ? 1 : -1);
}

// The pieces of the float64 references: row-wise LayerNorm (with the bias when the model has one) and x . W^T + b over
// L rows, the rotation of q or k by RoPE (pairs (i, i + dh / 2), angle t * inv_freq_i), and softmax(scores) . V of one
// head's row.
struct Ref {
  const Tiny& m;
  int L, H;
  const std::vector<float>& W(const std::string& n) const { return m.w.at(n).data; }
  void ln(std::vector<double>& x, const std::string& n, int rows = -1) const {
    const bool bias = m.w.count(n + ".bias") != 0;
    for (int t = 0; t < (rows < 0 ? L : rows); ++t) {
      double mean = 0, var = 0;
      for (int j = 0; j < H; ++j) mean += x[t * H + j];
      mean /= H;
      for (int j = 0; j < H; ++j) var += (x[t * H + j] - mean) * (x[t * H + j] - mean);
      var /= H;
      for (int j = 0; j < H; ++j)
        x[t * H + j] = (x[t * H + j] - mean) / std::sqrt(var + double(m.cfg.layer_norm_eps)) * W(n + ".weight")[j] + (bias ? W(n + ".bias")[j] : 0.0);
    }
  }
  std::vector<double> linear(const std::vector<double>& x, int in, const std::string& n, int outd, int rows = -1, int row0 = 0) const {
    const int R = rows < 0 ? L : rows;
    std::vector<double> y(size_t(R) * outd);
    const bool bias = m.w.count(n + ".bias") != 0;
    for (int t = 0; t < R; ++t)
      for (int o = 0; o < outd; ++o) {
        double s = bias ? W(n + ".bias")[row0 + o] : 0.0;
        for (int i = 0; i < in; ++i) s += x[t * in + i] * W(n + ".weight")[size_t(row0 + o) * in + i];
        y[size_t(t) * outd + o] = s;
      }
    return y;
  }
  void rope(std::vector<double>& v, int ld, double base, double ntk = 1.0) const {
    const int nh = m.cfg.num_attention_heads, dh = H / nh;
    for (int t = 0; t < L; ++t)
      for (int h = 0; h < nh; ++h)
        for (int i = 0; i < dh / 2; ++i) {
          const double a = t * std::pow(base, -2.0 * i / dh) / std::pow(ntk, 2.0 / dh), c = std::cos(a), sn = std::sin(a);
          double &x1 = v[size_t(t) * ld + h * dh + i], &x2 = v[size_t(t) * ld + h * dh + i + dh / 2];
          const double y1 = x1 * c - x2 * sn, y2 = x2 * c + x1 * sn;
          x1 = y1, x2 = y2;
        }
  }
  // head h's columns of row i of a and row j of b (each [L][H]) dotted
  double head_dot(const std::vector<double>& a, int i, const std::vector<double>& b, int j, int h) const {
    const int dh = H / m.cfg.num_attention_heads;
    double d = 0;
    for (int e = 0; e < dh; ++e) d += a[size_t(i) * H + h * dh + e] * b[size_t(j) * H + h * dh + e];
    return d;
  }
  // s: the row's scores (-inf: masked); writes sum_j softmax(s)_j v[j] for head h into out[0, dh)
  void attend(std::vector<double> s, const std::vector<double>& v, int ldv, int h, double* out) const {
    const int dh = H / m.cfg.num_attention_heads;
    double mx = -INFINITY, sum = 0;
    for (double z : s) mx = std::fmax(mx, z);
    for (auto& z : s) sum += (z = std::exp(z - mx));
    for (int e = 0; e < dh; ++e) {
      double o = 0;
      for (int j = 0; j < L; ++j) o += s[j] / sum * v[size_t(j) * ldv + h * dh + e];
      out[e] = o;
    }
  }
};

// Float64 ModernBERT for one sequence (transformers' ModernBertModel, from its equations).
inline std::vector<double> reference_modern(const Tiny& m, const std::vector<int32_t>& ids) {
  const int H = m.cfg.hidden_size, I = m.cfg.intermediate_size, nh = m.cfg.num_attention_heads, dh = H / nh, L = int(ids.size());
  const Ref r{m, L, H};
  std::vector<double> x(size_t(L) * H);
  for (int t = 0; t < L; ++t)
    for (int j = 0; j < H; ++j) x[t * H + j] = r.W("embeddings.word_embeddings.weight")[ids[t] * H + j];
  r.ln(x, "embeddings.LayerNorm");
  for (int l = 0; l < m.cfg.num_hidden_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    const bool global = l % m.cfg.global_every == 0;
    std::vector<double> a = x;
    if (l > 0) r.ln(a, p + "attn_norm");  // layer 0: Identity
    // Wqkv's rows are Q, K, V
    auto q = r.linear(a, H, p + "attn.Wqkv", H, -1, 0), k = r.linear(a, H, p + "attn.Wqkv", H, -1, H),
         v = r.linear(a, H, p + "attn.Wqkv", H, -1, 2 * H);
    const double theta = global ? m.cfg.rope_theta_global : m.cfg.rope_theta_local;
    r.rope(q, H, theta), r.rope(k, H, theta);
    std::vector<double> ctx(size_t(L) * H);
    for (int h = 0; h < nh; ++h)
      for (int i = 0; i < L; ++i) {
        std::vector<double> s(L);
        for (int j = 0; j < L; ++j)
          s[j] = !global && std::abs(i - j) > m.cfg.local_window ? -INFINITY : r.head_dot(q, i, k, j, h) / std::sqrt(double(dh));
        r.attend(s, v, H, h, &ctx[size_t(i) * H + h * dh]);
      }
    const auto o = r.linear(ctx, H, p + "attn.Wo", H);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    std::vector<double> b = x;
    r.ln(b, p + "mlp_norm");
    auto in = r.linear(b, H, p + "mlp.Wi", I, -1, 0);
    const auto gate = r.linear(b, H, p + "mlp.Wi", I, -1, I);
    for (size_t i = 0; i < in.size(); ++i) in[i] = 0.5 * in[i] * (1 + std::erf(in[i] / std::sqrt(2.0))) * gate[i];
    const auto f = r.linear(in, I, p + "mlp.Wo", H);
    for (size_t i = 0; i < x.size(); ++i) x[i] += f[i];
  }
  r.ln(x, "encoder.final_norm");
  return x;
}

// Float64 BERT for one sequence; positions: each token's position id (null: 0, 1, ...). Also NomicBERT's layer
// (cfg.rotary), MPNet's relative attention, DeBERTa's disentangled attention and ModernBERT (reference_modern).
inline std::vector<double> reference(const Tiny& m, const std::vector<int32_t>& ids, const std::vector<int32_t>& types,
                                     const std::vector<int32_t>* positions = nullptr) {
  if (m.cfg.modern) return reference_modern(m, ids);
  const int H = m.cfg.hidden_size, I = m.cfg.intermediate_size, nh = m.cfg.num_attention_heads, dh = H / nh, L = int(ids.size());
  const Ref r{m, L, H};
  auto W = [&](const std::string& n) -> const std::vector<float>& { return m.w.at(n).data; };
  auto ln = [&](std::vector<double>& x, const std::string& n) { r.ln(x, n); };
  auto linear = [&](const std::vector<double>& x, int in, const std::string& n, int outd) { return r.linear(x, in, n, outd); };
  // rotary: q and k rotated by position t at inverse frequencies base^(-2i / dh) / ntk^(2 / dh), pairs (i, i + dh / 2);
  // base theta * ntk (GTE's fixed NTK scaling; ntk 1: none), or with dynamic NTK scaling past the trained length
  // theta (f L / trained - (f - 1))^(dh / (dh - 2))
  const double f = m.cfg.rope_dynamic, trained = m.cfg.rope_trained, ntk = m.cfg.rope_ntk;
  const double base = m.cfg.rope_theta_global * ntk * (f > 0 && L > trained ? std::pow(f * L / trained - (f - 1), double(dh) / (dh - 2)) : 1.0);
  // the embeddings at width E (factorized: ALBERT, ELECTRA), LayerNormed there, then projected to H
  const int E = m.cfg.embedding_size > 0 ? m.cfg.embedding_size : H;
  std::vector<double> x(size_t(L) * E);
  for (int t = 0; t < L; ++t)
    for (int j = 0; j < E; ++j)
      x[t * E + j] = double(W("embeddings.word_embeddings.weight")[ids[t] * E + j]) +
                     (m.cfg.position_table ? W("embeddings.position_embeddings.weight")[(positions ? (*positions)[t] : t) * E + j] : 0.0) +
                     (m.cfg.type_vocab_size > 0 ? W("embeddings.token_type_embeddings.weight")[types[t] * E + j] : 0.0);
  const Ref re{m, L, E};
  re.ln(x, "embeddings.LayerNorm");
  if (m.cfg.embedding_size > 0) x = r.linear(x, E, "embeddings.project", H);
  // DeBERTa: the relative embeddings (LayerNormed), their index by offset i - j, and the scale 1/sqrt(3 dh)
  const int span = m.cfg.disentangled_span, R = 2 * span;
  std::vector<double> rel;
  if (span > 0) {
    rel.assign(W("encoder.rel_embeddings.weight").begin(), W("encoder.rel_embeddings.weight").end());
    if (m.cfg.rel_norm) r.ln(rel, "encoder.LayerNorm", R);
  }
  auto rel_index = [&](int i, int j) {
    const int b = m.cfg.position_buckets > 0 ? deberta_bucket(i - j, m.cfg.position_buckets, m.cfg.max_relative_positions) : i - j;
    return std::min(std::max(b + span, 0), R - 1);
  };
  const double scale = 1 / std::sqrt(double(dh) * (span > 0 ? 3 : 1));
  for (int l = 0; l < m.cfg.num_hidden_layers; ++l) {
    const int groups = m.cfg.layer_groups, weights = groups > 0 ? l * groups / m.cfg.num_hidden_layers : l;  // (ALBERT)
    std::string p = "encoder.layer." + std::to_string(weights) + ".";
    auto q = linear(x, H, p + "attention.self.query", H), k = linear(x, H, p + "attention.self.key", H),
         v = linear(x, H, p + "attention.self.value", H);
    if (m.cfg.rotary) r.rope(q, H, base, ntk), r.rope(k, H, base, ntk);
    // DeBERTa (share_att_key): the relative embeddings through this layer's key (pk) and query (pq) projections
    std::vector<double> pk, pq;
    if (span > 0) pk = r.linear(rel, H, p + "attention.self.key", H, R), pq = r.linear(rel, H, p + "attention.self.query", H, R);
    std::vector<double> ctx(size_t(L) * H);
    for (int h = 0; h < nh; ++h)
      for (int i = 0; i < L; ++i) {
        std::vector<double> s(L);
        for (int j = 0; j < L; ++j) {
          double d = r.head_dot(q, i, k, j, h);
          if (span > 0) {  // content-to-position q_i . pk[idx], position-to-content k_j . pq[idx], idx of offset i - j
            const int ix = rel_index(i, j);
            d += r.head_dot(q, i, pk, ix, h) + r.head_dot(k, j, pq, ix, h);
          }
          s[j] = d * scale;
          if (m.cfg.relative_attention_buckets > 0)
            s[j] += W("encoder.relative_attention_bias.weight")[size_t(mpnet_bucket(j - i, m.cfg.relative_attention_buckets,
                                                                                     m.cfg.relative_attention_max_distance)) * nh + h];
        }
        r.attend(s, v, H, h, &ctx[size_t(i) * H + h * dh]);
      }
    auto a = linear(ctx, H, p + "attention.output.dense", H);
    for (size_t i = 0; i < a.size(); ++i) a[i] += x[i];
    ln(a, p + "attention.output.LayerNorm");
    auto g = linear(a, H, p + "intermediate.dense", I);
    if (m.cfg.gated) {  // SwiGLU: silu(gate) * up
      const auto up = linear(a, H, p + "intermediate.up", I);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * up[i];
    } else if (m.cfg.hidden_act == "gelu_new" || m.cfg.hidden_act == "gelu_pytorch_tanh") {  // GELU's tanh form
      for (auto& z : g) z = 0.5 * z * (1 + std::tanh(std::sqrt(2 / M_PI) * (z + 0.044715 * z * z * z)));
    } else {
      for (auto& z : g) z = 0.5 * z * (1 + std::erf(z / std::sqrt(2.0)));
    }
    auto o = linear(g, I, p + "output.dense", H);
    for (size_t i = 0; i < o.size(); ++i) o[i] += a[i];
    ln(o, p + "output.LayerNorm");
    x = o;
  }
  return x;
}

}  // namespace tiny
