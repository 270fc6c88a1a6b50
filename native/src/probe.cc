// SPDX-License-Identifier: Apache-2.0
// probe(objPath): what `podtrail doctor` reports. layout(): the C compiler's
// view of podtrail.h, so a unit test can hold the TypeScript mirror to it.
#include <linux/types.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>
#include <sstream>

extern "C" {
#include "podtrail.h"
}
#include "addon.h"
#include "loader.h"

namespace podtrail {

static Napi::Object CgroupLayout(Napi::Env env) {
  std::ifstream f("/proc/self/mounts");
  std::string line;
  Napi::Array v1 = Napi::Array::New(env);
  std::string v2;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::string dev, dir, type, opts;
    ls >> dev >> dir >> type >> opts;
    if (type == "cgroup2" && v2.empty()) v2 = dir;
    if (type == "cgroup") v1.Set(v1.Length(), dir);
  }
  Napi::Object o = Napi::Object::New(env);
  const char* kind = v1.Length() && !v2.empty() ? "hybrid" : v1.Length() ? "v1" : !v2.empty() ? "v2" : "none";
  o.Set("kind", kind);
  o.Set("v2Mount", v2);
  o.Set("v1Mounts", v1);
  return o;
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "probe(bpfObjectPath: string)");
  std::string obj = info[0].As<Napi::String>().Utf8Value();
  Napi::Object r = Napi::Object::New(env);
  struct utsname u;
  uname(&u);
  r.Set("kernelRelease", std::string(u.release));
  r.Set("btf", HaveBtf());
  std::string tracefsBefore = TracefsPath();
  Privileges p = ReadPrivileges();
  Napi::Object priv = Napi::Object::New(env);
  priv.Set("euid", p.euid);
  priv.Set("capSysAdmin", p.capSysAdmin);
  priv.Set("capBpf", p.capBpf);
  priv.Set("capPerfmon", p.capPerfmon);
  priv.Set("capNetAdmin", p.capNetAdmin);
  priv.Set("enough", p.enough());
  r.Set("privileges", priv);
  r.Set("cgroup", CgroupLayout(env));

  Napi::Array modes = Napi::Array::New(env);
  for (const char* m : {"fentry", "kprobe", "tracepoint"}) {
    Napi::Object a = Napi::Object::New(env);
    a.Set("mode", m);
    try {
      PT_CHECK(p.enough(), "NOT_PRIVILEGED", EPERM, "needs root or CAP_BPF+CAP_PERFMON");
      PT_CHECK(HaveBtf(), "NO_BTF", ENOENT, "no kernel BTF");
      LoaderOptions o;
      o.objPath = obj;
      o.mode = m;
      o.ringBytes = 1 << 16;
      o.selfTgid = static_cast<uint32_t>(getpid());
      Loaded l(o);  // load and attach for real, then detach at scope end
      a.Set("ok", true);
      a.Set("errno", 0);
      a.Set("code", "");
      a.Set("message", "");
    } catch (const KernelFailure& f) {
      a.Set("ok", false);
      a.Set("errno", f.err);
      a.Set("code", f.code);
      a.Set("message", std::string(f.what()).substr(0, 600));
    }
    modes.Set(modes.Length(), a);
  }
  r.Set("modes", modes);
  Napi::Object tf = Napi::Object::New(env);
  tf.Set("mountedBefore", !tracefsBefore.empty());
  tf.Set("path", TracefsPath());
  r.Set("tracefs", tf);
  return r;
}

#define PT_FIELD(T, f) o.Set(#f, Napi::Number::New(env, offsetof(T, f)))

Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  {
    Napi::Object o = Napi::Object::New(env);
    using T = pt_connect_event;
    PT_FIELD(T, type); PT_FIELD(T, flags); PT_FIELD(T, seq); PT_FIELD(T, ts_ns); PT_FIELD(T, done_ns);
    PT_FIELD(T, start_ns); PT_FIELD(T, cgroup_id); PT_FIELD(T, tgid); PT_FIELD(T, tid); PT_FIELD(T, ppid);
    PT_FIELD(T, uid); PT_FIELD(T, gid); PT_FIELD(T, ns_pid); PT_FIELD(T, netns); PT_FIELD(T, mntns);
    PT_FIELD(T, pidns); PT_FIELD(T, err); PT_FIELD(T, saddr); PT_FIELD(T, daddr); PT_FIELD(T, sport);
    PT_FIELD(T, dport); PT_FIELD(T, family); PT_FIELD(T, protocol); PT_FIELD(T, status); PT_FIELD(T, op);
    PT_FIELD(T, cg_hier); PT_FIELD(T, comm); PT_FIELD(T, uts); PT_FIELD(T, proc_key_ns);
    o.Set("SIZE", Napi::Number::New(env, sizeof(T)));
    r.Set("connectEvent", o);
  }
  {
    Napi::Object o = Napi::Object::New(env);
    using T = pt_proc_rec;
    PT_FIELD(T, type); PT_FIELD(T, kind); PT_FIELD(T, exe_flags); PT_FIELD(T, seq); PT_FIELD(T, ts_ns);
    PT_FIELD(T, key_ns); PT_FIELD(T, parent_key_ns); PT_FIELD(T, start_ns); PT_FIELD(T, tgid); PT_FIELD(T, ppid);
    PT_FIELD(T, uid); PT_FIELD(T, exe_len); PT_FIELD(T, args_len); PT_FIELD(T, args_full); PT_FIELD(T, comm);
    PT_FIELD(T, data);
    o.Set("SIZE", Napi::Number::New(env, sizeof(T)));
    r.Set("procRec", o);
  }
  {
    Napi::Object o = Napi::Object::New(env);
    using T = pt_cgroup_rec;
    PT_FIELD(T, type); PT_FIELD(T, hier); PT_FIELD(T, flags); PT_FIELD(T, cgroup_id); PT_FIELD(T, len);
    PT_FIELD(T, depth); PT_FIELD(T, path);
    o.Set("SIZE", Napi::Number::New(env, sizeof(T)));
    r.Set("cgroupRec", o);
  }
  {
    using T = pt_dns_rec;
    Napi::Object o = Napi::Object::New(env);
    PT_FIELD(T, type); PT_FIELD(T, dir); PT_FIELD(T, protocol); PT_FIELD(T, family); PT_FIELD(T, seq);
    PT_FIELD(T, ts_ns); PT_FIELD(T, sock_cookie); PT_FIELD(T, cgroup_id); PT_FIELD(T, netns_cookie);
    PT_FIELD(T, proc_key_ns); PT_FIELD(T, tgid); PT_FIELD(T, cg_hier); PT_FIELD(T, tcp_seq);
    PT_FIELD(T, wire_len); PT_FIELD(T, cap_len); PT_FIELD(T, laddr); PT_FIELD(T, raddr); PT_FIELD(T, lport);
    PT_FIELD(T, rport); PT_FIELD(T, comm); PT_FIELD(T, data);
    o.Set("SIZE", Napi::Number::New(env, sizeof(T)));
    r.Set("dnsRec", o);
  }
  Napi::Object c = Napi::Object::New(env);
  c.Set("PT_REC_CONNECT", static_cast<int>(PT_REC_CONNECT));
  c.Set("PT_REC_CGROUP", static_cast<int>(PT_REC_CGROUP));
  c.Set("PT_REC_PROC", static_cast<int>(PT_REC_PROC));
  c.Set("PT_PROC_EXEC", static_cast<int>(PT_PROC_EXEC));
  c.Set("PT_PROC_FORK", static_cast<int>(PT_PROC_FORK));
  c.Set("PT_PROC_EXIT", static_cast<int>(PT_PROC_EXIT));
  c.Set("PT_EXE_MAX", static_cast<int>(PT_EXE_MAX));
  c.Set("PT_ARGS_MAX", static_cast<int>(PT_ARGS_MAX));
  c.Set("PT_EXE_FILELESS", static_cast<int>(PT_EXE_FILELESS));
  c.Set("PT_EXE_MEMFD", static_cast<int>(PT_EXE_MEMFD));
  c.Set("PT_EXE_UPPER", static_cast<int>(PT_EXE_UPPER));
  c.Set("PT_EXE_PATH_TRUNCATED", static_cast<int>(PT_EXE_PATH_TRUNCATED));
  c.Set("PT_EXE_UNREACHABLE", static_cast<int>(PT_EXE_UNREACHABLE));
  c.Set("PT_EXE_ARGS_TRUNCATED", static_cast<int>(PT_EXE_ARGS_TRUNCATED));
  c.Set("PT_F_EXE_UNLINKED", static_cast<int>(PT_F_EXE_UNLINKED));
  c.Set("PT_COMM_LEN", static_cast<int>(PT_COMM_LEN));
  c.Set("PT_UTS_LEN", static_cast<int>(PT_UTS_LEN));
  c.Set("PT_CGROUP_PATH_BUF", static_cast<int>(PT_CGROUP_PATH_BUF));
  c.Set("PT_F_V4MAPPED", static_cast<int>(PT_F_V4MAPPED));
  c.Set("PT_F_SWEPT", static_cast<int>(PT_F_SWEPT));
  c.Set("PT_CGF_TRUNCATED", static_cast<int>(PT_CGF_TRUNCATED));
  c.Set("PT_PEND_SLOTS", static_cast<int>(PT_PEND_SLOTS));
  c.Set("PT_ST_OK", static_cast<int>(PT_ST_OK));
  c.Set("PT_ST_INPROGRESS", static_cast<int>(PT_ST_INPROGRESS));
  c.Set("PT_ST_REFUSED", static_cast<int>(PT_ST_REFUSED));
  c.Set("PT_ST_TIMEOUT", static_cast<int>(PT_ST_TIMEOUT));
  c.Set("PT_ST_UNREACHABLE", static_cast<int>(PT_ST_UNREACHABLE));
  c.Set("PT_ST_ERROR", static_cast<int>(PT_ST_ERROR));
  c.Set("PT_OP_CONNECT", static_cast<int>(PT_OP_CONNECT));
  c.Set("PT_OP_SENDTO", static_cast<int>(PT_OP_SENDTO));
  c.Set("PT_OP_SENDMSG", static_cast<int>(PT_OP_SENDMSG));
  c.Set("PT_OP_SENDMMSG", static_cast<int>(PT_OP_SENDMMSG));
  c.Set("PT_REC_DNS", static_cast<int>(PT_REC_DNS));
  c.Set("PT_DNS_MAX", static_cast<int>(PT_DNS_MAX));
  c.Set("PT_DNS_PORTS", static_cast<int>(PT_DNS_PORTS));
  c.Set("PT_DNS_QUERY", static_cast<int>(PT_DNS_QUERY));
  c.Set("PT_DNS_ANSWER", static_cast<int>(PT_DNS_ANSWER));
  r.Set("constants", c);
  return r;
}

}  // namespace podtrail
