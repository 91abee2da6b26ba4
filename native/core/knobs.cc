#include "knobs.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace bertrt {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
}  // namespace

LoadKnobs LoadKnobs::from_env() {
  LoadKnobs k;
  k.f16_weights = env("BERTRT_F16_WEIGHTS") != "0";
  k.seq_chunk = std::max(0, std::atoi(env("BERTRT_SEQ_CHUNK").c_str()));
  k.group_tasks = env("BERTRT_GROUP_TASKS") != "0";
  k.int8_smoothing = env("BERTRT_INT8_SMOOTHING") != "0";
  k.onnx_arena = env("BERTRT_ONNX_ARENA") != "0";
  return k;
}

const ProcessKnobs& ProcessKnobs::get() {
  static const ProcessKnobs knobs = [] {
    ProcessKnobs k;
    k.isa = env("BERTRT_ISA");
    const std::string amx = env("BERTRT_AMX");
    k.amx = amx == "1" ? 1 : amx == "0" ? 0 : -1;
    return k;
  }();
  return knobs;
}

std::string cpu_quota_file() { return env("BERTRT_CPU_QUOTA_FILE"); }

}  // namespace bertrt
