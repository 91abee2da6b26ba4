// GPU benchmark of the CUDA backend, for the machines the `device` tool lends (they have no Node.js): the encoder
// of BERT-base and of MiniLM-L6 with random weights, FP16 and INT8, batch {1, 32, 128} x sequence {128, 384},
// through the library's C interface. Each point: 3 warm-up passes, then passes until 1 s or 200 have run; the
// median pass gives latency and sequences/s. Two timings per point: "device" (hidden states left on the GPU, as
// PyTorch's are in bench/cuda/torch_peer.py) and "to host" (copied back, what the Node addon pays).
// Prints one JSON object per line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bertrt_cuda.h"

namespace {

struct Shape {
  const char* name;
  int hidden, layers, heads, inter;
};

double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string only = argc > 1 ? argv[1] : "";
  char info[256] = "";
  if (bertrt_cuda_probe(0, info, sizeof info) != 0) {
    std::fprintf(stderr, "bench_cuda: %s\n", info);
    return 77;
  }
  std::printf("{\"device\": \"%s\"}\n", info);
  const Shape shapes[] = {{"bert-base", 768, 12, 12, 3072}, {"minilm-l6", 384, 6, 12, 1536}};
  uint64_t seed = 1;
  auto rnd = [&]() {  // uniform in [-0.05, 0.05): BERT-like weight scale
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (static_cast<float>(seed >> 40) / 16777216.f - 0.5f) * 0.1f;
  };
  for (const Shape& s : shapes) {
    if (!only.empty() && only != s.name) continue;
    const int H = s.hidden, I = s.inter, V = 30522, P = 512;
    std::vector<std::vector<float>> store;
    auto make = [&](size_t n, float base = 0.f) {
      store.emplace_back(n);
      for (auto& x : store.back()) x = base + rnd();
      return store.back().data();
    };
    store.reserve(8 + 16 * s.layers);
    bertrt_cuda_embeddings emb{make(size_t(V) * H), make(size_t(P) * H), make(2ull * H), make(H, 1.f), make(H)};
    std::vector<bertrt_cuda_layer> layers(s.layers);
    for (auto& L : layers)
      L = {make(size_t(H) * H), make(H), make(size_t(H) * H), make(H), make(size_t(H) * H), make(H), make(size_t(H) * H),
           make(H), make(H, 1.f), make(H), make(size_t(I) * H), make(I), make(size_t(H) * I), make(H), make(H, 1.f), make(H)};
    bertrt_cuda_config c{V, H, s.layers, s.heads, I, P, 2, 1e-12f};
    for (int precision : {BERTRT_CUDA_FP16, BERTRT_CUDA_INT8}) {
      void* model = nullptr;
      char err[512] = "";
      if (bertrt_cuda_create(&c, &emb, layers.data(), precision, 0, &model, err, sizeof err) != 0) {
        std::fprintf(stderr, "bench_cuda: %s: %s\n", s.name, err);
        return 1;
      }
      for (int batch : {1, 32, 128})
        for (int len : {128, 384}) {
          const int T = batch * len;
          std::vector<int32_t> ids(T), types(T, 0), cu(batch + 1);
          for (int i = 0; i < T; ++i) ids[i] = 1000 + (i * 7919) % 20000;
          for (int b = 0; b <= batch; ++b) cu[b] = b * len;
          std::vector<float> out(size_t(T) * H);
          double ms[2];
          for (int host = 0; host < 2; ++host) {
            float* dst = host ? out.data() : nullptr;
            std::vector<double> t;
            double total = 0;
            for (int it = 0; it < 203 && (it < 8 || total < 1000.0); ++it) {
              auto t0 = std::chrono::steady_clock::now();
              if (bertrt_cuda_forward(model, ids.data(), types.data(), cu.data(), batch, T, dst, err, sizeof err) != 0) {
                std::fprintf(stderr, "bench_cuda: forward: %s\n", err);
                return 1;
              }
              const double d = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
              if (it >= 3) t.push_back(d), total += d;
            }
            ms[host] = median_ms(t);
          }
          std::printf("{\"model\": \"%s\", \"precision\": \"%s\", \"batch\": %d, \"seq\": %d, \"ms\": %.4f, "
                      "\"seq_per_s\": %.1f, \"ms_to_host\": %.4f, \"seq_per_s_to_host\": %.1f}\n",
                      s.name, precision == BERTRT_CUDA_INT8 ? "int8" : "fp16", batch, len, ms[0], batch * 1000.0 / ms[0],
                      ms[1], batch * 1000.0 / ms[1]);
          std::fflush(stdout);
        }
      bertrt_cuda_destroy(model);
    }
  }
  return 0;
}
