// Prints the kernel microbenchmarks for the MiniLM-L6 and BERT-base shapes at 32x128 tokens on every ISA path,
// with the FP32 peak measured first. Usage: bench_kernels [threads]
#include <cstdio>
#include <cstdlib>

#include "bench/microbench.h"
#include "core/thread_pool.h"
#include "cpu/kernels.h"

using namespace bertrt;

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : physical_core_count();
  ThreadPool pool(threads);
  auto show = [](const bench::Result& r, double peak) {
    std::printf("%-16s %-8s %-22s %9.3f ms %8.1f GFLOPS %5.1f%% of peak %7.1f GB/s\n", r.op.c_str(), r.isa.c_str(), r.shape.c_str(),
                r.seconds * 1e3, r.gflops, peak > 0 ? 100 * r.gflops / peak : 0.0, r.gbps);
  };
  bench::Result peak = bench::fp32_peak(pool, threads);
  std::printf("FP32 FMA peak (%s, %d threads): %.1f GFLOPS\n", peak.isa.c_str(), threads, peak.gflops);
  for (const std::string& isa : cpu::runnable_isas()) {
    if (isa == "generic" && !std::getenv("BENCH_GENERIC")) continue;
    const int T = 32 * 128;
    show(bench::gemm(pool, isa, T, 1152, 384, false, 0.3), peak.gflops);
    show(bench::gemm(pool, isa, T, 384, 384, false, 0.3), peak.gflops);
    show(bench::gemm(pool, isa, T, 1536, 384, true, 0.3), peak.gflops);
    show(bench::gemm(pool, isa, T, 384, 1536, false, 0.3), peak.gflops);
    show(bench::gemm(pool, isa, 16, 1152, 384, false, 0.3), peak.gflops);
    show(bench::attention(pool, isa, 32, 128, 12, 32, 0.3), peak.gflops);
    show(bench::attention(pool, isa, 1, 16, 12, 32, 0.3), peak.gflops);
    show(bench::layernorm(pool, isa, T, 384, 0.3), peak.gflops);
  }
  bench::Result speak = bench::s8_peak(pool, threads);
  std::printf("INT8 VNNI peak (%s, %d threads): %.1f GOPS\n", speak.isa.c_str(), threads, speak.gflops);
  for (const std::string& isa : cpu::runnable_s8_isas()) {
    if (isa == "generic" && !std::getenv("BENCH_GENERIC")) continue;
    const int T = 32 * 128;
    show(bench::gemm_s8(pool, isa, T, 1152, 384, false, 0.3), speak.gflops);
    show(bench::gemm_s8(pool, isa, T, 384, 384, false, 0.3), speak.gflops);
    show(bench::gemm_s8(pool, isa, T, 1536, 384, true, 0.3), speak.gflops);
    show(bench::gemm_s8(pool, isa, T, 384, 1536, false, 0.3), speak.gflops);
    show(bench::gemm_s8(pool, isa, 16, 1152, 384, false, 0.3), speak.gflops);
    show(bench::quantize(pool, isa, T, 384, 0.3), speak.gflops);
  }
  if (cpu::kernels_bf16()) {
    const int T = 32 * 128;
    show(bench::gemm_bf16(pool, T, 1152, 384, false, 0.3), peak.gflops);
    show(bench::gemm_bf16(pool, T, 384, 384, false, 0.3), peak.gflops);
    show(bench::gemm_bf16(pool, T, 1536, 384, true, 0.3), peak.gflops);
    show(bench::gemm_bf16(pool, T, 384, 1536, false, 0.3), peak.gflops);
  }
  return 0;
}
