// SPDX-License-Identifier: Apache-2.0
// N-API surface: class Capture { start(cb), stop(), stats(), forgetCgroup() },
// probe(objPath), clock(), layout().
#include "addon.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <unistd.h>

#include <memory>
#include <array>

extern "C" {
#include "podtrail.h"
}
#include "loader.h"
#include "poller.h"

namespace podtrail {

void ThrowKernel(Napi::Env env, const KernelFailure& f) {
  std::string msg = f.what();
  if (f.err && msg.find("errno") == std::string::npos) msg += ": " + ErrnoText(f.err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, f.code));
  e.Set("errno", Napi::Number::New(env, f.err));
  if (!f.mode.empty()) e.Set("mode", Napi::String::New(env, f.mode));
  throw e;
}

struct InstanceData {
  Napi::FunctionReference ctor;
};

class Capture : public Napi::ObjectWrap<Capture> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Capture",
                       {InstanceMethod<&Capture::Start>("start"), InstanceMethod<&Capture::Stop>("stop"),
                        InstanceMethod<&Capture::Stats>("stats"),
                        InstanceMethod<&Capture::ForgetCgroup>("forgetCgroup")});
  }

  explicit Capture(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Capture>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "Capture(options): options object required");
    Napi::Object o = info[0].As<Napi::Object>();
    // Every field is required and comes validated, with its default applied, from
    // validateCaptureOptions (src/capture/native.ts): the TypeScript side is the one owner of
    // capture's defaults and ranges (CAPTURE_DEFAULTS, CAPTURE_LIMITS). Here only types are read.
    auto need = [&](const char* k) {
      Napi::Value v = o.Get(k);
      if (v.IsUndefined())
        throw Napi::TypeError::New(env, std::string(k) + " is required (KernelCapture passes validated options)");
      return v;
    };
    auto str = [&](const char* k) {
      Napi::Value v = need(k);
      if (!v.IsString()) throw Napi::TypeError::New(env, std::string(k) + " must be a string");
      return v.As<Napi::String>().Utf8Value();
    };
    auto uint = [&](const char* k) {
      Napi::Value v = need(k);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!v.IsNumber() || d < 0 || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d)))
        throw Napi::TypeError::New(env, std::string(k) + " must be a non-negative integer");
      return static_cast<uint64_t>(d);
    };
    auto flag = [&](const char* k) {
      Napi::Value v = need(k);
      if (!v.IsBoolean()) throw Napi::TypeError::New(env, std::string(k) + " must be a boolean");
      return v.As<Napi::Boolean>().Value();
    };
    // An array of at most `max` elements, each of the kind `isKind` checks (`of` names it).
    auto array = [&](const char* k, uint32_t max, const char* of, bool (Napi::Value::*isKind)() const) {
      Napi::Value v = need(k);
      const std::string notArray = std::string(k) + " must be an array of " + of;
      if (!v.IsArray()) throw Napi::TypeError::New(env, notArray);
      auto a = v.As<Napi::Array>();
      if (a.Length() > max) throw Napi::RangeError::New(env, "at most " + std::to_string(max) + " " + k);
      std::vector<Napi::Value> out;
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value e = a.Get(i);
        if (!(e.*isKind)()) throw Napi::TypeError::New(env, notArray);
        out.push_back(e);
      }
      return out;
    };
    opts_.objPath = str("bpfObjectPath");
    opts_.mode = str("attach");
    opts_.ringBytes = static_cast<uint32_t>(uint("ringBufferBytes"));
    opts_.excludeLoopback = flag("excludeLoopback");
    opts_.udpDedupNs = uint("udpDedupMs") * 1000000ull;
    pendingTimeoutNs_ = uint("pendingTimeoutMs") * 1000000ull;
    maxBatch_ = static_cast<uint32_t>(uint("maxBatch"));
    flushMs_ = static_cast<uint32_t>(uint("flushIntervalMs"));
    // Batched wakeups: the reader polls every flushMs and is woken early only
    // when a quarter of the ring (at most 256 KiB) waits.
    if (flushMs_ > 0) opts_.wakeupBytes = std::min<uint64_t>(opts_.ringBytes / 4, 256 * 1024);
    // Our own connects (Kafka, the runtime's socket) are not recorded.
    opts_.selfTgid = static_cast<uint32_t>(getpid());
    opts_.dns.enabled = flag("dns");
    opts_.dns.copyMax = static_cast<uint32_t>(uint("dnsCopyMax"));
    opts_.dns.cgroupRoot = str("dnsCgroupRoot");
    // The kernel side's tables have PT_DNS_PORTS and PT_MAX_CONTROLLERS entries: memory-safety
    // bounds, not defaults.
    for (Napi::Value v : array("dnsPorts", PT_DNS_PORTS, "ports", &Napi::Value::IsNumber))
      opts_.dns.ports.push_back(static_cast<uint16_t>(v.As<Napi::Number>().Uint32Value()));
    for (Napi::Value v : array("cgroupControllers", PT_MAX_CONTROLLERS, "names", &Napi::Value::IsString))
      controllers_.push_back(v.As<Napi::String>().Utf8Value());
  }

  ~Capture() override { Shutdown(false); }

  // Returns, when deliver, every record JS has not been handed yet (else counts
  // them as dropped). Detaching first means nothing new arrives while the ring
  // is drained.
  std::unique_ptr<Batch> Shutdown(bool deliver) {
    std::unique_ptr<Batch> rest;
    if (poller_) {
      if (loaded_) loaded_->detach();
      rest = poller_->stop(loaded_ != nullptr);
      lastStats_ = ReadStats();  // after stop's sweep took its seqs
      const auto& c = poller_->counters();
      counters_ = {c.batches.load(), c.records.load(), c.swept.load(), c.queueFullWaits.load(),
                   c.consumeErrors.load(), c.droppedAtStop.load()};
      if (rest && !deliver) {
        counters_[5] += rest->count;
        rest.reset();
      }
      poller_.reset();
      tsfn_.Release();
    }
    loaded_.reset();  // links, maps, programs
    if (hookEnv_) {
      napi_remove_env_cleanup_hook(hookEnv_, CleanupHook, this);
      hookEnv_ = nullptr;
    }
    return rest;
  }

  // Worker or process teardown with a capture still running: stop it first.
  static void CleanupHook(void* arg) { static_cast<Capture*>(arg)->Shutdown(false); }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (loaded_) throw Napi::Error::New(env, "capture already started");
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "start(onBatch): function required");
    std::vector<AttachAttempt> attempts;
    try {
      Privileges p = ReadPrivileges();
      PT_CHECK(p.enough(), "NOT_PRIVILEGED", EPERM,
               "podtrail capture needs root, or CAP_BPF and CAP_PERFMON (euid " + std::to_string(p.euid) + ")");
      PT_CHECK(HaveBtf(), "NO_BTF", ENOENT,
               std::string("kernel BTF (") + kVmlinuxBtf + ") is missing: podtrail needs CONFIG_DEBUG_INFO_BTF=y");
      opts_.controllerIds = ControllerIds(controllers_);
      loaded_ = LoadBest(opts_, attempts);
      // The TSFN only rings (one call queued at most); the batches wait in the
      // outbox, which the TSFN owns and frees once its last call has run.
      auto* box = new Outbox();
      try {
        tsfn_ = BatchTsfn::New(env, info[0].As<Napi::Function>(), "podtrail-events", 2, 1, box,
                               [](Napi::Env, void*, Outbox* b) { delete b; }, static_cast<void*>(nullptr));
      } catch (...) {
        delete box;
        throw;
      }
      poller_ = std::make_unique<Poller>(*loaded_, tsfn_, box, maxBatch_, pendingTimeoutNs_, flushMs_);
      poller_->start();
    } catch (const KernelFailure& f) {
      if (poller_) {
        poller_.reset();
        tsfn_.Release();
      }
      loaded_.reset();
      ThrowKernel(env, f);
    }
    hookEnv_ = env;
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    Napi::Object r = Napi::Object::New(env);
    r.Set("attachMode", loaded_->mode());
    Napi::Array arr = Napi::Array::New(env, attempts.size());
    for (size_t i = 0; i < attempts.size(); i++) {
      Napi::Object a = Napi::Object::New(env);
      a.Set("mode", attempts[i].mode);
      a.Set("ok", attempts[i].ok);
      a.Set("errno", attempts[i].err);
      a.Set("code", attempts[i].code);
      a.Set("message", attempts[i].message);
      arr.Set(i, a);
    }
    r.Set("attempts", arr);
    Napi::Array progs = Napi::Array::New(env);
    for (const auto& n : loaded_->programNames()) progs.Set(progs.Length(), n);
    r.Set("programs", progs);
    return r;
  }

  // Returns a Buffer of the records JS had not been handed yet (same framing as
  // a batch), or undefined: after stop() no batch callback runs any more.
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    auto rest = Shutdown(true);
    if (!rest || !rest->count) return info.Env().Undefined();
    return Napi::Buffer<uint8_t>::Copy(info.Env(), rest->data.data(), rest->data.size());
  }

  struct StatsSnap {
    std::vector<std::vector<uint64_t>> perCpu;  // [stat][cpu]
    uint64_t lastSeq = 0, lastProcSeq = 0, lastDnsSeq = 0, pending = 0, recursionMisses = 0;
  };

  StatsSnap ReadStats() {
    StatsSnap s;
    if (!loaded_) return lastStats_;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return s;
    std::vector<uint64_t> vals(ncpu);
    for (__u32 k = 0; k < PT_STAT_NR; k++) {
      if (bpf_map_lookup_elem(loaded_->statsFd(), &k, vals.data()) != 0) std::fill(vals.begin(), vals.end(), 0);
      s.perCpu.push_back(vals);
    }
    s.lastSeq = __atomic_load_n(loaded_->seq() + PT_SEQ_CONNECT, __ATOMIC_SEQ_CST);
    s.lastProcSeq = __atomic_load_n(loaded_->seq() + PT_SEQ_PROC, __ATOMIC_SEQ_CST);
    s.lastDnsSeq = __atomic_load_n(loaded_->seq() + PT_SEQ_DNS, __ATOMIC_SEQ_CST);
    s.recursionMisses = loaded_->recursionMisses();
    return s;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    StatsSnap s = ReadStats();
    static const char* names[PT_STAT_NR] = {"ringReserveFails", "cgroupReserveFails", "pendingFull",
                                            "inflightFull", "pendingStale", "procReserveFails",
                                            "procTableFull", "dnsReserveFails", "dnsMarkFails"};
    Napi::Object r = Napi::Object::New(env);
    for (size_t k = 0; k < PT_STAT_NR; k++) {
      Napi::Array a = Napi::Array::New(env);
      if (k < s.perCpu.size())
        for (size_t c = 0; c < s.perCpu[k].size(); c++) a.Set(c, Napi::BigInt::New(env, s.perCpu[k][c]));
      r.Set(names[k], a);
    }
    r.Set("lastSeq", Napi::BigInt::New(env, s.lastSeq));
    r.Set("lastProcSeq", Napi::BigInt::New(env, s.lastProcSeq));
    r.Set("lastDnsSeq", Napi::BigInt::New(env, s.lastDnsSeq));
    r.Set("recursionMisses", Napi::BigInt::New(env, s.recursionMisses));
    if (poller_) {
      const auto& c = poller_->counters();
      counters_ = {c.batches.load(), c.records.load(), c.swept.load(), c.queueFullWaits.load(),
                   c.consumeErrors.load(), c.droppedAtStop.load()};
    }
    r.Set("batches", Napi::BigInt::New(env, counters_[0]));
    r.Set("records", Napi::BigInt::New(env, counters_[1]));
    r.Set("swept", Napi::BigInt::New(env, counters_[2]));
    r.Set("queueFullWaits", Napi::BigInt::New(env, counters_[3]));
    r.Set("consumeErrors", Napi::BigInt::New(env, counters_[4]));
    r.Set("droppedAtStop", Napi::BigInt::New(env, counters_[5]));
    r.Set("running", Napi::Boolean::New(env, poller_ != nullptr));
    return r;
  }

  // User space lacks the path of this cgroup: make BPF send it again.
  Napi::Value ForgetCgroup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsBigInt())
      throw Napi::TypeError::New(env, "forgetCgroup(hier: number, id: bigint)");
    if (!loaded_) return Napi::Boolean::New(env, false);
    bool lossless = false;
    pt_cgroup_key k = {};
    k.cgroup_id = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
    k.hier = info[0].As<Napi::Number>().Uint32Value();
    return Napi::Boolean::New(env, bpf_map_delete_elem(loaded_->cgroupSeenFd(), &k) == 0);
  }

  LoaderOptions opts_;
  std::vector<std::string> controllers_;
  uint64_t pendingTimeoutNs_ = 0;
  uint32_t maxBatch_ = 512;
  uint32_t flushMs_ = 20;
  std::unique_ptr<Loaded> loaded_;
  std::unique_ptr<Poller> poller_;
  BatchTsfn tsfn_;
  StatsSnap lastStats_;
  std::array<uint64_t, 6> counters_{};
  napi_env hookEnv_ = nullptr;
};

static Napi::Value Clock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Realtime read on both sides of boottime: the caller keeps the tightest pair.
  uint64_t r0 = RealtimeNs(), b = BoottimeNs(), r1 = RealtimeNs();
  Napi::Object o = Napi::Object::New(env);
  o.Set("boottime", Napi::BigInt::New(env, b));
  o.Set("realtimeBefore", Napi::BigInt::New(env, r0));
  o.Set("realtimeAfter", Napi::BigInt::New(env, r1));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfLog();
  auto* data = new InstanceData();
  data->ctor = Napi::Persistent(Capture::Define(env));
  env.SetInstanceData<InstanceData>(data);
  exports.Set("Capture", data->ctor.Value());
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("clock", Napi::Function::New(env, Clock, "clock"));
  exports.Set("layout", Napi::Function::New(env, Layout, "layout"));
  return exports;
}

}  // namespace podtrail

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return podtrail::Init(env, exports); }
NODE_API_MODULE(podtrail, InitAddon)
