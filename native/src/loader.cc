// SPDX-License-Identifier: Apache-2.0
#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "util.h"

namespace podtrail {

namespace {
// The verifier gives up with EAGAIN when the loading thread has a signal
// pending, and libbpf retries only a few times. A profiler's SIGPROF (node
// --cpu-prof) or a burst of SIGCHLD would fail the load; blocked, they wait.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old_);
  }
  ~SignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  sigset_t old_;
};
}  // namespace

bool ProgramInMode(const std::string& p, const std::string& mode) {
  auto starts = [&](const char* s) { return p.rfind(s, 0) == 0; };
  if (starts("pt_tp_")) return mode == "tracepoint";
  if (starts("pt_kp_") || starts("pt_kr_")) return mode == "kprobe";
  if (starts("pt_fe_") || starts("pt_fx_")) return mode == "fentry";
  return true;  // common programs (set_state, retransmit)
}

Loaded::Loaded(const LoaderOptions& o) : mode_(o.mode) {
  // Until the constructor finishes no destructor runs: funnel every failure
  // through the destructor's single cleanup path.
  try {
    if (o.mode == "tracepoint") EnsureTracefs();
    ClearLibbpfLog();
    obj_ = bpf_object__open_file(o.objPath.c_str(), nullptr);
    if (!obj_) {
      int e = errno;
      throw KernelFailure("OPEN_FAILED", e, "cannot open BPF object " + o.objPath + ": " + ErrnoText(e));
    }
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, obj_) {
      bpf_program__set_autoload(prog, ProgramInMode(bpf_program__name(prog), o.mode));
    }
    struct bpf_map* rb = bpf_object__find_map_by_name(obj_, "events");
    PT_CHECK(rb, "OPEN_FAILED", ENOENT, "BPF object has no 'events' ring buffer");
    int e = bpf_map__set_max_entries(rb, o.ringBytes);
    PT_CHECK(e == 0, "BAD_OPTION", e, "ring buffer size " + std::to_string(o.ringBytes) + " rejected");
    setRodata(o);
    {
      SignalsBlocked quiet;
      e = bpf_object__load(obj_);
    }
    if (e) {
      throw KernelFailure("LOAD_FAILED", e,
                          "loading BPF programs for mode " + o.mode + " failed: " + ErrnoText(-e) +
                              "\n" + LibbpfLogTail(),
                          o.mode);
    }
    eventsFd_ = mapFd("events");
    pendEvFd_ = mapFd("pend_ev");
    statsFd_ = mapFd("stats");
    cgroupSeenFd_ = mapFd("cgroup_seen");
    seqLen_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* m = mmap(nullptr, seqLen_, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd("seq_counter"), 0);
    PT_CHECK(m != MAP_FAILED, "LOAD_FAILED", errno, "cannot mmap the sequence counter");
    seq_ = static_cast<uint64_t*>(m);
    static_assert(sizeof(pt_pend_hdr) % 8 == 0, "mmapped array values are 8-byte aligned");
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    pendHdrLen_ = (sizeof(pt_pend_hdr) * PT_PEND_SLOTS + page - 1) / page * page;
    m = mmap(nullptr, pendHdrLen_, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd("pend_hdr"), 0);
    PT_CHECK(m != MAP_FAILED, "LOAD_FAILED", errno, "cannot mmap the pending-attempt slots");
    pendHdr_ = static_cast<pt_pend_hdr*>(m);
    attachAll();
  } catch (...) {
    cleanup();
    throw;
  }
}

Loaded::~Loaded() { cleanup(); }

void Loaded::detach() {
  for (auto* l : links_) bpf_link__destroy(l);
  links_.clear();
}

void Loaded::cleanup() {
  for (auto* l : links_) bpf_link__destroy(l);
  links_.clear();
  if (seq_) munmap(seq_, seqLen_);
  seq_ = nullptr;
  if (pendHdr_) munmap(pendHdr_, pendHdrLen_);
  pendHdr_ = nullptr;
  if (obj_) bpf_object__close(obj_);  // closes the map and program fds
  obj_ = nullptr;
}

int Loaded::mapFd(const char* name) {
  struct bpf_map* m = bpf_object__find_map_by_name(obj_, name);
  PT_CHECK(m && bpf_map__fd(m) >= 0, "LOAD_FAILED", ENOENT, std::string("BPF map missing: ") + name);
  return bpf_map__fd(m);
}

// Without a skeleton, options are placed by the .rodata section's BTF.
void Loaded::setRodata(const LoaderOptions& o) {
  struct bpf_map* ro = nullptr;
  struct bpf_map* m;
  bpf_object__for_each_map(m, obj_) {
    const char* n = bpf_map__name(m);
    size_t len = strlen(n);
    if (len >= 7 && strcmp(n + len - 7, ".rodata") == 0) ro = m;
  }
  PT_CHECK(ro, "OPEN_FAILED", ENOENT, "BPF object has no .rodata");
  size_t size = 0;
  const void* init = bpf_map__initial_value(ro, &size);
  PT_CHECK(init, "OPEN_FAILED", ENOENT, "BPF object has no .rodata contents");
  std::vector<char> buf(static_cast<const char*>(init), static_cast<const char*>(init) + size);
  char* data = buf.data();
  const struct btf* btf = bpf_object__btf(obj_);
  int sec = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
  PT_CHECK(data && sec > 0, "OPEN_FAILED", ENOENT, "BPF object has no .rodata BTF");
  const struct btf_type* t = btf__type_by_id(btf, sec);
  const struct btf_var_secinfo* vs = btf_var_secinfos(t);
  int set = 0;
  for (int i = 0; i < btf_vlen(t); i++) {
    const char* name = btf__name_by_offset(btf, btf__type_by_id(btf, vs[i].type)->name_off);
    char* p = data + vs[i].offset;
    auto put = [&](const void* v, size_t n) {
      PT_CHECK(vs[i].size == n && vs[i].offset + n <= size, "OPEN_FAILED", EINVAL,
               std::string("rodata size mismatch for ") + name);
      memcpy(p, v, n);
      set++;
    };
    if (!strcmp(name, "self_tgid")) {
      put(&o.selfTgid, 4);
    } else if (!strcmp(name, "exclude_loopback")) {
      uint8_t v = o.excludeLoopback;
      put(&v, 1);
    } else if (!strcmp(name, "udp_dedup_ns")) {
      put(&o.udpDedupNs, 8);
    } else if (!strcmp(name, "n_controllers")) {
      uint32_t n = static_cast<uint32_t>(o.controllerIds.size());
      put(&n, 4);
    } else if (!strcmp(name, "wakeup_bytes")) {
      put(&o.wakeupBytes, 8);
    } else if (!strcmp(name, "controller_ssid")) {
      int32_t ids[4] = {-1, -1, -1, -1};
      PT_CHECK(o.controllerIds.size() <= 4, "BAD_OPTION", EINVAL, "at most 4 cgroup controllers");
      for (size_t k = 0; k < o.controllerIds.size(); k++) ids[k] = o.controllerIds[k];
      put(ids, sizeof ids);
    }
  }
  PT_CHECK(set == 6, "OPEN_FAILED", EINVAL, "BPF object lacks some options (stale build?)");
  int e = bpf_map__set_initial_value(ro, data, size);
  PT_CHECK(e == 0, "OPEN_FAILED", e, "cannot set BPF options");
}

void Loaded::attachAll() {
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, obj_) {
    if (!bpf_program__autoload(prog)) continue;
    struct bpf_link* l = bpf_program__attach(prog);
    if (!l) {
      int e = errno;
      std::string hint;
      if (mode_ == "kprobe" && (e == ENOENT || e == EOPNOTSUPP))
        hint = " (this kernel has no kprobes: CONFIG_KPROBES is off?)";
      throw KernelFailure("ATTACH_FAILED", e,
                          std::string("attach ") + bpf_program__section_name(prog) + " (mode " + mode_ +
                              ") failed: " + ErrnoText(e) + hint,
                          mode_);
    }
    links_.push_back(l);
  }
}

std::vector<std::string> Loaded::programNames() const {
  std::vector<std::string> v;
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, obj_) {
    if (bpf_program__autoload(prog)) v.push_back(bpf_program__name(prog));
  }
  return v;
}

uint64_t Loaded::recursionMisses() const {
  uint64_t n = 0;
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, obj_) {
    int fd = bpf_program__fd(prog);
    if (fd < 0) continue;  // not loaded in this mode
    struct bpf_prog_info info = {};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) n += info.recursion_misses;
  }
  return n;
}

std::unique_ptr<Loaded> LoadBest(LoaderOptions o, std::vector<AttachAttempt>& attempts) {
  std::vector<std::string> modes;
  if (o.mode == "auto")
    modes = {"fentry", "kprobe", "tracepoint"};  // cheapest first
  else
    modes = {o.mode};
  for (size_t i = 0; i < modes.size(); i++) {
    o.mode = modes[i];
    try {
      auto l = std::make_unique<Loaded>(o);
      attempts.push_back({o.mode, true, 0, "", ""});
      return l;
    } catch (const KernelFailure& f) {
      attempts.push_back({o.mode, false, f.err, f.code, f.what()});
      // Failures that no other mode can fix end the search.
      bool fatal = f.code == "OPEN_FAILED" || f.code == "BAD_OPTION" || f.code == "BAD_CONTROLLER";
      if (fatal || i + 1 == modes.size()) {
        if (modes.size() == 1 || fatal) throw;
        std::string msg = "no attach mode works here:";
        for (const auto& a : attempts) msg += "\n  " + a.mode + ": " + a.message;
        throw KernelFailure("ATTACH_FAILED", f.err, msg, "auto");
      }
    }
  }
  throw KernelFailure("ATTACH_FAILED", EINVAL, "no attach mode given");
}

}  // namespace podtrail
