// POSIX mmap of a weights file.
#include "mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bertrt {

MappedFile::~MappedFile() {
  if (data_ && size_) munmap(const_cast<uint8_t*>(data_), size_);
}

Status MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {Code::kIo, "cannot open weights file '" + path + "': " + std::strerror(errno)};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return {Code::kIo, "cannot stat '" + path + "': " + std::strerror(e)};
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) {
    ::close(fd);
    return {Code::kModelFormat, "weights file '" + path + "' is empty"};
  }
  void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    size_ = 0;
    return {Code::kIo, "cannot map '" + path + "': " + std::strerror(e)};
  }
  data_ = static_cast<const uint8_t*>(p);
  return Status::Ok();
}

void MappedFile::release(size_t begin, size_t end) const {
  const long page_size = sysconf(_SC_PAGESIZE);
  if (!data_ || page_size <= 0 || end > size_ || begin >= end) return;
  const uintptr_t page = static_cast<uintptr_t>(page_size);
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(data_) + begin + page - 1) / page * page;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(data_) + end) / page * page;
  // advice only: a failure changes nothing the caller can see
  if (hi > lo) (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

}  // namespace bertrt
