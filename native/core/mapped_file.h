// A read-only memory map of a weights file. Weights are converted and packed out of it at load time, then it
// is unmapped; nothing of the file passes through the JavaScript heap.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "bertrt/status.h"

namespace bertrt {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  Status open(const std::string& path);
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace bertrt
