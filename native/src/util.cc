// SPDX-License-Identifier: Apache-2.0
#include "util.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace podtrail {

std::string ErrnoText(int err) {
  if (err <= 0) return "no errno";
  return std::string(strerrordesc_np(err) ? strerrordesc_np(err) : "unknown") + " (errno " +
         std::to_string(err) + ", " + (strerrorname_np(err) ? strerrorname_np(err) : "?") + ")";
}

Privileges ReadPrivileges() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  Privileges p{static_cast<unsigned>(geteuid()), false, false, false, false};
  if (syscall(SYS_capget, &hdr, data) != 0) return p;
  auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
  p.capSysAdmin = has(CAP_SYS_ADMIN);
  p.capNetAdmin = has(CAP_NET_ADMIN);
  p.capBpf = has(39);      // CAP_BPF, 5.8+
  p.capPerfmon = has(38);  // CAP_PERFMON, 5.8+
  return p;
}

bool HaveBtf() { return access(kVmlinuxBtf, R_OK) == 0; }

static bool HasEvents(const std::string& dir) {
  struct stat st;
  return stat((dir + "/events").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string TracefsPath() {
  for (const char* d : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"})
    if (HasEvents(d)) return d;
  return "";
}

std::string EnsureTracefs() {
  std::string p = TracefsPath();
  if (!p.empty()) return p;
  // libbpf looks tracepoint ids up under tracefs; it is often simply not mounted.
  if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
    int e = errno;
    throw KernelFailure("NO_TRACEFS", e,
                        "tracefs is not mounted and mounting it at /sys/kernel/tracing failed: " +
                            ErrnoText(e) + "; run: mount -t tracefs nodev /sys/kernel/tracing");
  }
  p = TracefsPath();
  PT_CHECK(!p.empty(), "NO_TRACEFS", ENOENT, "tracefs mounted but has no events/ directory");
  return p;
}

static std::mutex gLogMu;
static std::string gLog;

static int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  if (n <= 0) return n;
  std::lock_guard<std::mutex> g(gLogMu);
  gLog.append(buf, std::min<size_t>(n, sizeof buf - 1));
  if (gLog.size() > 64 * 1024) gLog.erase(0, gLog.size() - 32 * 1024);
  return n;
}

void InstallLibbpfLog() { libbpf_set_print(LibbpfPrint); }

std::string LibbpfLogTail(size_t max) {
  std::lock_guard<std::mutex> g(gLogMu);
  return gLog.size() <= max ? gLog : gLog.substr(gLog.size() - max);
}

void ClearLibbpfLog() {
  std::lock_guard<std::mutex> g(gLogMu);
  gLog.clear();
}

std::vector<int> ControllerIds(const std::vector<std::string>& names) {
  std::vector<int> ids;
  if (names.empty()) return ids;
  PT_CHECK(HaveBtf(), "NO_BTF", ENOENT,
           std::string("kernel BTF (") + kVmlinuxBtf + ") is missing: podtrail needs CONFIG_DEBUG_INFO_BTF=y");
  struct btf* btf = btf__load_vmlinux_btf();
  PT_CHECK(btf != nullptr, "NO_BTF", errno, "cannot load kernel BTF");
  int tid = btf__find_by_name_kind(btf, "cgroup_subsys_id", BTF_KIND_ENUM);
  std::string known;
  for (const auto& name : names) {
    int found = -1;
    if (tid > 0) {
      const struct btf_type* t = btf__type_by_id(btf, tid);
      const struct btf_enum* e = btf_enum(t);
      for (int i = 0; i < btf_vlen(t); i++) {
        std::string n = btf__name_by_offset(btf, e[i].name_off);
        if (n == name + "_cgrp_id") found = e[i].val;
        if (known.size() < 400 && n.size() > 8 && n.compare(n.size() - 8, 8, "_cgrp_id") == 0)
          known += (known.empty() ? "" : ", ") + n.substr(0, n.size() - 8);
      }
    }
    if (found < 0) {
      btf__free(btf);
      throw KernelFailure("BAD_CONTROLLER", EINVAL,
                          "unknown cgroup controller '" + name + "' (this kernel has: " + known + ")");
    }
    ids.push_back(found);
  }
  btf__free(btf);
  return ids;
}

}  // namespace podtrail
