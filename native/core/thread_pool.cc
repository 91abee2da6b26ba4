// Thread pool: workers spin briefly on a generation counter (a BERT forward issues dozens of parallel_for calls
// back to back, so a futex sleep between them would dominate short sentences), then sleep on a condition variable.
#include "thread_pool.h"
#include "knobs.h"

#include <chrono>
#include <fstream>
#include <algorithm>
#include <cstdlib>
#if defined(__linux__)
#include <sched.h>
#endif
#include <set>
#include <string>
#include <utility>

namespace bertrt {

namespace {
// Workers spin this long after a parallel_for before sleeping: a forward issues dozens back to back, and a futex
// wake per call would dominate a short sentence.
constexpr auto kWorkerSpin = std::chrono::microseconds(40);
// The caller waiting for tasks that other threads hold spins this long, then yields its core at each check, so that
// on an oversubscribed CPU a preempted worker holding a task gets to finish it.
constexpr auto kCallerSpin = std::chrono::microseconds(20);
// A wait counts as a stall when it lasts longer than both this floor and kStallFactor times the longest task the
// caller ran in the same call: then the worker it waits for is not running (a task's length varies within a call,
// by sequence length in attention, by far less than a scheduler's time slice of several milliseconds).
constexpr int64_t kStallFloorNs = 500'000;
constexpr int64_t kStallFactor = 4;
// After a stall the calls run on the caller alone for kSoloMinNs, doubling at each stall that follows the span, at
// most kSoloMaxNs; kCleanCalls parallel calls without a stall reset the span (a forward pass makes dozens).
constexpr int64_t kSoloMinNs = 5'000'000;
constexpr int64_t kSoloMaxNs = 500'000'000;
constexpr int64_t kCleanCalls = 512;
constexpr uint64_t kClosed = uint64_t(1) << 31;
constexpr uint64_t kCount = kClosed - 1;

inline uint64_t gen_of(uint64_t gate) { return gate >> 32; }

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The clock of the stall detector's task lengths, read after every task: only compared with another span in the same
// unit (the caller's wait), so it never needs converting. The time-stamp counter where there is one (one RDTSC; the
// steady clock, read after each of a one-sentence forward's ~750 tasks, took 2.4% of the job thread's samples here:
// bench/results/development-ab.md, step 17); the steady clock elsewhere.
inline int64_t ticks() {
#if defined(__x86_64__) || defined(_M_X64)
  return static_cast<int64_t>(__rdtsc());
#else
  return now_ns();
#endif
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads < 1) n_threads = 1;
  shares_ = std::vector<Share>(n_threads);
  workers_.reserve(n_threads - 1);
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true, std::memory_order_release);
    gate_.store(((gen_of(gate_.load()) + 1) << 32) | kClosed, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int64_t ThreadPool::drain(int ith, int64_t* longest_ticks) {
  int64_t done = 0;
  int64_t last = longest_ticks ? ticks() : 0;
  for (int k = 0; k < active_threads_; ++k) {  // own share first, then the others' in turn
    Share& s = shares_[(ith + k) % active_threads_];
    for (;;) {
      const int64_t t = s.next.fetch_add(1, std::memory_order_relaxed);
      if (t >= s.end) break;
      (*fn_)(t, ith);
      ++done;
      if (longest_ticks) {
        const int64_t now = ticks();
        *longest_ticks = std::max(*longest_ticks, now - last);
        last = now;
      }
    }
  }
  return done;
}

bool ThreadPool::solo() const { return now_ns() < solo_until_ns_; }

void ThreadPool::worker_main(int ith) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gate = 0;
    const auto moved = [&] { return gen_of(gate = gate_.load(std::memory_order_acquire)) != seen; };
    if (!spin_until(moved, kWorkerSpin)) {
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return gen_of(gate_.load(std::memory_order_acquire)) != seen; });
      gate = gate_.load(std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = gen_of(gate);
    // Join this call unless it has closed (its tasks all done) or moved on: a worker that wakes late must not touch
    // fn_ or the shares, which the caller may already be setting up for the next call.
    bool joined = false;
    while (gen_of(gate) == seen && !(gate & kClosed)) {
      if (gate_.compare_exchange_weak(gate, gate + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        joined = true;
        break;
      }
    }
    if (!joined) continue;
    const int64_t done = ith < active_threads_ ? drain(ith) : 0;
    if (done) remaining_.fetch_sub(done, std::memory_order_acq_rel);
    gate_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

// Waits, spinning and then yielding the core, until done() holds.
template <typename Done>
static void wait_for(Done done) {
  if (spin_until(done, kCallerSpin)) return;
  while (!done()) std::this_thread::yield();
}

void ThreadPool::parallel_for(int64_t n_tasks, const std::function<void(int64_t, int)>& fn, int max_threads) {
  if (n_tasks <= 0) return;
  if (max_threads == 1) {  // inline, touching nothing of the pool's: a task may call this so from any thread
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  int nth = size();
  if (max_threads > 0 && max_threads < nth) nth = max_threads;
  if (n_tasks < nth) nth = static_cast<int>(n_tasks);
  if (solo_until_ns_ != 0 && now_ns() >= solo_until_ns_) solo_until_ns_ = 0;  // the span is over: no clock read per call
  if (nth <= 1 || workers_.empty() || solo_until_ns_ != 0) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  fn_ = &fn;
  active_threads_ = nth;
  for (int i = 0; i < nth; ++i) {
    shares_[i].next.store(n_tasks * i / nth, std::memory_order_relaxed);
    shares_[i].end = n_tasks * (i + 1) / nth;
  }
  remaining_.store(n_tasks, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lk(mu_);
    gate_.store((gen_of(gate_.load(std::memory_order_relaxed)) + 1) << 32, std::memory_order_release);  // open, none joined
  }
  wake_.notify_all();
  int64_t longest = 0;
  const int64_t done = drain(0, &longest);
  // Only the tasks matter: the caller takes every task no worker has taken, so a worker that is descheduled (or not
  // awake yet) costs nothing unless it holds a task. Then close, and let the workers that joined late find nothing.
  const int64_t waited_from = now_ns(), waited_from_ticks = ticks();
  const int64_t left = done ? remaining_.fetch_sub(done, std::memory_order_acq_rel) - done : remaining_.load(std::memory_order_acquire);
  if (left != 0) wait_for([&] { return remaining_.load(std::memory_order_acquire) == 0; });
  gate_.fetch_or(kClosed, std::memory_order_acq_rel);
  wait_for([&] { return (gate_.load(std::memory_order_acquire) & kCount) == 0; });
  fn_ = nullptr;
  // long against the caller's own tasks (in ticks), then against the floor (the steady clock, read only then)
  const bool long_wait = ticks() - waited_from_ticks > kStallFactor * longest;
  const int64_t end = long_wait ? now_ns() : 0;
  if (long_wait && end - waited_from > kStallFloorNs) {
    ++stalls_;
    clean_calls_ = 0;
    solo_span_ns_ = std::clamp(2 * solo_span_ns_, kSoloMinNs, kSoloMaxNs);
    solo_until_ns_ = end + solo_span_ns_;
  } else if (++clean_calls_ >= kCleanCalls) {
    solo_span_ns_ = 0;
  }
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

namespace {
// CPUs the scheduler lets this process use: its affinity mask.
int affinity_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
  return 0;
}

// This process's cgroup path for a v1 controller ("cpu"), or the v2 path with controller "", from /proc/self/cgroup
// ("4:cpu,cpuacct:/path" or "0::/path"); "/" when unknown.
std::string cgroup_path(const std::string& controller) {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string ctl = line.substr(a + 1, b - a - 1);
    bool match = controller.empty() ? ctl.empty() : false;
    for (size_t i = 0; !controller.empty() && i <= ctl.size();) {
      const size_t j = std::min(ctl.find(',', i), ctl.size());
      if (ctl.compare(i, j - i, controller) == 0 && j - i == controller.size()) match = true;
      i = j + 1;
    }
    if (match) return line.substr(b + 1);
  }
  return "/";
}

// A cpu.max-format quota ("max 100000" or "150000 100000") in CPUs, rounded up; 0 when there is none.
int parse_cpu_max(std::istream& in) {
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return 0;
  const long long q = std::atoll(quota.c_str());
  return q > 0 ? static_cast<int>((q + period - 1) / period) : 0;
}

// The cgroup's CPU quota in CPUs, rounded up (a container's `--cpus`, Kubernetes' limits.cpu): cgroup v2's cpu.max
// in this process's cgroup (then at the mount's root, which is the container's own under a cgroup namespace), else
// v1's cpu.cfs_quota_us / cpu.cfs_period_us likewise. 0: no quota.
int quota_cpus() {
  for (const std::string& dir : {"/sys/fs/cgroup" + cgroup_path(""), std::string("/sys/fs/cgroup")}) {
    std::ifstream v2(dir + "/cpu.max");
    if (v2) return parse_cpu_max(v2);
  }
  const std::string v1 = cgroup_path("cpu");
  for (const std::string& mount : {std::string("/sys/fs/cgroup/cpu"), std::string("/sys/fs/cgroup/cpu,cpuacct")}) {
    for (const std::string& dir : {mount + v1, mount}) {
      std::ifstream q(dir + "/cpu.cfs_quota_us"), p(dir + "/cpu.cfs_period_us");
      long long quota = 0, period = 0;
      if (q >> quota && p >> period) {
        if (quota > 0 && period > 0) return static_cast<int>((quota + period - 1) / period);
        if (dir == mount + v1) return 0;  // this cgroup has none
      }
    }
  }
  return 0;
}
}  // namespace

int usable_cpu_count() {
  int n = physical_core_count();
  int quota;
  const std::string quota_file = cpu_quota_file();
  if (!quota_file.empty()) {  // tests: a cpu.max-format file in place of the cgroup's
    std::ifstream f(quota_file);
    quota = parse_cpu_max(f);
  } else {
    quota = quota_cpus();
    const int aff = affinity_cpus();
    if (aff > 0) n = std::min(n, aff);
  }
  if (quota > 0) n = std::min(n, quota);
  return std::max(1, n);
}

}  // namespace bertrt
