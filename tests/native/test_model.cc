// The whole encoder against a float64 BERT written here from the paper's equations, on a tiny random model
// stored as safetensors with F32, F16 and BF16 tensors; batch invariance; and the errors a bad file must give.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>

#include "bertrt/model.h"
#include "core/thread_pool.h"
#include "harness.h"
#include "tiny_bert.h"
#include "model/cuda_backend.h"
#include "model/encoder.h"
#include "model/weights.h"

using namespace bertrt;
using tiny::make_tiny;
using tiny::reference;
using tiny::Tensor;
using tiny::Tiny;
using tiny::write_safetensors;

namespace {

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

// Loads a model with the given engine environment variables set for the load (they are read there), then unset.
std::unique_ptr<BertModel> load_with_env(const Tiny& m, const std::string& path, const std::vector<TensorDesc>& descs,
                                         Precision p, ThreadPool& pool,
                                         std::initializer_list<std::pair<const char*, const char*>> env, Status* st) {
  for (auto& [k, v] : env) setenv(k, v, 1);
  std::unique_ptr<BertModel> model;
  *st = BertModel::load(m.cfg, {path}, descs, p, pool, &model);
  for (auto& [k, v] : env) unsetenv(k);
  return model;
}

void test_forward() {
  Tiny m = make_tiny(7);
  const std::string path = "/tmp/bertrt_test_tiny.safetensors";
  auto descs = write_safetensors(path, m.w);
  std::unique_ptr<BertModel> model;
  ThreadPool pool(2);
  Status st = BertModel::load(m.cfg, {path}, descs, Precision::kFP32, pool, &model);
  th::check(st.ok(), "load tiny model: " + st.message());
  if (!st.ok()) return;
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
  // Q/K/V + attention in groups of sequences (here of at most 5 tokens, so nearly one per group): the same bits
  auto grouped = load_with_env(m, path, descs, Precision::kFP32, pool, {{"BERTRT_SEQ_CHUNK", "5"}}, &st);
  std::vector<float> out_g(out.size(), NAN);
  th::check(st.ok() && grouped->forward(b, out_g.data(), pool, 0).ok() &&
                std::memcmp(out_g.data(), out.data(), out.size() * 4) == 0,
            "Q/K/V + attention by groups of sequences == all at once, bit for bit");
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

// INT8 with smoothing, on a tiny model whose LayerNorms give two channels ~12x the others (as BERT's do): per-token
// 8-bit activations then spend their range on those two channels. Smoothing must cut the error against the float64
// model, and the result must stay batch invariant.
void test_int8_smoothing() {
  Tiny m = make_tiny(11);
  for (auto& [name, t] : m.w)
    if (name.find("LayerNorm.weight") != std::string::npos) t.data[5] = 12.f, t.data[30] = -12.f;  // exact in F16/BF16
  const std::string path = "/tmp/bertrt_test_smooth.safetensors";
  auto descs = write_safetensors(path, m.w);
  ThreadPool pool(2);
  th::Rng rng(5);
  std::vector<std::vector<int32_t>> seqs(6);
  for (auto& q : seqs)
    for (int i = 0, n = 3 + int(rng.next() % 28); i < n; ++i) q.push_back(int32_t(rng.next() % 64));
  std::vector<int32_t> ids, cu{0};
  for (auto& q : seqs) ids.insert(ids.end(), q.begin(), q.end()), cu.push_back(int32_t(ids.size()));
  const int H = m.cfg.hidden_size;
  double err[2] = {0, 0};  // worst relative error per sequence: [unsmoothed, smoothed]
  const BatchView b{ids.data(), nullptr, cu.data(), int(seqs.size()), int(ids.size())};
  std::vector<float> out(ids.size() * H);
  for (int smooth = 0; smooth < 2; ++smooth) {
    Status st;
    auto model = smooth ? load_with_env(m, path, descs, Precision::kINT8, pool, {}, &st)
                        : load_with_env(m, path, descs, Precision::kINT8, pool, {{"BERTRT_INT8_SMOOTHING", "0"}}, &st);
    th::check(st.ok(), "load tiny INT8 model: " + st.message());
    if (!st.ok()) return;
    std::fill(out.begin(), out.end(), NAN);
    th::check(model->forward(b, out.data(), pool, 0).ok(), "INT8 forward");
    for (size_t q = 0; q < seqs.size(); ++q) {
      std::vector<int32_t> ty(seqs[q].size(), 0);
      err[smooth] = std::max(err[smooth], th::norm_err(out.data() + size_t(cu[q]) * H, reference(m, seqs[q], ty)));
      std::vector<int32_t> cu1{0, int32_t(seqs[q].size())};
      BatchView b1{seqs[q].data(), nullptr, cu1.data(), 1, int(seqs[q].size())};
      std::vector<float> alone(seqs[q].size() * H);
      model->forward(b1, alone.data(), pool, 0);
      th::check(std::memcmp(alone.data(), out.data() + size_t(cu[q]) * H, alone.size() * 4) == 0,
                std::string("INT8") + (smooth ? " smoothed" : "") + " seq " + std::to_string(q) + " alone == in batch, bit for bit");
    }
  }
  // `out` is the smoothed forward: by groups of sequences of at most 8 tokens, the same bits
  Status st;
  auto grouped = load_with_env(m, path, descs, Precision::kINT8, pool, {{"BERTRT_SEQ_CHUNK", "8"}}, &st);
  std::vector<float> out_g(out.size(), NAN);
  th::check(st.ok() && grouped->forward(b, out_g.data(), pool, 0).ok() &&
                std::memcmp(out_g.data(), out.data(), out.size() * 4) == 0,
            "INT8: Q/K/V + attention by groups of sequences == all at once, bit for bit");
  char name[160];
  std::snprintf(name, sizeof name, "INT8 vs float64 with outlier channels: smoothed err=%.2e, unsmoothed %.2e", err[1], err[0]);
  std::printf("  %s\n", name);
  th::check(err[1] <= 0.6 * err[0] && err[1] <= 2e-2, name);  // measured 1.4e-2 vs 4.3e-2 (fixed seeds)
}

// A batch of several short sequences runs as one task per group of sequences (each group through the whole layer on
// one thread): the plan covers every sequence once, in order, in groups balanced by tokens, a multiple
// of the threads in number; it keeps one group at a time where the sequences cannot be shared out evenly; and on the
// families' tiny models (ModernBERT's pre-norm layer too) the outputs are the bits of one group at a time
// (BERTRT_GROUP_TASKS=0) in every precision.
void test_group_tasks() {
  th::Rng rng(61);
  std::vector<int32_t> lens;
  for (int i = 0; i < 12; ++i) lens.push_back(3 + int(rng.next() % 28));
  std::vector<int32_t> ids, cu{0};
  for (int n : lens) {
    for (int i = 0; i < n; ++i) ids.push_back(int32_t(rng.next() % 64));
    cu.push_back(int32_t(ids.size()));
  }
  const BatchView b{ids.data(), nullptr, cu.data(), int(lens.size()), int(ids.size())};
  {
    const GroupPlan plan = plan_groups(b, 768, 40, 2, true);
    bool covers = plan.tasks && !plan.groups.empty() && plan.groups.front().first == 0 && plan.groups.back().second == b.n_seqs;
    int most = 0, least = b.tokens;
    for (size_t g = 0; g < plan.groups.size(); ++g) {
      covers = covers && plan.groups[g].first < plan.groups[g].second && (g == 0 || plan.groups[g].first == plan.groups[g - 1].second);
      const int t = cu[plan.groups[g].second] - cu[plan.groups[g].first];
      most = std::max(most, t), least = std::min(least, t);
    }
    const int n = int(plan.groups.size());
    char name[200];
    std::snprintf(name, sizeof name, "group tasks: %d groups of %d-%d tokens over %d (tasks of ~40 tokens, 2 threads), every sequence once in order",
                  n, least, most, b.tokens);
    // ceil(tokens / 40) rounded up to even; each group within one sequence (<= 30 tokens) of an even share
    th::check(covers && n == ((b.tokens + 39) / 40 + 1) / 2 * 2 && most - least <= 2 * 30, name);
    // one group at a time: groups of whole sequences up to chunk_tokens (40), at least one sequence each
    const GroupPlan steps = plan_groups(b, 40, 40, 2, false);
    bool within = !steps.tasks && !steps.groups.empty() && steps.groups.back().second == b.n_seqs;
    for (const auto& [g0, g1] : steps.groups) within = within && (g1 == g0 + 1 || cu[g1] - cu[g0] <= 40);
    th::check(within && !plan_groups(b, 768, 40, 1, true).tasks, "group tasks: not when disallowed or on one thread (groups up to 40 tokens)");
    const BatchView three{ids.data(), nullptr, cu.data(), 3, cu[3]};
    th::check(!plan_groups(three, 768, 40, 2, true).tasks, "group tasks: not with fewer than two sequences a thread");
    // one sequence of 100 tokens among three of 10: more than a thread's share
    const std::vector<int32_t> ones(130, 1), skew{0, 100, 110, 120, 130};
    const BatchView uneven{ones.data(), nullptr, skew.data(), 4, 130};
    th::check(!plan_groups(uneven, 768, 200, 2, true).tasks, "group tasks: not when one sequence is more than a thread's share");
    th::check(!plan_groups(b, 768, 10, 2, true).tasks, "group tasks: not for sequences longer than two task groups");
  }
  ThreadPool pool(2);
  for (int which = 0; which < 5; ++which) {
    Tiny m = which == 0   ? make_tiny(67, 48, 4, 96, 64)
             : which == 1 ? make_tiny(71, 48, 4, 96, 64, /*rotary=*/true)
             : which == 2 ? tiny::make_tiny_deberta(73, 64, 2, 128, 256, 16, 64)
             : which == 3 ? tiny::make_tiny_factorized(79, 64, 2, 128, 256, 32, 1)
                          : tiny::make_tiny_modern(89, 64, 2, 64, 256, 8);
    if (which == 0) tiny::add_relative(m, 83);
    const std::string what = which == 0   ? "tiny MPNet-style BERT"
                             : which == 1 ? "tiny NomicBERT"
                             : which == 2 ? "tiny DeBERTa-v3"
                             : which == 3 ? "tiny ALBERT"
                                          : "tiny ModernBERT";
    const int H = m.cfg.hidden_size;
    const std::string path = "/tmp/bertrt_test_group_tasks.safetensors";
    auto descs = write_safetensors(path, m.w);
    for (Precision p : {Precision::kFP32, Precision::kINT8, Precision::kBF16}) {
      Status st;
      auto tasks = load_with_env(m, path, descs, p, pool, {{"BERTRT_SEQ_CHUNK", "40"}}, &st);
      if (p == Precision::kBF16 && st.code() == Code::kUnsupported) continue;  // no AVX512-BF16 here
      auto steps = load_with_env(m, path, descs, p, pool, {{"BERTRT_SEQ_CHUNK", "40"}, {"BERTRT_GROUP_TASKS", "0"}}, &st);
      th::check(st.ok() && tasks && steps, "load " + what + ": " + st.message());
      if (!st.ok() || !tasks || !steps) return;
      std::vector<float> a(ids.size() * H, NAN), c(ids.size() * H, NAN);
      const bool ran = tasks->forward(b, a.data(), pool, 0).ok() && steps->forward(b, c.data(), pool, 0).ok();
      th::check(ran && std::memcmp(a.data(), c.data(), a.size() * 4) == 0,
                what + (p == Precision::kFP32 ? " FP32" : p == Precision::kINT8 ? " INT8" : " BF16") +
                    ": a task per group == one group at a time, bit for bit");
    }
  }
}

void test_bad_files() {
  Tiny m = make_tiny(9);
  const std::string path = "/tmp/bertrt_test_bad.safetensors";
  auto descs = write_safetensors(path, m.w);
  std::unique_ptr<BertModel> model;
  ThreadPool pool(1);
  auto expect = [&](std::vector<TensorDesc> d, BertConfig cfg, Code code, const std::string& needle, const std::string& what) {
    Status st = BertModel::load(cfg, {path}, d, Precision::kFP32, pool, &model);
    th::check(st.code() == code && st.message().find(needle) != std::string::npos, what + ": " + st.message());
  };
  {  // a tensor missing
    auto d = descs;
    d.erase(d.begin());
    expect(d, m.cfg, Code::kModelFormat, d.size() ? "no tensor" : "", "missing tensor");
  }
  {  // a range past the end of the file (a truncated download)
    auto d = descs;
    d.back().begin += 1000000, d.back().end += 1000000;
    expect(d, m.cfg, Code::kModelFormat, "lies outside", "range past end of file");
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
  Status st = BertModel::load(m.cfg, {"/nonexistent/model.safetensors"}, descs, Precision::kFP32, pool, &model);
  th::check(st.code() == Code::kIo, "missing file: " + st.message());
  // a NaN or an infinity in a weight is refused at load, naming the tensor, in every precision
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    Tiny t = make_tiny(9);
    t.w["encoder.layer.1.output.dense.weight"].data[5] = bad;
    const std::string p2 = "/tmp/bertrt_test_nonfinite.safetensors";
    auto d2 = write_safetensors(p2, t.w);
    for (Precision prec : {Precision::kFP32, Precision::kINT8}) {
      Status s2 = BertModel::load(t.cfg, {p2}, d2, prec, pool, &model);
      th::check(s2.code() == Code::kModelFormat && s2.message().find("encoder.layer.1.output.dense.weight") != std::string::npos &&
                    s2.message().find("non-finite") != std::string::npos,
                "non-finite weight refused: " + s2.message());
    }
  }
}

// A word table the file holds in F16 is read as its halves (never widened at load): WeightSource::read_f16 returns
// the file's bytes, says so only for F16 tensors, refuses NaN/infinity like read(), and a range released after a
// read reads the same again; a model whose word table is F16 gives the bits of the same table stored as F32.
void test_read_f16() {
  Tiny m = make_tiny(11);
  m.w["embeddings.word_embeddings.weight"].dtype = DType::kF16;  // values are multiples of 1/256 in [-1, 1]: exact
  const std::string path = "/tmp/bertrt_test_f16word.safetensors";
  auto descs = write_safetensors(path, m.w);
  WeightSource src;
  Status st = src.open({path}, descs);
  th::check(st.ok(), "open: " + st.message());
  if (!st.ok()) return;
  const std::string word = "embeddings.word_embeddings.weight";
  const Tensor& w = m.w[word];
  AlignedBuffer<uint16_t> half;
  bool is_f16 = false;
  st = src.read_f16(word, w.shape, &half, &is_f16);
  bool same = st.ok() && is_f16 && half.size() == w.data.size();
  for (size_t i = 0; same && i < w.data.size(); ++i) same = half.data()[i] == tiny::to_half_exact(w.data[i]);
  th::check(same, "read_f16 gives the file's halves: " + st.message());
  AlignedBuffer<float> wide;
  st = src.read(word, w.shape, &wide);  // the same range again, after read_f16 released its pages
  same = st.ok() && wide.size() == w.data.size() && std::memcmp(wide.data(), w.data.data(), w.data.size() * 4) == 0;
  th::check(same, "a released range reads the same values again (widened exactly): " + st.message());
  int kinds = 0;
  for (const auto& [name, t] : m.w) {  // make_tiny stores its tensors as F32, F16 and BF16 in turn
    AlignedBuffer<uint16_t> got;
    is_f16 = t.dtype != DType::kF16;
    st = src.read_f16(name, t.shape, &got, &is_f16);
    const bool want = t.dtype == DType::kF16;
    kinds |= 1 << static_cast<int>(t.dtype);
    th::check(st.ok() && is_f16 == want && got.size() == (want ? t.data.size() : 0), "read_f16 says whether the file holds " + name + " in F16");
  }
  th::check(kinds == 7, "the tiny model has F32, F16 and BF16 tensors");
  is_f16 = false;
  st = src.read_f16("embeddings.position_embeddings.weight", {1, 2}, &half, &is_f16);
  th::check(st.code() == Code::kShape, "read_f16 checks the shape: " + st.message());
  st = src.read_f16("no.such.tensor", {1}, &half, &is_f16);
  th::check(st.code() == Code::kModelFormat && st.message().find("no.such.tensor") != std::string::npos, "read_f16 of a missing tensor: " + st.message());

  // the model: F16 word table (held in halves) vs the same values stored as F32, bit for bit
  Tiny m32 = m;
  m32.w[word].dtype = DType::kF32;
  const std::string path32 = "/tmp/bertrt_test_f32word.safetensors";
  auto descs32 = write_safetensors(path32, m32.w);
  ThreadPool pool(2);
  std::vector<int32_t> ids{2, 5, 9, 3, 63, 0, 17}, cu{0, 4, 7};
  BatchView b{ids.data(), nullptr, cu.data(), 2, int(ids.size())};
  std::vector<float> out16(ids.size() * 48, NAN), out32(ids.size() * 48, NAN);
  std::unique_ptr<BertModel> a, c;
  Status sa = BertModel::load(m.cfg, {path}, descs, Precision::kFP32, pool, &a);
  Status sc = BertModel::load(m32.cfg, {path32}, descs32, Precision::kFP32, pool, &c);
  th::check(sa.ok() && sc.ok() && a->forward(b, out16.data(), pool, 0).ok() && c->forward(b, out32.data(), pool, 0).ok() &&
                std::memcmp(out16.data(), out32.data(), out16.size() * 4) == 0,
            "F16 word table == the same table in F32, bit for bit");
  // NaN and infinity in an F16 word table are refused, naming the tensor and the element
  for (uint16_t bad : {uint16_t(0x7e00), uint16_t(0x7c00), uint16_t(0xfc00)}) {
    std::string bytes;
    {
      std::ifstream f(path, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(f), {});
    }
    const TensorDesc* d = nullptr;
    for (const auto& t : descs) if (t.name == word) d = &t;
    std::memcpy(&bytes[d->begin + 2 * 70], &bad, 2);
    const std::string p2 = "/tmp/bertrt_test_f16nan.safetensors";
    std::ofstream(p2, std::ios::binary) << bytes;
    std::unique_ptr<BertModel> model;
    Status s2 = BertModel::load(m.cfg, {p2}, descs, Precision::kFP32, pool, &model);
    th::check(s2.code() == Code::kModelFormat && s2.message().find(word) != std::string::npos &&
                  s2.message().find("non-finite") != std::string::npos && s2.message().find("element 70") != std::string::npos,
              "non-finite half in the word table refused: " + s2.message());
  }
}

}  // namespace

// The families' tiny models against their float64 references: the worst normalised error of one precision, and its
// bound. FP32: as the BERT test, 2e-6. INT8: 255 levels per token row and weight row; the smoothed BERT of
// test_int8_smoothing measures 1.4e-2 against its 2e-2, and a gate's product of two rounded projections or
// ModernBERT's four pre-norm layers add to it: 3e-2. BF16 (8-bit mantissas into every GEMM and the attention): the
// NomicBERT layer measured 3.0e-3, bound 1e-2.
void check_family_err(const std::string& what, Precision p, double worst) {
  const double bound = p == Precision::kFP32 ? 2e-6 : p == Precision::kINT8 ? 3e-2 : 1e-2;
  char name[200];
  std::snprintf(name, sizeof name, "%s, %s vs float64 reference: err=%.2e (bound %.0e)", what.c_str(),
                p == Precision::kFP32 ? "FP32" : p == Precision::kINT8 ? "INT8" : "BF16", worst, bound);
  th::check(worst <= bound, name);
}

// NomicBERT's layer (RoPE, SwiGLU, no biases but the FFN output's) against the float64 reference, in FP32, with
// dynamic NTK scaling past a trained length of 8 (a packed batch of short and long sequences, each scaled by its own
// length) and with GTE's fixed NTK factor; batch invariance; INT8 and BF16 (where the CPU has it) within their usual
// distance.
void test_rotary_gated() {
  ThreadPool pool(2);
  th::Rng rng(5);
  std::vector<std::vector<int32_t>> seqs = {{2, 5, 9, 3}, {1}, {}, {}, {}};
  for (int i = 0; i < 30; ++i) seqs[2].push_back(rng.next() % 64);
  for (int i = 0; i < 9; ++i) seqs[3].push_back(rng.next() % 64);
  for (int i = 0; i < 17; ++i) seqs[4].push_back(rng.next() % 64);
  std::vector<int32_t> ids, types, cu{0};
  for (auto& s : seqs) {
    for (size_t i = 0; i < s.size(); ++i) ids.push_back(s[i]), types.push_back(i >= s.size() / 2 ? 1 : 0);
    cu.push_back(int32_t(ids.size()));
  }
  BatchView b{ids.data(), types.data(), cu.data(), int(seqs.size()), int(ids.size())};
  const int H = 48;
  for (int variant = 0; variant < 3; ++variant) {
    Tiny m = make_tiny(13, 48, 4, 96, 32, /*rotary=*/true);
    if (variant == 1) m.cfg.rope_dynamic = 2.f, m.cfg.rope_trained = 8;
    if (variant == 2) m.cfg.rope_ntk = 2.f;
    const std::string path = "/tmp/bertrt_test_rotary.safetensors";
    auto descs = write_safetensors(path, m.w);
    const std::string what = variant == 1 ? "dynamic NTK (trained 8)" : variant == 2 ? "fixed NTK factor 2 (GTE)" : "plain RoPE";
    std::vector<float> fp32(ids.size() * H, NAN);
    for (Precision p : {Precision::kFP32, Precision::kINT8, Precision::kBF16}) {
      std::unique_ptr<BertModel> model;
      Status st = BertModel::load(m.cfg, {path}, descs, p, pool, &model);
      if (p == Precision::kBF16 && st.code() == Code::kUnsupported) continue;  // no AVX512-BF16 here
      th::check(st.ok(), "load tiny rotary gated model: " + st.message());
      if (!st.ok()) return;
      std::vector<float> out(ids.size() * H, NAN);
      st = model->forward(b, out.data(), pool, 0);
      th::check(st.ok(), "forward: " + st.message());
      double worst = 0;
      for (size_t s = 0; s < seqs.size(); ++s) {
        std::vector<int32_t> ty(types.begin() + cu[s], types.begin() + cu[s + 1]);
        worst = std::max(worst, th::norm_err(out.data() + size_t(cu[s]) * H, reference(m, seqs[s], ty)));
        if (p != Precision::kFP32) continue;
        std::vector<int32_t> cu1{0, int32_t(seqs[s].size())};
        BatchView b1{seqs[s].data(), ty.data(), cu1.data(), 1, int(seqs[s].size())};
        std::vector<float> alone(seqs[s].size() * H);
        model->forward(b1, alone.data(), pool, 0);
        th::check(std::memcmp(alone.data(), out.data() + size_t(cu[s]) * H, alone.size() * 4) == 0,
                  what + ": seq " + std::to_string(s) + " alone == in batch, bit for bit");
      }
      check_family_err("tiny NomicBERT layer, " + what, p, worst);
    }
  }
}

// MPNet's relative attention (32 log buckets up to 128, a bias per bucket and head) on the tiny BERT, against the
// float64 reference with transformers' bucketing, lengths up to 150 (the exact buckets, the log-spaced ones and the
// clamp past 128): this checks the reference test_cuda holds the GPU kernels to, as much as the CPU engine.
void test_relative() {
  Tiny m = make_tiny(19, 48, 4, 96, 160);
  tiny::add_relative(m, 23);
  const std::string path = "/tmp/bertrt_test_relative.safetensors";
  auto descs = write_safetensors(path, m.w);
  ThreadPool pool(2);
  std::unique_ptr<BertModel> model;
  Status st = BertModel::load(m.cfg, {path}, descs, Precision::kFP32, pool, &model);
  th::check(st.ok(), "load tiny BERT with relative attention: " + st.message());
  if (!st.ok()) return;
  th::Rng rng(8);
  std::vector<std::vector<int32_t>> seqs(4);
  const int lens[] = {1, 9, 40, 150};
  std::vector<int32_t> ids, types, cu{0};
  for (int s = 0; s < 4; ++s) {
    for (int i = 0; i < lens[s]; ++i) seqs[s].push_back(int32_t(rng.next() % 64)), ids.push_back(seqs[s].back()), types.push_back(0);
    cu.push_back(int32_t(ids.size()));
  }
  BatchView b{ids.data(), types.data(), cu.data(), 4, int(ids.size())};
  std::vector<float> out(ids.size() * 48, NAN);
  th::check(model->forward(b, out.data(), pool, 0).ok(), "forward with relative attention");
  double worst = 0;
  for (int s = 0; s < 4; ++s)
    worst = std::max(worst, th::norm_err(out.data() + size_t(cu[s]) * 48, reference(m, seqs[s], std::vector<int32_t>(lens[s], 0))));
  char name[128];
  std::snprintf(name, sizeof name, "tiny BERT with MPNet's relative attention vs float64 reference, lengths 1-150: err=%.2e", worst);
  th::check(worst <= 2e-6, name);
}

// ModernBERT (4 layers: global, local, local, global; window |i - j| <= 8), DeBERTa-v3 (16 buckets up to 64,
// LayerNormed relative embeddings), ALBERT (embeddings of 32 projected to 64, one layer's weights for all three, the
// tanh GELU) and ELECTRA's factorized embeddings on the tiny models, every precision, against tiny_bert.h's float64 references,
// lengths 1 to 150 in one packed batch (windows and log buckets both reached, and the buckets' clamp): this checks the
// references test_cuda holds the GPU kernels to, as much as the CPU engine (which the TS tests hold to transformers).
void test_modern_deberta() {
  ThreadPool pool(2);
  th::Rng rng(31);
  const int lens[] = {1, 9, 30, 150, 17};
  std::vector<std::vector<int32_t>> seqs(5);
  std::vector<int32_t> ids, types, cu{0};
  for (int s = 0; s < 5; ++s) {
    for (int i = 0; i < lens[s]; ++i) seqs[s].push_back(int32_t(rng.next() % 64)), ids.push_back(seqs[s].back()), types.push_back(0);
    cu.push_back(int32_t(ids.size()));
  }
  BatchView b{ids.data(), types.data(), cu.data(), 5, int(ids.size())};
  for (int which = 0; which < 4; ++which) {
    // (the models test_cuda runs: hidden 64, two heads of 32, the CUDA attention's smallest head size)
    const Tiny m = which == 0   ? tiny::make_tiny_modern(37, 64, 2, 64, 256, 8)
                   : which == 1 ? tiny::make_tiny_deberta(41, 64, 2, 128, 256, 16, 64)
                   : which == 2 ? tiny::make_tiny_factorized(43, 64, 2, 128, 256, 32, 1)
                                : tiny::make_tiny_factorized(47, 64, 2, 128, 256, 32, 0);
    const std::string what = which == 0 ? "tiny ModernBERT" : which == 1 ? "tiny DeBERTa-v3" : which == 2 ? "tiny ALBERT" : "tiny ELECTRA (E 32)";
    const int H = m.cfg.hidden_size;
    const std::string path = "/tmp/bertrt_test_modern_deberta.safetensors";
    auto descs = write_safetensors(path, m.w);
    std::vector<std::vector<double>> want(5);
    for (int s = 0; s < 5; ++s) want[s] = reference(m, seqs[s], std::vector<int32_t>(lens[s], 0));
    for (Precision p : {Precision::kFP32, Precision::kINT8, Precision::kBF16}) {
      std::unique_ptr<BertModel> model;
      Status st = BertModel::load(m.cfg, {path}, descs, p, pool, &model);
      if (p == Precision::kBF16 && st.code() == Code::kUnsupported) continue;  // no AVX512-BF16 here
      th::check(st.ok(), "load " + what + ": " + st.message());
      if (!st.ok()) return;
      std::vector<float> out(ids.size() * H, NAN);
      th::check(model->forward(b, out.data(), pool, 0).ok(), what + " forward");
      double worst = 0;
      for (int s = 0; s < 5; ++s) worst = std::max(worst, th::norm_err(out.data() + size_t(cu[s]) * H, want[s]));
      check_family_err(what + " (lengths 1-150)", p, worst);
    }
  }
}

// The CUDA backend's host side (cuda_backend.cc) against a stand-in library with its C interface (fake_cuda.cc), which
// describes what it was given: the families not yet run on a GPU need BERTRT_CUDA_UNVERIFIED=1; ModernBERT's fused
// Q/K/V and Wi are passed as their parts, layer 0 without an attention norm, the final norm and both thetas; DeBERTa's
// relative embeddings reach it LayerNormed and projected by each layer's query and key (against the float64
// reference), with its index table.
void test_cuda_host() {
  ThreadPool pool(2);
  auto fields = [](const std::string& msg) {
    std::map<std::string, std::string> f;
    size_t at = msg.find("CUDA: ");
    std::string rest = at == std::string::npos ? "" : msg.substr(at + 6);
    for (size_t i = 0; i < rest.size();) {
      size_t sp = rest.find(' ', i);
      if (sp == std::string::npos) sp = rest.size();
      const std::string kv = rest.substr(i, sp - i);
      const size_t eq = kv.find('=');
      if (eq != std::string::npos) f[kv.substr(0, eq)] = kv.substr(eq + 1);
      i = sp + 1;
    }
    return f;
  };
  auto load = [&](const Tiny& m, Precision p) {
    const std::string path = "/tmp/bertrt_test_cuda_host.safetensors";
    auto descs = write_safetensors(path, m.w);
    std::unique_ptr<BertModel> model;
    return load_cuda_model(m.cfg, {path}, descs, p, BERTRT_FAKE_CUDA_LIB, pool, &model);
  };
  unsetenv("BERTRT_CUDA_UNVERIFIED");
  // BERT: its path has run on a GPU, no switch needed
  Status st = load(make_tiny(3, 64, 2, 128, 64), Precision::kINT8);
  auto f = fields(st.message());
  th::check(f["precision"] == "1" && f["pos"] == "set" && f["type"] == "set" && f["modern"] == "0" &&
                f["u_off"] == "-1" && f["ln1_0"] == "set", "BERT reaches the CUDA library as before: " + st.message());
  // FP8 reaches the library as its own precision (2); the CPU engine refuses it rather than running something else
  f = fields(load(make_tiny(3, 64, 2, 128, 64), Precision::kFP8).message());
  th::check(f["precision"] == "2", "precision FP8 reaches the CUDA library as BERTRT_CUDA_FP8");
  {
    const Tiny t = make_tiny(3, 64, 2, 128, 64);
    const std::string path = "/tmp/bertrt_test_cuda_host.safetensors";
    auto descs = write_safetensors(path, t.w);
    std::unique_ptr<BertModel> cpu_model;
    st = BertModel::load(t.cfg, {path}, descs, Precision::kFP8, pool, &cpu_model);
    th::check(st.code() == Code::kUnsupported && st.message().find("'fp8' runs only on the CUDA backend") != std::string::npos && !cpu_model,
              "the CPU engine refuses FP8, saying where it runs: " + st.message());
  }
  const Tiny modern = tiny::make_tiny_modern(37, 64, 2, 64, 256, 8), deberta = tiny::make_tiny_deberta(41, 64, 2, 128, 256, 16, 64);
  st = load(modern, Precision::kFP32);
  th::check(st.code() == Code::kUnsupported && st.message().find("BERTRT_CUDA_UNVERIFIED=1") != std::string::npos,
            "ModernBERT's CUDA path (never run on a GPU) is not taken unasked: " + st.message());
  setenv("BERTRT_CUDA_UNVERIFIED", "1", 1);
  f = fields(load(modern, Precision::kFP32).message());
  th::check(f["modern"] == "1" && f["rotary"] == "1" && f["gated"] == "1" && f["act"] == "0" && f["theta"] == "160000" &&
                f["local"] == "10000" && f["every"] == "3" && f["window"] == "8" && f["pos"] == "null" && f["type"] == "null" &&
                f["final"] == "set" && f["ln1_0"] == "null" && f["ln1_1"] == "set" && f["k_off"] == "64" && f["v_off"] == "128" &&
                f["u_off"] == "64" && f["ub_off"] == "64" && f["span"] == "0",
            "ModernBERT: fused Wqkv and Wi passed as their parts, no layer-0 attention norm, both thetas, the window");
  st = load(deberta, Precision::kFP32);
  f = fields(st.message());
  const int H = 64, R = 32, P = 256;
  std::vector<double> rel(deberta.w.at("encoder.rel_embeddings.weight").data.begin(), deberta.w.at("encoder.rel_embeddings.weight").data.end());
  const tiny::Ref r{deberta, R, H};
  r.ln(rel, "encoder.LayerNorm");
  const auto pq0 = r.linear(rel, H, "encoder.layer.0.attention.self.query", H), pk1 = r.linear(rel, H, "encoder.layer.1.attention.self.key", H);
  const auto pk0 = r.linear(rel, H, "encoder.layer.0.attention.self.key", H), pq1 = r.linear(rel, H, "encoder.layer.1.attention.self.query", H);
  auto near = [&](const char* k, double want) { return std::fabs(std::atof(f[k].c_str()) - want) <= 1e-5 * (1 + std::fabs(want)); };
  auto index = [&](int d) { return std::min(std::max(tiny::deberta_bucket(d, 16, 64) + 16, 0), R - 1); };
  th::check(f["span"] == "16" && f["pos"] == "null" && f["type"] == "null" && f["index"] == "set" && f["pq"] == "set" &&
                f["modern"] == "0" && f["rotary"] == "0" && f["index_first"] == std::to_string(index(-(P - 1))) &&
                f["index_mid"] == std::to_string(index(0)) && f["index_last"] == std::to_string(index(P - 1)),
            "DeBERTa: the span, its index table over every offset, no position or type table: " + st.message());
  th::check(near("pq00", pq0[0]) && near("pk00", pk0[0]) && near("pq_last", pq1[size_t(R) * H - 1]) && near("pk_last", pk1[size_t(R) * H - 1]),
            "DeBERTa: the relative embeddings LayerNormed, through each layer's query and key, within 1e-5 of float64");
  // ALBERT: embeddings of 32 with their projection, one group of weights for its three layers, the tanh GELU
  st = load(tiny::make_tiny_factorized(43, 64, 2, 128, 256, 32, 1), Precision::kINT8);
  f = fields(st.message());
  th::check(f["embedding_size"] == "32" && f["groups"] == "1" && f["proj"] == "set" && f["layers"] == "3" && f["act"] == "2" &&
                f["pos"] == "set" && f["type"] == "set",
            "ALBERT: factorized embeddings with their projection, one shared group for three layers, the tanh GELU: " + st.message());
  unsetenv("BERTRT_CUDA_UNVERIFIED");
  st = load(tiny::make_tiny_factorized(47, 64, 2, 128, 256, 32, 0), Precision::kFP32);
  th::check(st.message().find("BERTRT_CUDA_UNVERIFIED=1") != std::string::npos, "ELECTRA's factorized embeddings on CUDA need the switch too");
  unsetenv("BERTRT_CUDA_UNVERIFIED");
}

int main() {
  test_f16_conversion();
  test_forward();
  test_rotary_gated();
  test_relative();
  test_modern_deberta();
  test_cuda_host();
  test_int8_smoothing();
  test_group_tasks();
  test_bad_files();
  test_read_f16();
  return th::finish();
}
