// SPDX-License-Identifier: Apache-2.0
// Shared by the native files: the one failure type, the CHECK macro and
// host checks (privileges, BTF, tracefs) that turn into clear JS errors.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace podtrail {

// Every kernel-side failure. addon.cc turns it into a Napi::Error carrying
// code, errno and mode; nothing else throws across the N-API boundary.
struct KernelFailure : std::runtime_error {
  std::string code;  // NOT_PRIVILEGED, NO_BTF, NO_TRACEFS, OPEN_FAILED, LOAD_FAILED, ATTACH_FAILED, ...
  int err;           // positive errno, 0 when none
  std::string mode;  // attach mode being tried, "" when none
  KernelFailure(std::string c, int e, const std::string& msg, std::string m = "")
      : std::runtime_error(msg), code(std::move(c)), err(e < 0 ? -e : e), mode(std::move(m)) {}
};

// CHECK(cond, code, errno, message): the one way native code fails.
#define PT_CHECK(cond, code, err, msg)                              \
  do {                                                              \
    if (!(cond)) throw ::podtrail::KernelFailure((code), (err), (msg)); \
  } while (0)

std::string ErrnoText(int err);

// Effective capabilities: BPF loading needs CAP_BPF (+CAP_PERFMON for tracing)
// or CAP_SYS_ADMIN.
struct Privileges {
  unsigned euid;
  bool capSysAdmin, capBpf, capPerfmon, capNetAdmin;
  bool enough() const { return capSysAdmin || (capBpf && capPerfmon); }
};
Privileges ReadPrivileges();

constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";
bool HaveBtf();

// Where tracefs is mounted ("" when nowhere). EnsureTracefs mounts it at
// /sys/kernel/tracing when missing and throws NO_TRACEFS when it cannot.
std::string TracefsPath();
std::string EnsureTracefs();

// Recent libbpf messages (warnings carry the verifier log), for error texts.
void InstallLibbpfLog();
std::string LibbpfLogTail(size_t max = 2000);
void ClearLibbpfLog();

// cgroup controller names -> enum cgroup_subsys_id values, from kernel BTF.
std::vector<int> ControllerIds(const std::vector<std::string>& names);

}  // namespace podtrail
