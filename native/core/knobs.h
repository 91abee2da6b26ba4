// Every environment variable the CPU engine reads, in one place: what each does and when it is read. Nothing else in
// the core calls getenv. (The CUDA library, loaded on its own, reads BERTRT_CUDA_GEMM and BERTRT_CUDA_GRAPHS itself;
// the addon's TypeScript side reads BERTRT_CUDA_LIB and BERTRT_ONNXRUNTIME.)
#pragma once
#include <string>

namespace bertrt {

// Read at each model load, so a process may load models under different settings (tests and benches do).
struct LoadKnobs {
  // BERTRT_F16_WEIGHTS=0: FP32 weights that are all exact halves are packed as FP32 panels, not kept as halves
  // (the same bits either way; the halves take half the memory).
  bool f16_weights = true;
  // BERTRT_SEQ_CHUNK=N (N > 0): a layer runs over groups of whole sequences of at most N tokens (at least one
  // sequence) instead of the precision's default (see Encoder::bind).
  int seq_chunk = 0;
  // BERTRT_GROUP_TASKS=0: a layer always runs one group of sequences at a time, every step spread over the threads,
  // instead of running a batch of several short sequences as one task per group (plan_groups in encoder.cc).
  bool group_tasks = true;
  // BERTRT_INT8_SMOOTHING=0: INT8 quantizes the Q/K/V and FFN-in inputs without SmoothQuant's per-channel factors.
  bool int8_smoothing = true;
  // BERTRT_ONNX_ARENA=0: onnxruntime sessions without the CPU memory arena.
  bool onnx_arena = true;

  static LoadKnobs from_env();
};

// Read once, on first use (the kernel tables are chosen once per process).
struct ProcessKnobs {
  // BERTRT_ISA=generic|avx2|avx512|avxvnni|avxvnni-evex|amx: the kernel table to use where it runs here (empty: the
  // best the CPU has).
  std::string isa;
  // BERTRT_AMX: 1 opts into the AMX-INT8 GEMM; 0 keeps the BF16 GEMMs off the AMX tiles; -1 (unset) the defaults.
  int amx = -1;

  static const ProcessKnobs& get();
};

// BERTRT_CPU_QUOTA_FILE (tests): a cpu.max-format file read in place of the cgroup's by each usable_cpu_count() call;
// empty when unset.
std::string cpu_quota_file();

}  // namespace bertrt
