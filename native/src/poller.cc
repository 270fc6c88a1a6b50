// SPDX-License-Identifier: Apache-2.0
#include "poller.h"

#include <bpf/bpf.h>
#include <linux/types.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

extern "C" {
#include "podtrail.h"
}
#include "util.h"

namespace podtrail {

namespace {
constexpr int kBatchFull = -100000;  // from OnSample: stop consuming, hand the batch over
}  // namespace

static uint64_t ClockNs(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}
uint64_t BoottimeNs() { return ClockNs(CLOCK_BOOTTIME); }
uint64_t RealtimeNs() { return ClockNs(CLOCK_REALTIME); }

std::unique_ptr<Batch> Outbox::Take() {
  std::lock_guard<std::mutex> g(mu);
  if (ready.empty()) return nullptr;
  auto b = std::move(ready.front());
  ready.pop_front();
  return b;
}

void RingDoorbell(Napi::Env env, Napi::Function cb, Outbox* box, std::nullptr_t*) {
  // env is null when the TSFN is torn down with calls still queued.
  if (env == nullptr || cb.IsEmpty() || !box) return;
  {
    std::lock_guard<std::mutex> g(box->mu);
    box->rung = false;
  }
  // One batch at a time: a stop() called from the callback takes the rest, in order.
  while (auto b = box->Take()) {
    auto buf = Napi::Buffer<uint8_t>::Copy(env, b->data.data(), b->data.size());
    cb.Call({buf, Napi::Number::New(env, b->count)});
  }
}

Poller::Poller(Loaded& loaded, BatchTsfn tsfn, Outbox* box, uint32_t maxBatch, uint64_t pendingTimeoutNs,
               uint32_t flushMs)
    : loaded_(loaded), tsfn_(tsfn), box_(box), maxBatch_(maxBatch), pendingTimeoutNs_(pendingTimeoutNs) {
  sweepEveryNs_ = std::clamp<uint64_t>(pendingTimeoutNs / 4, 10'000'000ull, 250'000'000ull);
  waitMs_ = static_cast<int>(sweepEveryNs_ / 1000000);
  if (flushMs > 0) waitMs_ = std::min<int>(waitMs_, static_cast<int>(flushMs));
}

Poller::~Poller() {
  stop(false);
  if (rb_) ring_buffer__free(rb_);
  if (epfd_ >= 0) close(epfd_);
  if (evfd_ >= 0) close(evfd_);
}

void Poller::start() {
  rb_ = ring_buffer__new(loaded_.eventsFd(), OnSample, this, nullptr);
  PT_CHECK(rb_, "RINGBUF_FAILED", errno, "cannot set up the ring buffer reader");
  evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  PT_CHECK(evfd_ >= 0, "RINGBUF_FAILED", errno, "eventfd failed");
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  PT_CHECK(epfd_ >= 0, "RINGBUF_FAILED", errno, "epoll_create1 failed");
  // Our own epoll over libbpf's and an eventfd, so stop() can interrupt a wait.
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u32 = 0;
  PT_CHECK(epoll_ctl(epfd_, EPOLL_CTL_ADD, ring_buffer__epoll_fd(rb_), &ev) == 0, "RINGBUF_FAILED", errno,
           "epoll_ctl(ring buffer) failed");
  ev.data.u32 = 1;
  PT_CHECK(epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev) == 0, "RINGBUF_FAILED", errno,
           "epoll_ctl(eventfd) failed");
  thread_ = std::thread([this] { run(); });
  started_ = true;
}

std::unique_ptr<Batch> Poller::stop(bool detached) {
  if (!started_) return nullptr;
  started_ = false;
  stopping_.store(true);
  uint64_t one = 1;
  ssize_t w = write(evfd_, &one, sizeof one);
  (void)w;
  if (thread_.joinable()) thread_.join();
  // Oldest first: what waits in the outbox, the held batch, the open one, and,
  // once nothing new can arrive, the rest of the ring and the pending attempts.
  auto out = std::make_unique<Batch>();
  auto add = [&out](std::unique_ptr<Batch> b) {
    if (!b || !b->count) return;
    out->data.insert(out->data.end(), b->data.begin(), b->data.end());
    out->count += b->count;
  };
  {
    std::lock_guard<std::mutex> g(box_->mu);
    while (!box_->ready.empty()) {
      add(std::move(box_->ready.front()));
      box_->ready.pop_front();
    }
    box_->closed = true;
  }
  add(std::move(held_));
  add(std::move(cur_));
  if (detached) {
    unbounded_ = true;
    if (ring_buffer__consume(rb_) < 0) counters_.consumeErrors++;
    // No set_state will come for these any more: their outcome is unknown.
    sweep(BoottimeNs(), 0);
    add(std::move(cur_));
  }
  if (!out->count) return nullptr;
  return out;
}

int Poller::OnSample(void* ctx, void* data, size_t len) {
  auto* self = static_cast<Poller*>(ctx);
  // Never blocks: a full batch stops this consume round instead.
  return self->append(data, len) ? 0 : kBatchFull;
}

bool Poller::append(const void* data, size_t len) {
  if (!cur_) {
    cur_ = std::make_unique<Batch>();
    cur_->data.reserve(std::min<size_t>(maxBatch_, 256) * (sizeof(pt_connect_event) + 8));
  }
  uint32_t hdr[2] = {static_cast<uint32_t>(len), 0};
  auto& d = cur_->data;
  d.insert(d.end(), reinterpret_cast<uint8_t*>(hdr), reinterpret_cast<uint8_t*>(hdr) + 8);
  d.insert(d.end(), static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + len);
  d.resize((d.size() + 7) & ~size_t(7), 0);
  cur_->count++;
  counters_.records++;
  return unbounded_ || cur_->count < maxBatch_;
}

bool Poller::queueHeld() {
  if (!held_) return true;
  bool ring = false;
  {
    std::lock_guard<std::mutex> g(box_->mu);
    if (box_->closed) {
      counters_.droppedAtStop += held_->count;
      held_.reset();
      stopping_.store(true);
      return true;
    }
    if (box_->ready.size() >= box_->max) {
      counters_.queueFullWaits++;
      return false;
    }
    box_->ready.push_back(std::move(held_));
    counters_.batches++;
    ring = !box_->rung;
    box_->rung = true;
  }
  // One doorbell at a time: JS takes every ready batch when it answers.
  if (ring) {
    napi_status s = tsfn_.NonBlockingCall(nullptr);
    if (s != napi_ok) {
      std::lock_guard<std::mutex> g(box_->mu);
      box_->rung = false;  // rung again with the next batch
      if (s == napi_closing) stopping_.store(true);
    }
  }
  return true;
}

// Consume until the ring is empty or a batch fills and JS cannot take it.
void Poller::drain() {
  for (;;) {
    int r = ring_buffer__consume(rb_);
    if (r == kBatchFull) {
      held_ = std::move(cur_);
      if (!queueHeld()) return;
      continue;
    }
    if (r < 0) counters_.consumeErrors++;
    return;
  }
}

void Poller::run() {
  // A name of its own, so top -H, perf and /proc/<pid>/task/*/comm tell it from Node's
  // threads (Linux allows 15 bytes). Best effort: a failure changes nothing else.
  pthread_setname_np(pthread_self(), kThreadName);
  struct epoll_event evs[2];
  uint64_t nextSweep = BoottimeNs() + sweepEveryNs_;
  while (!stopping_.load()) {
    // JS is behind: hold the batch and stop reading, so the ring fills and the
    // kernel counts what it cannot reserve. Nothing here grows.
    if (held_ && !queueHeld()) {
      struct pollfd p = {evfd_, POLLIN, 0};
      poll(&p, 1, 2);  // woken early by stop()
      continue;
    }
    int n = epoll_wait(epfd_, evs, 2, waitMs_);
    if (n < 0 && errno != EINTR) counters_.consumeErrors++;
    if (stopping_.load()) break;
    drain();
    uint64_t now = BoottimeNs();
    if (now >= nextSweep && !held_) {
      sweep(now, pendingTimeoutNs_);
      nextSweep = now + sweepEveryNs_;
    }
    if (!held_ && cur_ && cur_->count) {
      held_ = std::move(cur_);
      queueHeld();
    }
  }
}

// INPROGRESS for attempts parked longer than the timeout. Taking the slot
// (READY->BUSY by compare-and-swap, as BPF does) makes this the one reporter;
// the seq comes from the same counter, advanced through the mmap.
void Poller::sweep(uint64_t now, uint64_t timeoutNs) {
  pt_pend_hdr* hdrs = loaded_.pendHdr();
  int fd = loaded_.pendEvFd();
  pt_connect_event ev;
  for (uint32_t i = 0; i < PT_PEND_SLOTS; i++) {
    if (held_) break;  // JS is behind; the rest waits for the next sweep
    pt_pend_hdr* h = &hdrs[i];
    if (__atomic_load_n(&h->state, __ATOMIC_ACQUIRE) != PT_PEND_READY) continue;
    uint64_t ts = __atomic_load_n(&h->ts_ns, __ATOMIC_RELAXED);
    if (timeoutNs && (now <= ts || now - ts < timeoutNs)) continue;  // 0: stop takes them all
    uint32_t expected = PT_PEND_READY;
    if (!__atomic_compare_exchange_n(&h->state, &expected, PT_PEND_BUSY, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
      continue;  // BPF finished it meanwhile
    if (bpf_map_lookup_elem(fd, &i, &ev) != 0) {
      // Never expected for an in-range index. Put the slot back, so the attempt is
      // reported by BPF or by the next sweep rather than dropped without a seq gap.
      __atomic_store_n(&h->state, PT_PEND_READY, __ATOMIC_RELEASE);
      counters_.consumeErrors++;
      continue;
    }
    __atomic_store_n(&h->sk, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->state, PT_PEND_FREE, __ATOMIC_RELEASE);
    ev.seq = __atomic_add_fetch(loaded_.seq(), 1, __ATOMIC_SEQ_CST);
    ev.status = PT_ST_INPROGRESS;
    ev.err = 0;
    ev.flags = (ev.flags & ~PT_F_IN_SYSCALL) | PT_F_SWEPT;
    ev.done_ns = now;
    counters_.swept++;
    if (!append(&ev, sizeof ev)) {
      held_ = std::move(cur_);
      queueHeld();
    }
  }
}

}  // namespace podtrail
