// SPDX-License-Identifier: Apache-2.0
// The one poll thread: drains the ring buffer into bounded batches, hands them
// to JS through a bounded ThreadSafeFunction, and sweeps stale TCP attempts
// out of the pending map as INPROGRESS events.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "loader.h"

namespace podtrail {

// Records framed as [u32 length][u32 0][bytes, padded to 8], in ring order.
struct Batch {
  std::vector<uint8_t> data;
  uint32_t count = 0;
};

void DeliverBatch(Napi::Env env, Napi::Function cb, std::nullptr_t* ctx, Batch* batch);
using BatchTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Batch, DeliverBatch>;

struct PollerCounters {
  std::atomic<uint64_t> batches{0}, records{0}, swept{0}, queueFullWaits{0}, consumeErrors{0};
  // records read from the ring at stop() that the full JS queue could not take
  std::atomic<uint64_t> droppedAtStop{0};
};

class Poller {
 public:
  Poller(Loaded& loaded, BatchTsfn tsfn, uint32_t maxBatch, uint64_t pendingTimeoutNs, uint32_t flushMs);
  ~Poller();
  void start();  // throws KernelFailure
  void stop();   // set flag, interrupt, join; idempotent
  const PollerCounters& counters() const { return counters_; }

 private:
  static int OnSample(void* ctx, void* data, size_t len);
  void run();
  void drain();
  bool append(const void* data, size_t len);  // false: batch now full
  bool queueHeld();                           // false: the JS queue is full
  void sweep(uint64_t now);

  Loaded& loaded_;
  BatchTsfn tsfn_;
  uint32_t maxBatch_;
  uint64_t pendingTimeoutNs_, sweepEveryNs_;
  int waitMs_;
  struct ring_buffer* rb_ = nullptr;
  int epfd_ = -1, evfd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  std::unique_ptr<Batch> cur_, held_;
  PollerCounters counters_;
};

uint64_t BoottimeNs();
uint64_t RealtimeNs();

}  // namespace podtrail
