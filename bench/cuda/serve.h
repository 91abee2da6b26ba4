// The serving replay of bench_cuda serve, apart from CUDA so that it can be run on a stand-in engine: closed-loop
// clients, one request a sentence, and one batcher with the server's policy (lib/server/batcher.ts) in front of an
// engine called as forward(ids, cu_seqlens, n_seqs, tokens, out) -> true on success.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace serve_bench {

using Forward = std::function<bool(const int32_t* ids, const int32_t* cu, int n_seqs, int tokens, float* out)>;

struct Result {
  double offline_per_s = 0, served_per_s = 0, ratio = 0, p50_ms = 0, p99_ms = 0, mean_batch = 0;
  bool ok = false;
};

// The batch budget of the server's defaults (lib/server/app.ts); one longer request runs alone.
constexpr int kServeTokens = 16384, kServeRequests = 256;
// One batch of requests through the engine; done() once its hidden states are back.
template <typename F>
bool run_batch(const Forward& forward, int H, const std::vector<const std::vector<int32_t>*>& batch, std::vector<float>& out, F&& done) {
  std::vector<int32_t> ids, cu{0};
  for (const auto* s : batch) ids.insert(ids.end(), s->begin(), s->end()), cu.push_back(int32_t(ids.size()));
  out.resize(ids.size() * size_t(H));
  if (!forward(ids.data(), cu.data(), int(batch.size()), int(ids.size()), out.data())) return false;
  done();
  return true;
}

// sents: each request's token ids; H: the hidden size (output rows).
inline Result replay(const Forward& forward, int H, const std::vector<std::vector<int32_t>>& sents, int clients) {
  using Clock = std::chrono::steady_clock;
  const size_t n = sents.size();
  std::vector<float> out;
  // offline: the sentences in file order, in batches of the same budget (twice: the first pass warms up)
  double offline_s = 0;
  for (int pass = 0; pass < 2; ++pass) {
    const auto t0 = Clock::now();
    std::vector<const std::vector<int32_t>*> batch;
    size_t tokens = 0;
    for (size_t i = 0; i <= n; ++i) {
      const bool flush = i == n || (!batch.empty() && (tokens + sents[i].size() > size_t(kServeTokens) || batch.size() == size_t(kServeRequests)));
      if (flush && !batch.empty()) {
        if (!run_batch(forward, H, batch, out, [] {})) return {};
        batch.clear(), tokens = 0;
      }
      if (i < n) batch.push_back(&sents[i]), tokens += sents[i].size();
    }
    offline_s = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  // serving: closed-loop clients, one batcher (this thread)
  struct Request {
    const std::vector<int32_t>* ids;
    Clock::time_point sent;
    bool done = false;
  };
  std::mutex mu;
  std::condition_variable to_engine, to_clients;
  std::deque<Request*> queue;
  std::atomic<size_t> next{0};
  std::vector<double> latency_ms(n);
  size_t answered = 0, batches = 0;
  bool failed = false;  // the engine failed: the clients stop
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int c = 0; c < clients; ++c)
    pool.emplace_back([&] {
      for (size_t i; (i = next++) < n;) {
        Request r{&sents[i], Clock::now()};
        std::unique_lock<std::mutex> lock(mu);
        if (failed) return;
        queue.push_back(&r);
        to_engine.notify_one();
        to_clients.wait(lock, [&] { return r.done || failed; });
        if (failed) return;
        latency_ms[i] = std::chrono::duration<double, std::milli>(Clock::now() - r.sent).count();
      }
    });
  bool ok = true;
  while (ok && answered < n) {
    std::vector<Request*> taken;
    {
      std::unique_lock<std::mutex> lock(mu);
      to_engine.wait(lock, [&] { return !queue.empty(); });
      size_t tokens = 0;
      while (!queue.empty() && taken.size() < size_t(kServeRequests) &&
             (taken.empty() || tokens + queue.front()->ids->size() <= size_t(kServeTokens))) {
        tokens += queue.front()->ids->size();
        taken.push_back(queue.front());
        queue.pop_front();
      }
    }
    std::vector<const std::vector<int32_t>*> batch;
    for (Request* r : taken) batch.push_back(r->ids);
    ok = run_batch(forward, H, batch, out, [&] {
      std::lock_guard<std::mutex> lock(mu);
      for (Request* r : taken) r->done = true;
      answered += taken.size();
      ++batches;
      to_clients.notify_all();
    });
  }
  if (!ok) {
    std::lock_guard<std::mutex> lock(mu);
    failed = true;
    to_clients.notify_all();
  }
  for (auto& t : pool) t.join();
  if (!ok) return {};
  const double served_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> sorted = latency_ms;
  std::sort(sorted.begin(), sorted.end());
  Result r;
  r.offline_per_s = n / offline_s, r.served_per_s = n / served_s, r.ratio = offline_s / served_s;
  r.p50_ms = sorted[n / 2], r.p99_ms = sorted[n * 99 / 100], r.mean_batch = double(n) / std::max<size_t>(1, batches), r.ok = true;
  return r;
}

}  // namespace serve_bench
