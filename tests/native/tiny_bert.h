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
  th::Rng rng(seed);
  int which = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float lo, float hi) {
    Tensor t;
    t.shape = shape;
    size_t n = 1;
    for (auto d : shape) n *= d;
    t.dtype = which % 3 == 0 ? DType::kF32 : which % 3 == 1 ? DType::kF16 : DType::kBF16;
    ++which;
    t.data.resize(n);
    for (auto& x : t.data) {
      // multiples of 1/256 in [lo, hi]: exact in F16 and in BF16 (|k| < 256 keeps BF16's 8-bit mantissa)
      float v = rng.uniform(lo, hi);
      x = std::round(v * 256.f) / 256.f;
      if (t.dtype == DType::kBF16) x = std::fmax(std::fmin(x, 255.f / 256.f), -255.f / 256.f);
    }
    m.w[name] = t;
  };
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

// Float64 BERT for one sequence; positions: each token's position id (null: 0, 1, ...).
inline std::vector<double> reference(const Tiny& m, const std::vector<int32_t>& ids, const std::vector<int32_t>& types,
                                     const std::vector<int32_t>* positions = nullptr) {
  const int H = m.cfg.hidden_size, I = m.cfg.intermediate_size, nh = m.cfg.num_attention_heads, dh = H / nh, L = int(ids.size());
  auto W = [&](const std::string& n) -> const std::vector<float>& { return m.w.at(n).data; };
  auto ln = [&](std::vector<double>& x, const std::string& n) {
    for (int t = 0; t < L; ++t) {
      double mean = 0, var = 0;
      for (int j = 0; j < H; ++j) mean += x[t * H + j];
      mean /= H;
      for (int j = 0; j < H; ++j) var += (x[t * H + j] - mean) * (x[t * H + j] - mean);
      var /= H;
      for (int j = 0; j < H; ++j)
        x[t * H + j] = (x[t * H + j] - mean) / std::sqrt(var + 1e-12) * W(n + ".weight")[j] + W(n + ".bias")[j];
    }
  };
  auto linear = [&](const std::vector<double>& x, int in, const std::string& n, int outd) {
    std::vector<double> y(size_t(L) * outd);
    const bool bias = m.w.count(n + ".bias") != 0;
    for (int t = 0; t < L; ++t)
      for (int o = 0; o < outd; ++o) {
        double s = bias ? W(n + ".bias")[o] : 0.0;
        for (int i = 0; i < in; ++i) s += x[t * in + i] * W(n + ".weight")[size_t(o) * in + i];
        y[size_t(t) * outd + o] = s;
      }
    return y;
  };
  // rotary: q and k rotated by position t at inverse frequencies base^(-2i / dh) / ntk^(2 / dh), pairs (i, i + dh / 2);
  // base theta * ntk (GTE's fixed NTK scaling; ntk 1: none), or with dynamic NTK scaling past the trained length
  // theta (f L / trained - (f - 1))^(dh / (dh - 2))
  const double f = m.cfg.rope_dynamic, trained = m.cfg.rope_trained, ntk = m.cfg.rope_ntk;
  const double base = m.cfg.rope_theta_global * ntk * (f > 0 && L > trained ? std::pow(f * L / trained - (f - 1), double(dh) / (dh - 2)) : 1.0);
  auto rope = [&](std::vector<double>& v) {
    for (int t = 0; t < L; ++t)
      for (int h = 0; h < nh; ++h)
        for (int i = 0; i < dh / 2; ++i) {
          const double a = t * std::pow(base, -2.0 * i / dh) / std::pow(ntk, 2.0 / dh), c = std::cos(a), sn = std::sin(a);
          double &x1 = v[t * H + h * dh + i], &x2 = v[t * H + h * dh + i + dh / 2];
          const double y1 = x1 * c - x2 * sn, y2 = x2 * c + x1 * sn;
          x1 = y1, x2 = y2;
        }
  };
  std::vector<double> x(size_t(L) * H);
  for (int t = 0; t < L; ++t)
    for (int j = 0; j < H; ++j)
      x[t * H + j] = double(W("embeddings.word_embeddings.weight")[ids[t] * H + j]) +
                     (m.cfg.rotary ? 0.0 : W("embeddings.position_embeddings.weight")[(positions ? (*positions)[t] : t) * H + j]) +
                     W("embeddings.token_type_embeddings.weight")[types[t] * H + j];
  ln(x, "embeddings.LayerNorm");
  for (int l = 0; l < m.cfg.num_hidden_layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    auto q = linear(x, H, p + "attention.self.query", H), k = linear(x, H, p + "attention.self.key", H),
         v = linear(x, H, p + "attention.self.value", H);
    if (m.cfg.rotary) rope(q), rope(k);
    std::vector<double> ctx(size_t(L) * H);
    for (int h = 0; h < nh; ++h)
      for (int i = 0; i < L; ++i) {
        std::vector<double> s(L);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < L; ++j) {
          double d = 0;
          for (int e = 0; e < dh; ++e) d += q[i * H + h * dh + e] * k[j * H + h * dh + e];
          s[j] = d / std::sqrt(double(dh));
          if (m.cfg.relative_attention_buckets > 0)
            s[j] += W("encoder.relative_attention_bias.weight")[size_t(mpnet_bucket(j - i, m.cfg.relative_attention_buckets,
                                                                                     m.cfg.relative_attention_max_distance)) * nh + h];
          mx = std::fmax(mx, s[j]);
        }
        for (auto& z : s) sum += (z = std::exp(z - mx));
        for (int e = 0; e < dh; ++e) {
          double o = 0;
          for (int j = 0; j < L; ++j) o += s[j] / sum * v[j * H + h * dh + e];
          ctx[i * H + h * dh + e] = o;
        }
      }
    auto a = linear(ctx, H, p + "attention.output.dense", H);
    for (size_t i = 0; i < a.size(); ++i) a[i] += x[i];
    ln(a, p + "attention.output.LayerNorm");
    auto g = linear(a, H, p + "intermediate.dense", I);
    if (m.cfg.gated) {  // SwiGLU: silu(gate) * up
      const auto up = linear(a, H, p + "intermediate.up", I);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * up[i];
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
