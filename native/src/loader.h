// SPDX-License-Identifier: Apache-2.0
// Loads podtrail.bpf.o through its generated skeleton (bpf/Makefile), in
// libbpf-bootstrap's order: open, set rodata, load, attach. One owner (Loaded)
// and one cleanup path (its destructor).
#pragma once

#include <bpf/libbpf.h>
#include <linux/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "podtrail.h"

struct podtrail_bpf;  // bpf/.output/podtrail.skel.h, included by loader.cc only

namespace podtrail {

struct LoaderOptions {
  std::string objPath;
  std::string mode;  // tracepoint | kprobe | fentry (auto is resolved by LoadBest)
  uint32_t ringBytes = 0;  // all set from the validated options (src/capture/native.ts)
  uint32_t selfTgid = 0;
  bool excludeLoopback = false;
  uint64_t udpDedupNs = 0;
  std::vector<int> controllerIds;  // enum cgroup_subsys_id values, in preference order
  uint64_t wakeupBytes = 0;        // 0: wake the reader on every record
};

class Loaded {
 public:
  explicit Loaded(const LoaderOptions& o);  // throws KernelFailure
  ~Loaded();
  Loaded(const Loaded&) = delete;
  Loaded& operator=(const Loaded&) = delete;

  const std::string& mode() const { return mode_; }
  int eventsFd() const { return eventsFd_; }
  // Parked TCP attempts: the events by slot, and the slot headers through mmap.
  int pendEvFd() const { return pendEvFd_; }
  pt_pend_hdr* pendHdr() const { return pendHdr_; }
  int statsFd() const { return statsFd_; }
  int cgroupSeenFd() const { return cgroupSeenFd_; }
  // The kernel's sequence counter, shared through mmap; advance it atomically.
  uint64_t* seq() const { return seq_; }
  std::vector<std::string> programNames() const;
  // Destroys the links: no program runs any more, the maps stay readable.
  void detach();

 private:
  void cleanup();
  void setRodata(const LoaderOptions& o);
  void attachAll();

  std::string mode_;
  struct podtrail_bpf* skel_ = nullptr;
  std::vector<struct bpf_program*> progs_;  // this mode's and the common programs
  std::vector<struct bpf_link*> links_;
  int eventsFd_ = -1, pendEvFd_ = -1, statsFd_ = -1, cgroupSeenFd_ = -1;
  uint64_t* seq_ = nullptr;
  size_t seqLen_ = 0;
  pt_pend_hdr* pendHdr_ = nullptr;
  size_t pendHdrLen_ = 0;
};

struct AttachAttempt {
  std::string mode;
  bool ok;
  int err;
  std::string code;
  std::string message;
};

// mode "auto" tries fentry, kprobe, then tracepoint; attempts records each try.
std::unique_ptr<Loaded> LoadBest(LoaderOptions o, std::vector<AttachAttempt>& attempts);

}  // namespace podtrail
