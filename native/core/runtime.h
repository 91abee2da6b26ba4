// The process-wide job runner: one job thread takes jobs in FIFO order and runs each on the whole thread pool.
// Every model in the process shares it, so two engines never fight over the cores.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "thread_pool.h"

namespace bertrt {

class Runtime {
 public:
  // Created on first use and never destroyed: the job thread must outlive any static destructor that could
  // still be waiting on it when the process exits.
  static Runtime& get();

  // Asks for at least n threads (0 = physical cores); the pool grows before the next job starts.
  void request_threads(int n);
  int threads() const;
  // Jobs run one at a time, in order, on the job thread, with the pool.
  void submit(std::function<void(ThreadPool&)> job);

 private:
  Runtime();
  void main();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(ThreadPool&)>> jobs_;
  std::atomic<size_t> queued_{0};  // jobs_.size(), for the job thread's spin to read without the lock
  std::unique_ptr<ThreadPool> pool_;
  int wanted_threads_ = 0;
  std::thread thread_;
};

}  // namespace bertrt
