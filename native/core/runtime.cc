// Job thread + pool. Pool resizing happens on the job thread between jobs, so no job ever sees it change.
#include "runtime.h"

namespace bertrt {

namespace {
// After a job the job thread spins this long for the next one before sleeping on the condition variable. A caller
// awaiting calls back to back (one sentence after another, a batcher's next batch) submits again some 10-20 us after
// its promise settles, and waking the sleeping thread cost ~15 us more: 5% of one 16-token INT8 sentence on the Zen 5
// (development-ab.md, step 16). Not with one thread: under a one-core CPU quota the spin would take the caller's time.
constexpr auto kJobSpin = std::chrono::microseconds(50);
}  // namespace

Runtime& Runtime::get() {
  static Runtime* rt = new Runtime();  // intentionally leaked, see header
  return *rt;
}

Runtime::Runtime() : wanted_threads_(usable_cpu_count()) {
  pool_ = std::make_unique<ThreadPool>(wanted_threads_);
  thread_ = std::thread([this] { main(); });
  thread_.detach();
}

void Runtime::request_threads(int n) {
  std::lock_guard<std::mutex> lk(mu_);
  if (n <= 0) n = usable_cpu_count();
  if (n > wanted_threads_) wanted_threads_ = n;
}

int Runtime::threads() const {
  std::lock_guard<std::mutex> lk(mu_);
  return wanted_threads_;
}

void Runtime::submit(std::function<void(ThreadPool&)> job) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    jobs_.push_back(std::move(job));
    queued_.store(jobs_.size(), std::memory_order_release);
  }
  cv_.notify_one();
}

void Runtime::main() {
  for (;;) {
    std::function<void(ThreadPool&)> job;
    int want;
    if (pool_->size() > 1) spin_until([&] { return queued_.load(std::memory_order_acquire) > 0; }, kJobSpin);
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return !jobs_.empty(); });
      job = std::move(jobs_.front());
      jobs_.pop_front();
      queued_.store(jobs_.size(), std::memory_order_relaxed);
      want = wanted_threads_;
    }
    if (want != pool_->size()) pool_ = std::make_unique<ThreadPool>(want);
    job(*pool_);
  }
}

}  // namespace bertrt
