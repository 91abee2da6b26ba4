// The host side of the optional CUDA backend: loads libbertrt_cuda.so with dlopen (the CPU build never links
// CUDA), checks its ABI, probes the GPU, and wraps a CUDA model as a BertModel. Every failure is a Status whose
// message says why, so the caller can fall back to the CPU engine and report the reason.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../core/thread_pool.h"
#include "bertrt/model.h"

namespace bertrt {

struct CudaInfo {
  bool available = false;
  std::string library;  // the path that was tried
  std::string device;   // name, compute capability and memory, when available
  std::string reason;   // why not, when unavailable
};

// Loads (once per process) and probes the library at `library` for device 0.
CudaInfo cuda_info(const std::string& library);

// The encoder on CUDA: FP16 tensor-core GEMMs for Precision::kFP32 (FP32 accumulation, LayerNorm, softmax and
// residual stream), INT8 IMMA GEMMs for kINT8; kBF16 is refused. Weights are read here and uploaded.
// `pool` runs the host-side preparation (DeBERTa's projected relative embeddings).
Status load_cuda_model(const BertConfig& config, const WeightFiles& weights, const std::vector<TensorDesc>& tensors,
                       Precision precision, const std::string& library, ThreadPool& pool, std::unique_ptr<BertModel>* out);

}  // namespace bertrt
