// GPU benchmark of the CUDA backend, for the machines the `device` tool lends (they have no Node.js): the encoder
// of BERT-base and of MiniLM-L6 with random weights, FP16, INT8 and FP8, batch {1, 32, 128} x sequence {128, 384},
// through the library's C interface. Each point: 3 warm-up passes, then passes until 1 s (BERTRT_BENCH_SECONDS) or 200 have run (at least 10); the
// median pass gives latency and sequences/s. Two timings per point: "device" (hidden states left on the GPU, as
// PyTorch's are in bench/cuda/torch_peer.py) and "to host" (copied back, what the Node addon pays).
// Then each kernel alone (bench_cuda kernels): the four linear layers of BERT-base at 16,384 and 128 tokens through
// every GEMM kernel in FP16 and INT8, and the attention at 128 x 128 and 32 x 384, timed with CUDA events (median of
// 20 launches captured in a CUDA graph) in TFLOP/s; torch_peer.py times cuBLAS (F.linear, torch._int_mm) and SDPA on the same shapes.
// Where cuBLASLt loads (cublaslt.cuh), the GEMMs also through it (tile "cublaslt": FP16 with the residual layers' bias
// and residual in its epilogue, the others with an FP16 bias, GELU then in place; INT8 and, on compute capability 8.9+,
// FP8 as the product then the scale epilogue, and the product alone as tile "cublaslt-product"), and the FP16 and INT8
// encoders twice: on cuBLASLt ("fp16", "int8") and on the own kernels ("fp16-own", "int8-own", BERTRT_CUBLASLT=0),
// then FP8 ("fp8") where the GPU has it; each model row names its GEMMs.
// Serving (bench_cuda serve IDS [CLIENTS]): the sentences of bench/data/serve-sentences.txt.gz as token ids
// (bench/cuda/serve_ids.py writes IDS), each a request from one of CLIENTS (default 256) closed-loop clients (a client
// sends its next request when the last is answered), through a batcher with the server's policy (lib/server/
// batcher.ts: up to 16,384 tokens and 256 requests a batch, one batch in the engine at a time, whatever queued meanwhile
// forms the next) and the engine's C interface, hidden states copied to the host; against the offline throughput of
// the same sentences in file order in batches of the same budget. Reported: sentences/s both ways, their ratio,
// request latency p50 / p99, the mean batch.
// Prints one JSON object per line. Usage: bench_cuda [kernels|bert-base|minilm-l6|serve IDS [CLIENTS]]
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <string>
#include <vector>

#include "attention.cuh"
#include "bertrt_cuda.h"
#include "cublaslt.cuh"
#include "gemm.cuh"
#include "serve.h"

namespace {

struct Shape {
  const char* name;
  int hidden, layers, heads, inter;
};

double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Time of one launch in ms: `launch(stream)` is captured 20 times into a CUDA graph, so that launches follow each
// other on the GPU with no host gap (as in the encoder's own graphs); the median of 7 timed replays (after 2), by
// CUDA events, over 20. Negative on a CUDA error.
template <typename F>
double time_kernel(F launch) {
  cudaStream_t st = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cudaEvent_t a = nullptr, b = nullptr;
  constexpr int kPerGraph = 20;
  std::vector<double> t;
  bool ok = cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) == cudaSuccess &&
            cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
  if (ok) {
    for (int i = 0; i < kPerGraph; ++i) launch(st);
    ok = cudaStreamEndCapture(st, &graph) == cudaSuccess && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
  }
  ok = ok && cudaEventCreate(&a) == cudaSuccess && cudaEventCreate(&b) == cudaSuccess;
  for (int it = 0; ok && it < 9; ++it) {
    cudaEventRecord(a, st);
    cudaGraphLaunch(exec, st);
    cudaEventRecord(b, st);
    ok = cudaEventSynchronize(b) == cudaSuccess;
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    if (it >= 2) t.push_back(ms / kPerGraph);
  }
  if (a) cudaEventDestroy(a);
  if (b) cudaEventDestroy(b);
  if (exec) cudaGraphExecDestroy(exec);
  if (graph) cudaGraphDestroy(graph);
  if (st) cudaStreamDestroy(st);
  if (!ok || cudaGetLastError() != cudaSuccess || t.empty()) return -1;
  return median_ms(t);
}

template <typename T>
T* device_random(size_t n, uint64_t seed) {
  std::vector<T> h(n);
  for (auto& x : h) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const float u = static_cast<float>(seed >> 40) / 16777216.f - 0.5f;  // [-0.5, 0.5): never all zeros
    if constexpr (std::is_same<T, __half>::value) x = __float2half_rn(u);
    else if constexpr (std::is_same<T, int8_t>::value) x = static_cast<int8_t>(u * 250);
    else if constexpr (std::is_same<T, __nv_fp8_e4m3>::value) x = __nv_fp8_e4m3(u * 8.f);
    else x = u;
  }
  T* d = nullptr;
  if (cudaMalloc(&d, n * sizeof(T)) != cudaSuccess) return nullptr;
  cudaMemcpy(d, h.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  return d;
}

int bench_kernels() {
  std::string e = bertrt_cuda::gemm_prepare();
  if (e.empty()) e = bertrt_cuda::attention_prepare(64);
  if (!e.empty()) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.c_str());
    return 1;
  }
  struct Op { const char* name; int n, k; bool gelu, residual; };
  const Op ops[] = {{"qkv", 2304, 768, false, false}, {"attn-out", 768, 768, false, true},
                    {"ffn-in", 3072, 768, true, false}, {"ffn-out", 768, 3072, false, true}};
  const int max_m = 16384, max_n = 3072, max_k = 3072;
  auto* a16 = device_random<__half>(size_t(max_m) * max_k, 1);
  auto* w16 = device_random<__half>(size_t(max_n) * max_k, 2);
  auto* a8 = device_random<int8_t>(size_t(max_m) * max_k, 3);
  auto* w8 = device_random<int8_t>(size_t(max_n) * max_k, 4);
  auto* sa = device_random<float>(max_m, 5);
  auto* sw = device_random<float>(max_n, 6);
  auto* bias = device_random<float>(max_n, 7);
  auto* res = device_random<float>(size_t(max_m) * max_n, 8);
  float* c32 = device_random<float>(size_t(max_m) * max_n, 9);
  auto* c16 = device_random<__half>(size_t(max_m) * max_n, 10);
  if (!a16 || !w16 || !a8 || !w8 || !sa || !sw || !bias || !res || !c32 || !c16) {
    std::fprintf(stderr, "bench_cuda: out of device memory\n");
    return 1;
  }
  using bertrt_cuda::GemmTile;
  for (int m : {16384, 128})
    for (const Op& op : ops)
      for (GemmTile tile : bertrt_cuda::kAllTiles)
        for (int int8 = 0; int8 < 2; ++int8) {
          bertrt_cuda::Epilogue ep;
          ep.bias = bias, ep.gelu = op.gelu, ep.residual = op.residual ? res : nullptr;
          if (op.residual) ep.c32 = c32; else ep.c16 = c16;
          const double ms = time_kernel([&](cudaStream_t st) {
            if (int8) bertrt_cuda::gemm_s8(a8, sa, w8, sw, m, op.n, op.k, ep, st, tile);
            else bertrt_cuda::gemm_f16(a16, w16, m, op.n, op.k, ep, st, tile);
          });
          std::printf("{\"kernel\": \"gemm\", \"op\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"tile\": \"%s\", "
                      "\"precision\": \"%s\", \"ms\": %.5f, \"tflops\": %.1f}\n",
                      op.name, m, op.n, op.k, bertrt_cuda::gemm_tile_name(tile),
                      int8 ? "int8" : "fp16", ms, 2.0 * m * op.n * op.k / (ms * 1e9));
          std::fflush(stdout);
        }
  if (bertrt_cuda::cublaslt_status().empty()) {
    void* ws = nullptr;
    const size_t ws_bytes = size_t(32) << 20;
    __half* bias16 = device_random<__half>(max_n, 11);
    cudaMalloc(&ws, ws_bytes);
    for (int m : {16384, 128})
      for (const Op& op : ops) {
        bertrt_cuda::LtEpilogue le;
        if (op.residual) le.bias32 = bias, le.residual = res, le.c32 = c32;
        else le.bias16 = bias16, le.c16 = c16;
        // once outside the captured graph: the algorithm is chosen (a host query) on the first call of a shape
        std::string err = bertrt_cuda::lt_gemm_f16(a16, w16, m, op.n, op.k, le, ws, ws_bytes, nullptr);
        cudaDeviceSynchronize();
        const double ms = time_kernel([&](cudaStream_t st) {
          const std::string e = bertrt_cuda::lt_gemm_f16(a16, w16, m, op.n, op.k, le, ws, ws_bytes, st);
          if (!e.empty()) err = e;
          if (op.gelu) bertrt_cuda::activate_f16(c16, size_t(m) * op.n, 1, nullptr, st);
        });
        if (!err.empty()) std::fprintf(stderr, "bench_cuda: cuBLASLt %s: %s\n", op.name, err.c_str());
        std::printf("{\"kernel\": \"gemm\", \"op\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"tile\": \"cublaslt\", "
                    "\"precision\": \"fp16\", \"ms\": %.5f, \"tflops\": %.1f}\n",
                    op.name, m, op.n, op.k, ms, 2.0 * m * op.n * op.k / (ms * 1e9));
        std::fflush(stdout);
      }
    // INT8 and FP8: the product (INT32 / FP32 in acc), then the own kernels' epilogue; both timed, and the product alone
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    const bool fp8 = prop.major * 10 + prop.minor >= 89;
    auto* af8 = fp8 ? device_random<__nv_fp8_e4m3>(size_t(max_m) * max_k, 12) : nullptr;
    auto* wf8 = fp8 ? device_random<__nv_fp8_e4m3>(size_t(max_n) * max_k, 13) : nullptr;
    float* acc = nullptr;
    cudaMalloc(&acc, size_t(max_m) * max_n * sizeof(float));
    for (int m : {16384, 128})
      for (const Op& op : ops)
        for (int q = 0; q < (fp8 && af8 && wf8 ? 2 : 1); ++q)
          for (int product_only = 0; product_only < 2; ++product_only) {
            bertrt_cuda::Epilogue ep;
            ep.bias = bias, ep.gelu = op.gelu, ep.residual = op.residual ? res : nullptr;
            if (op.residual) ep.c32 = c32; else ep.c16 = c16;
            auto product = [&](cudaStream_t st) {
              return q == 0 ? bertrt_cuda::lt_gemm_s8(a8, w8, m, op.n, op.k, reinterpret_cast<int32_t*>(acc), ws, ws_bytes, st)
                            : bertrt_cuda::lt_gemm_f8(af8, wf8, m, op.n, op.k, acc, ws, ws_bytes, st);
            };
            std::string err = product(nullptr);  // (the algorithm chosen and timed outside the captured graph)
            cudaDeviceSynchronize();
            const double ms = err.empty() ? time_kernel([&](cudaStream_t st) {
              const std::string e = product(st);
              if (!e.empty()) err = e;
              if (product_only) return;
              if (q == 0) bertrt_cuda::scale_epilogue(reinterpret_cast<const int32_t*>(acc), m, op.n, sa, sw, ep, st);
              else bertrt_cuda::scale_epilogue(acc, m, op.n, sa, sw, ep, st);
            }) : -1;
            if (!err.empty()) std::fprintf(stderr, "bench_cuda: cuBLASLt %s %s: %s\n", q ? "FP8" : "INT8", op.name, err.c_str());
            std::printf("{\"kernel\": \"gemm\", \"op\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"tile\": \"%s\", "
                        "\"precision\": \"%s\", \"ms\": %.5f, \"tflops\": %.1f}\n",
                        op.name, m, op.n, op.k, product_only ? "cublaslt-product" : "cublaslt", q ? "fp8" : "int8", ms,
                        2.0 * m * op.n * op.k / (ms * 1e9));
            std::fflush(stdout);
          }
    if (!fp8) std::fprintf(stderr, "bench_cuda: no FP8 GEMMs: compute capability %d.%d (8.9 needed)\n", prop.major, prop.minor);
    cudaFree(acc);
    cudaFree(af8);
    cudaFree(wf8);
    cudaFree(ws);
    cudaFree(bias16);
  } else {
    std::fprintf(stderr, "bench_cuda: no cuBLASLt GEMMs: %s\n", bertrt_cuda::cublaslt_status().c_str());
  }
  for (const auto& shape : {std::pair{128, 128}, std::pair{32, 384}, std::pair{1, 128}}) {
    const int seqs = shape.first, len = shape.second;
    const int heads = 12, d = 64;
    std::vector<int32_t> cu(seqs + 1);
    for (int s = 0; s <= seqs; ++s) cu[s] = s * len;
    int32_t* dcu = nullptr;
    cudaMalloc(&dcu, cu.size() * 4);
    cudaMemcpy(dcu, cu.data(), cu.size() * 4, cudaMemcpyHostToDevice);
    const double ms = time_kernel([&](cudaStream_t st) { bertrt_cuda::attention(a16, dcu, seqs, len, heads, d, c16, st); });
    std::printf("{\"kernel\": \"attention\", \"variant\": \"registers\", \"seqs\": %d, \"len\": %d, \"heads\": %d, "
                "\"head_dim\": %d, \"ms\": %.5f, \"tflops\": %.1f}\n",
                seqs, len, heads, d, ms, 4.0 * seqs * heads * double(len) * len * d / (ms * 1e9));
    std::fflush(stdout);
    cudaFree(dcu);
  }
  for (void* p : {static_cast<void*>(a16), static_cast<void*>(w16), static_cast<void*>(a8), static_cast<void*>(w8),
                  static_cast<void*>(sa), static_cast<void*>(sw), static_cast<void*>(bias), static_cast<void*>(res),
                  static_cast<void*>(c32), static_cast<void*>(c16)})
    cudaFree(p);
  return 0;
}

int bench_serve(void* model, int H, const std::vector<std::vector<int32_t>>& sents, int clients, const char* name,
                const char* label, const char* gemms) {
  const serve_bench::Result r = serve_bench::replay(
      [&](const int32_t* ids, const int32_t* cu, int n_seqs, int tokens, float* out) {
        char err[512] = "";
        if (bertrt_cuda_forward(model, ids, nullptr, cu, n_seqs, tokens, out, err, sizeof err) == 0) return true;
        std::fprintf(stderr, "bench_cuda: serve forward: %s\n", err);
        return false;
      },
      H, sents, clients);
  if (!r.ok) return 1;
  std::printf("{\"serve\": \"%s\", \"precision\": \"%s\", \"sentences\": %zu, \"clients\": %d, \"offline_per_s\": %.1f, "
              "\"served_per_s\": %.1f, \"ratio\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"mean_batch\": %.1f, \"gemm\": \"%s\"}\n",
              name, label, sents.size(), clients, r.offline_per_s, r.served_per_s, r.ratio, r.p50_ms, r.p99_ms, r.mean_batch, gemms);
  std::fflush(stdout);
  return 0;
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
  setenv("BERTRT_CUBLASLT", "1", /*overwrite=*/0);  // cuBLASLt is opt-in: measure it wherever it loads
  if (only.empty() || only == "kernels") {
    const int rc = bench_kernels();
    if (rc != 0 || only == "kernels") return rc;
  }
  // serve IDS [CLIENTS]: the request stream, one sentence's ids a line
  std::vector<std::vector<int32_t>> serve_ids;
  int clients = 256;
  if (only == "serve") {
    if (argc < 3) {
      std::fprintf(stderr, "usage: bench_cuda serve IDS [CLIENTS]\n");
      return 2;
    }
    if (argc > 3) clients = std::max(1, std::atoi(argv[3]));
    std::ifstream f(argv[2]);
    for (std::string line; std::getline(f, line);) {
      std::istringstream in(line);
      std::vector<int32_t> ids;
      for (int32_t id; in >> id;) ids.push_back(id);
      if (!ids.empty()) serve_ids.push_back(std::move(ids));
    }
    if (serve_ids.empty()) {
      std::fprintf(stderr, "bench_cuda: no token ids in %s\n", argv[2]);
      return 1;
    }
  }
  const char* secs = std::getenv("BERTRT_BENCH_SECONDS");
  const double budget_ms = 1000.0 * (secs ? std::atof(secs) : 1.0);
  const Shape shapes[] = {{"bert-base", 768, 12, 12, 3072}, {"minilm-l6", 384, 6, 12, 1536}};
  uint64_t seed = 1;
  auto rnd = [&]() {  // uniform in [-0.05, 0.05): BERT-like weight scale
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (static_cast<float>(seed >> 40) / 16777216.f - 0.5f) * 0.1f;
  };
  for (const Shape& s : shapes) {
    if (!only.empty() && only != s.name && only != "serve") continue;
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
    bertrt_cuda_config c{V, H, s.layers, s.heads, I, P, 2, 1e-12f, -1};
    // FP16 and INT8 on the own kernels first (only where cuBLASLt is the default; not when serving), then the
    // defaults of FP16 and INT8, then FP8 (cuBLASLt only; skipped, saying why, where it cannot run)
    const bool lt = bertrt_cuda::cublaslt_status().empty();
    struct Run { const char* label; int precision; bool own; };
    std::vector<Run> runs;
    if (lt && only != "serve") runs = {{"fp16-own", BERTRT_CUDA_FP16, true}, {"int8-own", BERTRT_CUDA_INT8, true}};
    runs.push_back({"fp16", BERTRT_CUDA_FP16, false});
    runs.push_back({"int8", BERTRT_CUDA_INT8, false});
    if (lt) runs.push_back({"fp8", BERTRT_CUDA_FP8, false});
    for (const Run& run : runs) {
      const int precision = run.precision;
      const char* label = run.label;
      if (run.own) setenv("BERTRT_CUBLASLT", "0", 1);  // (read at each model's creation)
      void* model = nullptr;
      char err[512] = "";
      const int created = bertrt_cuda_create(&c, &emb, layers.data(), precision, 0, &model, err, sizeof err);
      if (run.own) setenv("BERTRT_CUBLASLT", "1", 1);
      char gemms[512] = "";
      if (created == 0) bertrt_cuda_describe(model, gemms, sizeof gemms);
      if (created != 0 && precision == BERTRT_CUDA_FP8) {
        std::fprintf(stderr, "bench_cuda: %s: no FP8 run: %s\n", s.name, err);
        continue;
      }
      if (created != 0) {
        std::fprintf(stderr, "bench_cuda: %s: %s\n", s.name, err);
        return 1;
      }
      if (only == "serve") {
        const int rc = bench_serve(model, H, serve_ids, clients, s.name, label, gemms);
        bertrt_cuda_destroy(model);
        if (rc != 0) return rc;
        continue;
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
            for (int it = 0; it < 203 && (it < 13 || total < budget_ms); ++it) {
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
                      "\"seq_per_s\": %.1f, \"ms_to_host\": %.4f, \"seq_per_s_to_host\": %.1f, \"gemm\": \"%s\"}\n",
                      s.name, label, batch, len, ms[0], batch * 1000.0 / ms[0], ms[1], batch * 1000.0 / ms[1], gemms);
          std::fflush(stdout);
        }
      bertrt_cuda_destroy(model);
    }
  }
  return 0;
}
