// The whole encoder against a float64 BERT written here from the paper's equations, on a tiny random model
// stored as safetensors with F32, F16 and BF16 tensors; batch invariance; and the errors a bad file must give.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include "bertrt/model.h"
#include "core/thread_pool.h"
#include "harness.h"
#include "model/weights.h"

using namespace bertrt;

namespace {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // values exactly representable in the dtype they are stored as
  DType dtype;
};

uint16_t to_half_exact(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7fffffff) == 0) return static_cast<uint16_t>(b >> 16);
  uint32_t sign = (b >> 16) & 0x8000, e = (b >> 23) & 0xff, m = b & 0x7fffff;
  return static_cast<uint16_t>(sign | ((e - 127 + 15) << 10) | (m >> 13));
}

// Writes a safetensors file; returns the descriptors the TS side would derive from its header.
std::vector<TensorDesc> write_safetensors(const std::string& path, const std::map<std::string, Tensor>& ts) {
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

Tiny make_tiny(uint64_t seed) {
  Tiny m;
  m.cfg.vocab_size = 64, m.cfg.hidden_size = 48, m.cfg.num_hidden_layers = 2, m.cfg.num_attention_heads = 4;
  m.cfg.intermediate_size = 96, m.cfg.max_position_embeddings = 32, m.cfg.type_vocab_size = 2, m.cfg.layer_norm_eps = 1e-12f;
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
  const int H = 48, I = 96;
  const float s = 0.25f;
  add("embeddings.word_embeddings.weight", {64, H}, -1, 1);
  add("embeddings.position_embeddings.weight", {32, H}, -0.5, 0.5);
  add("embeddings.token_type_embeddings.weight", {2, H}, -0.5, 0.5);
  add("embeddings.LayerNorm.weight", {H}, 0.5, 0.99);
  add("embeddings.LayerNorm.bias", {H}, -0.2, 0.2);
  for (int l = 0; l < 2; ++l) {
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

// Float64 BERT for one sequence.
std::vector<double> reference(const Tiny& m, const std::vector<int32_t>& ids, const std::vector<int32_t>& types) {
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
    for (int t = 0; t < L; ++t)
      for (int o = 0; o < outd; ++o) {
        double s = W(n + ".bias")[o];
        for (int i = 0; i < in; ++i) s += x[t * in + i] * W(n + ".weight")[size_t(o) * in + i];
        y[size_t(t) * outd + o] = s;
      }
    return y;
  };
  std::vector<double> x(size_t(L) * H);
  for (int t = 0; t < L; ++t)
    for (int j = 0; j < H; ++j)
      x[t * H + j] = double(W("embeddings.word_embeddings.weight")[ids[t] * H + j]) + W("embeddings.position_embeddings.weight")[t * H + j] +
                     W("embeddings.token_type_embeddings.weight")[types[t] * H + j];
  ln(x, "embeddings.LayerNorm");
  for (int l = 0; l < m.cfg.num_hidden_layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    auto q = linear(x, H, p + "attention.self.query", H), k = linear(x, H, p + "attention.self.key", H),
         v = linear(x, H, p + "attention.self.value", H);
    std::vector<double> ctx(size_t(L) * H);
    for (int h = 0; h < nh; ++h)
      for (int i = 0; i < L; ++i) {
        std::vector<double> s(L);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < L; ++j) {
          double d = 0;
          for (int e = 0; e < dh; ++e) d += q[i * H + h * dh + e] * k[j * H + h * dh + e];
          s[j] = d / std::sqrt(double(dh));
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
    auto f = linear(a, H, p + "intermediate.dense", I);
    for (auto& z : f) z = 0.5 * z * (1 + std::erf(z / std::sqrt(2.0)));
    auto o = linear(f, I, p + "output.dense", H);
    for (size_t i = 0; i < o.size(); ++i) o[i] += a[i];
    ln(o, p + "output.LayerNorm");
    x = o;
  }
  return x;
}

void test_f16_conversion() {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    int sign = (h >> 15) ? -1 : 1, e = (h >> 10) & 31, mant = h & 1023;
    double want = e == 0 ? sign * std::ldexp(mant / 1024.0, -14)
                  : e == 31 ? (mant ? NAN : sign * INFINITY)
                            : sign * std::ldexp(1.0 + mant / 1024.0, e - 15);
    float got = f16_to_f32(static_cast<uint16_t>(h));
    bool ok = std::isnan(want) ? std::isnan(got) : double(got) == want && std::signbit(got) == (sign < 0);
    bad += !ok;
  }
  th::check(bad == 0, "f16_to_f32 exact on all 65536 halves (" + std::to_string(bad) + " wrong)");
  th::check(bf16_to_f32(0x3f80) == 1.0f && bf16_to_f32(0xc040) == -3.0f, "bf16_to_f32");
}

void test_forward() {
  Tiny m = make_tiny(7);
  const std::string path = "/tmp/bertrt_test_tiny.safetensors";
  auto descs = write_safetensors(path, m.w);
  std::unique_ptr<BertModel> model;
  Status st = BertModel::load(m.cfg, path, descs, Precision::kFP32, &model);
  th::check(st.ok(), "load tiny model: " + st.message());
  if (!st.ok()) return;
  ThreadPool pool(2);
  th::Rng rng(3);
  std::vector<std::vector<int32_t>> seqs = {{2, 5, 9, 3}, {1}, {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}, {}, {}};
  for (int i = 0; i < 32; ++i) seqs[3].push_back(rng.next() % 64);
  std::vector<int32_t> ids, types, cu{0};
  for (auto& s : seqs) {
    for (size_t i = 0; i < s.size(); ++i) ids.push_back(s[i]), types.push_back(i >= s.size() / 2 ? 1 : 0);
    cu.push_back(int32_t(ids.size()));
  }
  BatchView b{ids.data(), types.data(), cu.data(), int(seqs.size()), int(ids.size())};
  std::vector<float> out(ids.size() * 48, NAN);
  st = model->forward(b, out.data(), pool, 0);
  th::check(st.ok(), "forward packed batch: " + st.message());
  const int H = 48;
  for (size_t s = 0; s < seqs.size(); ++s) {
    if (seqs[s].empty()) continue;
    std::vector<int32_t> ty(types.begin() + cu[s], types.begin() + cu[s + 1]);
    auto want = reference(m, seqs[s], ty);
    double e = th::norm_err(out.data() + size_t(cu[s]) * H, want);
    char name[96];
    std::snprintf(name, sizeof name, "tiny BERT seq %zu (len %zu) vs float64 reference, err=%.2e", s, seqs[s].size(), e);
    th::check(e <= 2e-6, name);  // two layers of FP32 GEMM + LayerNorm: a few 1e-7 seen
    // batch invariance: the same sequence alone gives the same bits
    std::vector<int32_t> cu1{0, int32_t(seqs[s].size())};
    BatchView b1{seqs[s].data(), ty.data(), cu1.data(), 1, int(seqs[s].size())};
    std::vector<float> alone(seqs[s].size() * H);
    model->forward(b1, alone.data(), pool, 0);
    th::check(std::memcmp(alone.data(), out.data() + size_t(cu[s]) * H, alone.size() * 4) == 0,
              "seq " + std::to_string(s) + " alone == in batch, bit for bit");
  }
  // bad batches
  std::vector<int32_t> bad_ids{1, 64};
  std::vector<int32_t> cu2{0, 2};
  BatchView bb{bad_ids.data(), nullptr, cu2.data(), 1, 2};
  std::vector<float> o2(2 * H);
  st = model->forward(bb, o2.data(), pool, 0);
  th::check(st.code() == Code::kInvalidArgument && st.message().find("64") != std::string::npos, "id outside vocab rejected: " + st.message());
  std::vector<int32_t> long_ids(33, 1), cu3{0, 33};
  BatchView bl{long_ids.data(), nullptr, cu3.data(), 1, 33};
  std::vector<float> o3(33 * H);
  st = model->forward(bl, o3.data(), pool, 0);
  th::check(st.code() == Code::kInputTooLong, "sequence longer than max positions rejected: " + st.message());
  std::vector<int32_t> cu4{0, 3};
  BatchView bc{bad_ids.data(), nullptr, cu4.data(), 1, 2};
  th::check(model->forward(bc, o2.data(), pool, 0).code() == Code::kInvalidArgument, "cuSeqlens past the end rejected");
}

void test_bad_files() {
  Tiny m = make_tiny(9);
  const std::string path = "/tmp/bertrt_test_bad.safetensors";
  auto descs = write_safetensors(path, m.w);
  std::unique_ptr<BertModel> model;
  auto expect = [&](std::vector<TensorDesc> d, BertConfig cfg, Code code, const std::string& needle, const std::string& what) {
    Status st = BertModel::load(cfg, path, d, Precision::kFP32, &model);
    th::check(st.code() == code && st.message().find(needle) != std::string::npos, what + ": " + st.message());
  };
  {  // a tensor missing
    auto d = descs;
    d.erase(d.begin());
    expect(d, m.cfg, Code::kModelFormat, d.size() ? "has no tensor" : "", "missing tensor");
  }
  {  // a range past the end of the file (a truncated download)
    auto d = descs;
    d.back().begin += 1000000, d.back().end += 1000000;
    expect(d, m.cfg, Code::kModelFormat, "outside the file", "range past end of file");
  }
  {  // byte count that does not match the shape
    auto d = descs;
    d[0].shape[0] += 1;
    expect(d, m.cfg, Code::kModelFormat, "needs", "byte count vs shape");
  }
  {  // config disagrees with the weights
    BertConfig c = m.cfg;
    c.intermediate_size = 100;
    expect(descs, c, Code::kShape, "intermediate.dense.weight", "config vs tensor shape");
  }
  {
    BertConfig c = m.cfg;
    c.hidden_act = "swish";
    expect(descs, c, Code::kUnsupported, "swish", "unsupported activation");
  }
  {
    BertConfig c = m.cfg;
    c.num_attention_heads = 5;
    expect(descs, c, Code::kModelFormat, "multiple", "heads not dividing hidden");
  }
  expect(descs, m.cfg, Code::kOk, "", "the unmodified file loads");
  Status st = BertModel::load(m.cfg, "/nonexistent/model.safetensors", descs, Precision::kFP32, &model);
  th::check(st.code() == Code::kIo, "missing file: " + st.message());
}

}  // namespace

int main() {
  test_f16_conversion();
  test_forward();
  test_bad_files();
  return th::finish();
}
