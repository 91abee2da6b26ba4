// Reads named tensors out of a memory-mapped safetensors file into FP32 buffers, checking every range, dtype
// and shape that came from the file or the caller.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "../core/aligned.h"
#include "../core/mapped_file.h"
#include "bertrt/model.h"

namespace bertrt {

class WeightSource {
 public:
  Status open(const std::string& path, const std::vector<TensorDesc>& tensors);
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  // Copies tensor `name` (F32, F16 or BF16 in the file) into out as FP32, after checking its shape.
  Status read(const std::string& name, const std::vector<int64_t>& shape, AlignedBuffer<float>* out) const;

 private:
  MappedFile file_;
  std::string path_;
  std::map<std::string, TensorDesc> index_;
};

// Element conversions, exposed for tests.
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);

}  // namespace bertrt
