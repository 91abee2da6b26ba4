// 64-byte aligned, uninitialised float/int buffers: every kernel may use aligned AVX-512 loads on them.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>

namespace bertrt {

template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      std::free(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~AlignedBuffer() { std::free(ptr_); }

  // Grows only; contents are not preserved. Throws std::bad_alloc, which the job runner turns into E_OUT_OF_MEMORY.
  void resize(size_t n) {
    if (n <= size_) return;
    std::free(ptr_);
    ptr_ = nullptr;
    size_ = 0;
    size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
    void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
    if (!p) throw std::bad_alloc();
    ptr_ = static_cast<T*>(p);
    size_ = n;
  }
  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return size_; }

 private:
  T* ptr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace bertrt
