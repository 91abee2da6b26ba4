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
  // Tells the kernel the whole pages inside bytes [begin, end) will not be read soon: they leave this process's RSS
  // (the file's page cache keeps them) and are read again from the file if touched. Called once a tensor is copied
  // out, so loading holds at most the tensor in hand of the file, not all of it.
  void release(size_t begin, size_t end) const;

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace bertrt
