// SPDX-License-Identifier: Apache-2.0
// The one poll thread: drains the ring buffer into bounded batches, hands them
// to JS through a bounded outbox rung by a ThreadSafeFunction, and sweeps stale
// TCP attempts out of the pending map as INPROGRESS events.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "loader.h"

namespace podtrail {

// Records framed as [u32 length][u32 0][bytes, padded to 8], in ring order.
struct Batch {
  std::vector<uint8_t> data;
  uint32_t count = 0;
};

// Batches waiting for JS. The data stays here, not in the TSFN queue, so stop()
// can take what JS has not seen yet, in order. Owned by the TSFN (freed by its
// finalizer); the poll thread fills it, the JS thread empties it.
struct Outbox {
  std::mutex mu;
  std::deque<std::unique_ptr<Batch>> ready;
  size_t max = 4;
  bool rung = false;  // a doorbell call is queued and has not run yet
  bool closed = false;
  // The JS thread only: takes the oldest batch, or null.
  std::unique_ptr<Batch> Take();
};

void RingDoorbell(Napi::Env env, Napi::Function cb, Outbox* box, std::nullptr_t* unused);
using BatchTsfn = Napi::TypedThreadSafeFunction<Outbox, std::nullptr_t, RingDoorbell>;

struct PollerCounters {
  std::atomic<uint64_t> batches{0}, records{0}, swept{0}, queueFullWaits{0}, consumeErrors{0};
  // records read at stop() that could not be handed over (teardown without JS)
  std::atomic<uint64_t> droppedAtStop{0};
};

class Poller {
 public:
  // The poll thread's name (/proc/<pid>/task/<tid>/comm).
  static constexpr const char* kThreadName = "podtrail-poll";
  Poller(Loaded& loaded, BatchTsfn tsfn, Outbox* box, uint32_t maxBatch, uint64_t pendingTimeoutNs, uint32_t flushMs);
  ~Poller();
  void start();  // throws KernelFailure
  // Joins the thread, then (with the programs detached by the caller) drains the
  // ring and reports attempts still pending as INPROGRESS. Returns, in order,
  // every record JS has not been handed yet. Idempotent.
  std::unique_ptr<Batch> stop(bool detached);
  const PollerCounters& counters() const { return counters_; }

 private:
  static int OnSample(void* ctx, void* data, size_t len);
  void run();
  void drain();
  bool append(const void* data, size_t len);  // false: batch now full
  bool queueHeld();                           // false: the outbox is full
  void sweep(uint64_t now, uint64_t timeoutNs);

  Loaded& loaded_;
  BatchTsfn tsfn_;
  Outbox* box_;
  uint32_t maxBatch_;
  uint64_t pendingTimeoutNs_, sweepEveryNs_;
  int waitMs_;
  struct ring_buffer* rb_ = nullptr;
  int epfd_ = -1, evfd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool unbounded_ = false;  // the final drain at stop(): one batch takes everything
  std::unique_ptr<Batch> cur_, held_;
  PollerCounters counters_;
};

uint64_t BoottimeNs();
uint64_t RealtimeNs();

}  // namespace podtrail
