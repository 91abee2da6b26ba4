// The engine's own persistent thread pool. Inference never runs on libuv's pool or on Node's main thread:
// a job thread (Runtime) owns the pool and calls parallel_for, taking part itself as thread 0.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace bertrt {

// One step of a spin-wait: PAUSE where there is one (it tells the core, and an SMT sibling, that this is a wait).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins until ready() holds or `limit` has passed, and returns whether it holds. Measured in time, not iterations:
// PAUSE's latency differs by an order of magnitude between CPUs (Intel documents ~140 cycles since Skylake), so a
// fixed count would spin for very different times, and a long spin burns the quantum a shared core needs.
template <typename Ready>
bool spin_until(Ready ready, std::chrono::microseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (int i = 0; !ready(); ++i) {
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return ready();
  }
  return true;
}

class ThreadPool {
 public:
  // n_threads counts the calling thread, so ThreadPool(1) starts no worker.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(task, ith) for every task in [0, n_tasks) on at most max_threads threads (0 = all). Each thread starts on
  // its own contiguous share of the tasks, in order, then takes what is left of the others' shares one task at a
  // time. Returns when every task is done. Not reentrant: call it from one thread at a time, except with max_threads 1,
  // which runs the tasks inline on the calling thread (ith 0) and touches nothing of the pool's, so a task may do so.
  // Each output element must be owned by one task, so results never depend on the schedule.
  // On a shared CPU a worker can be descheduled while it holds a task, and the caller then waits for the scheduler
  // to run it again (milliseconds, each time). When the caller waits far longer than any task it ran itself, the
  // pool runs the next calls on the caller alone for a while (5 ms, doubling while stalls recur, at most 0.5 s),
  // then tries its workers again; 512 calls in a row without a stall reset the span.
  void parallel_for(int64_t n_tasks, const std::function<void(int64_t task, int ith)>& fn, int max_threads = 0);

  // Calls that found a worker stalled so far (each started a span on the caller alone), and whether the pool is in
  // such a span now.
  int64_t stalls() const { return stalls_; }
  bool solo() const;

 private:
  void worker_main(int ith);
  // Runs tasks from the shares until none is left; returns how many it ran. The caller (ith 0) also records its
  // longest task in *longest_ticks (thread_pool.cc's ticks()).
  int64_t drain(int ith, int64_t* longest_ticks = nullptr);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  // The call in progress: generation (high 32 bits), closed (bit 31: its tasks are all done, no worker may join),
  // and how many workers have joined it and not yet left (low bits). A worker touches fn_ and the shares only
  // between joining and leaving, and the caller reuses them only once the call is closed and empty.
  std::atomic<uint64_t> gate_{0};
  std::atomic<int64_t> remaining_{0};  // tasks of the call not finished yet
  // A thread's share of the tasks: the next one to take, and its end. One cache line each, so taking a task from
  // one's own share does not move the line between cores (a single shared counter did, on every task).
  struct alignas(64) Share {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };
  std::vector<Share> shares_;
  int active_threads_ = 0;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  std::atomic<bool> stop_{false};
  // stall detection (the caller's thread only)
  int64_t solo_until_ns_ = 0;  // steady-clock time until which calls run on the caller alone (0: not in a span)
  int64_t solo_span_ns_ = 0;   // the last span's length (0: none since the last reset)
  int64_t clean_calls_ = 0;    // parallel calls since the last stall
  int64_t stalls_ = 0;
};

// Physical cores of this machine (SMT siblings counted once), at least 1.
int physical_core_count();

// The threads worth running by default: physical cores, no more than the CPUs the affinity mask allows and the
// cgroup's CPU quota (rounded up), at least 1. More threads than the quota only get throttled in turn.
int usable_cpu_count();

}  // namespace bertrt
