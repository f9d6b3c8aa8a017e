// Splitting a kernel's work over XLA's intra-op thread pool.
#ifndef NEUROTREE_NATIVE_PARALLEL_H_
#define NEUROTREE_NATIVE_PARALLEL_H_

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "xla/ffi/api/ffi.h"

namespace neurotree {

// Runs f(c) for every chunk c < n_chunks, each exactly once, on the calling thread and on up to
// min(n_chunks, threads) - 1 tasks of `pool`, and returns when all have run. Chunks are claimed from a
// counter, so the caller never waits for a task that has not started (no deadlock when the pool
// is busy, e.g. when the caller is itself one of its threads); a task that starts after all
// chunks are claimed does nothing. Which thread runs a chunk never changes the results as long
// as f(c) writes only what belongs to chunk c.
template <typename F>
void parallel_chunks(xla::ffi::ThreadPool* pool, int64_t n_chunks, F&& f) {
  if (pool == nullptr || n_chunks <= 1) {
    for (int64_t c = 0; c < n_chunks; ++c) f(c);
    return;
  }
  struct Shared {
    std::atomic<int64_t> next{0};
    int64_t done = 0;
    std::mutex mu;
    std::condition_variable cv;
  };
  auto shared = std::make_shared<Shared>();
  const int64_t n = n_chunks;
  // Only chunks claimed before `next` reaches n touch f; f outlives them because the caller
  // waits for every claimed chunk.
  auto work = [shared, n, &f]() {
    int64_t ran = 0;
    for (int64_t c; (c = shared->next.fetch_add(1)) < n; ++ran) f(c);
    if (ran > 0) {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->done += ran;
      if (shared->done == n) shared->cv.notify_all();
    }
  };
  // The caller works too: one task fewer than the pool has threads.
  const int64_t tasks = std::min<int64_t>(n - 1, pool->num_threads() - 1);
  for (int64_t t = 0; t < tasks; ++t) pool->Schedule([work]() { work(); });
  work();
  std::unique_lock<std::mutex> lock(shared->mu);
  shared->cv.wait(lock, [&] { return shared->done == n; });
}

// Threads to plan for: the pool's, at least 1.
inline int64_t pool_threads(xla::ffi::ThreadPool* pool) {
  return pool == nullptr ? 1 : std::max<int64_t>(pool->num_threads(), 1);
}

}  // namespace neurotree

#endif  // NEUROTREE_NATIVE_PARALLEL_H_
