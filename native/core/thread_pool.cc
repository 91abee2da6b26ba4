// Thread pool: workers spin briefly on a generation counter (a BERT forward issues dozens of parallel_for calls
// back to back, so a futex sleep between them would dominate short sentences), then sleep on a condition variable.
#include "thread_pool.h"

#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define BERTRT_PAUSE() _mm_pause()
#else
#define BERTRT_PAUSE() std::this_thread::yield()
#endif

namespace bertrt {

namespace {
constexpr int kSpinIterations = 20000;  // ~50-100 µs of spinning before sleeping
}

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads < 1) n_threads = 1;
  shares_ = std::vector<Share>(n_threads);
  workers_.reserve(n_threads - 1);
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::drain(int ith) {
  for (int k = 0; k < active_threads_; ++k) {  // own share first, then the others' in turn
    Share& s = shares_[(ith + k) % active_threads_];
    for (;;) {
      const int64_t t = s.next.fetch_add(1, std::memory_order_relaxed);
      if (t >= s.end) break;
      (*fn_)(t, ith);
    }
  }
}

void ThreadPool::worker_main(int ith) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    int spins = 0;
    while (g == seen && spins < kSpinIterations) {
      BERTRT_PAUSE();
      ++spins;
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_) return;
    if (ith < active_threads_) drain(ith);
    busy_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(int64_t n_tasks, const std::function<void(int64_t, int)>& fn, int max_threads) {
  if (n_tasks <= 0) return;
  int nth = size();
  if (max_threads > 0 && max_threads < nth) nth = max_threads;
  if (n_tasks < nth) nth = static_cast<int>(n_tasks);
  if (nth <= 1 || workers_.empty()) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  fn_ = &fn;
  active_threads_ = nth;
  for (int i = 0; i < nth; ++i) {
    shares_[i].next.store(n_tasks * i / nth, std::memory_order_relaxed);
    shares_[i].end = n_tasks * (i + 1) / nth;
  }
  busy_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lk(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  drain(0);
  while (busy_.load(std::memory_order_acquire) != 0) BERTRT_PAUSE();
  fn_ = nullptr;
}

int physical_core_count() {
  // Count distinct (package, core) pairs from sysfs; fall back to hardware_concurrency elsewhere.
  std::set<std::pair<std::string, std::string>> cores;
  unsigned n = std::thread::hardware_concurrency();
  for (unsigned cpu = 0; cpu < n; ++cpu) {
    std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream pkg(base + "physical_package_id"), core(base + "core_id");
    std::string p, c;
    if (!(pkg >> p) || !(core >> c)) {
      cores.clear();
      break;
    }
    cores.emplace(p, c);
  }
  if (!cores.empty()) return static_cast<int>(cores.size());
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace bertrt
