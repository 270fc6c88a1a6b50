// SPDX-License-Identifier: Apache-2.0
#include "dns_attach.h"

#include <bpf/btf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

extern "C" {
#include <linux/types.h>
#include "podtrail.h"
}
#include "util.h"

namespace podtrail {

bool IsDnsProgram(const char* name) { return strncmp(name, "pt_dns_", 7) == 0; }

namespace {

// Writes one rodata variable, placed by the .rodata section's BTF.
void PutRodata(struct bpf_object* obj, const char* var, const void* v, size_t n) {
  struct bpf_map* ro = nullptr;
  struct bpf_map* m;
  bpf_object__for_each_map(m, obj) {
    const char* name = bpf_map__name(m);
    size_t len = strlen(name);
    if (len >= 7 && strcmp(name + len - 7, ".rodata") == 0) ro = m;
  }
  PT_CHECK(ro, "OPEN_FAILED", ENOENT, "BPF object has no .rodata");
  size_t size = 0;
  const void* init = bpf_map__initial_value(ro, &size);
  const struct btf* btf = bpf_object__btf(obj);
  int sec = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
  PT_CHECK(init && sec > 0, "OPEN_FAILED", ENOENT, "BPF object has no .rodata BTF");
  const struct btf_type* t = btf__type_by_id(btf, sec);
  const struct btf_var_secinfo* vs = btf_var_secinfos(t);
  for (int i = 0; i < btf_vlen(t); i++) {
    const char* name = btf__name_by_offset(btf, btf__type_by_id(btf, vs[i].type)->name_off);
    if (strcmp(name, var) != 0) continue;
    PT_CHECK(vs[i].size == n && vs[i].offset + n <= size, "OPEN_FAILED", EINVAL,
             std::string("rodata size mismatch for ") + var);
    std::vector<char> buf(static_cast<const char*>(init), static_cast<const char*>(init) + size);
    memcpy(buf.data() + vs[i].offset, v, n);
    int e = bpf_map__set_initial_value(ro, buf.data(), size);
    PT_CHECK(e == 0, "OPEN_FAILED", e, std::string("cannot set BPF option ") + var);
    return;
  }
  throw KernelFailure("OPEN_FAILED", EINVAL, std::string("BPF object lacks option ") + var + " (stale build?)");
}

bool IsCgroup2(const std::string& dir) {
  struct statfs s;
  return statfs(dir.c_str(), &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

// The root cgroup alone lacks the files the kernel puts only on non-root cgroups
// (cgroup.type among them). A cgroup namespace's root is some pod's cgroup: it has them.
bool IsRootCgroup(const std::string& dir) {
  struct stat st;
  return IsCgroup2(dir) && stat((dir + "/cgroup.type").c_str(), &st) != 0 && errno == ENOENT &&
         stat((dir + "/cgroup.procs").c_str(), &st) == 0;
}

std::vector<std::string> Cgroup2Mounts(const char* mountinfo) {
  std::vector<std::string> out;
  std::ifstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    // ... mount-point ... - fstype source options
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, mnt;
    head >> id >> parent >> dev >> root >> mnt;
    if (!mnt.empty()) out.push_back(mnt);
  }
  return out;
}

}  // namespace

std::string HostCgroup2Root(const std::string& configured) {
  if (!configured.empty()) {
    PT_CHECK(IsRootCgroup(configured), "NO_CGROUP2", EINVAL,
             "dnsCgroupRoot " + configured + " is not the root of a cgroup v2 hierarchy");
    return configured;
  }
  // Our own view first (the unified mount on hybrid hosts too), then the host's
  // through pid 1's root, for an agent in a cgroup namespace with hostPID.
  std::vector<std::string> cands = Cgroup2Mounts("/proc/self/mountinfo");
  for (const auto& m : Cgroup2Mounts("/proc/1/mountinfo")) cands.push_back("/proc/1/root" + m);
  for (const auto& c : cands)
    if (IsRootCgroup(c)) return c;
  std::string seen;
  for (const auto& c : cands) seen += " " + c;
  throw KernelFailure("NO_CGROUP2", ENOENT,
                      "DNS capture needs the host's cgroup v2 root; none found (cgroup2 mounts:" +
                          (seen.empty() ? std::string(" none") : seen) +
                          "; in a cgroup namespace, mount the host's /sys/fs/cgroup or run with hostPID)");
}

void SetDnsRodata(struct bpf_object* obj, const DnsOptions& o) {
  uint16_t ports[PT_DNS_PORTS] = {};
  PT_CHECK(o.ports.size() <= PT_DNS_PORTS, "BAD_OPTION", EINVAL, "at most 8 DNS ports");
  for (size_t i = 0; i < o.ports.size(); i++) ports[i] = o.ports[i];
  PutRodata(obj, "dns_ports", ports, sizeof ports);
  uint32_t cap = o.copyMax;
  PutRodata(obj, "dns_copy_max", &cap, sizeof cap);
}

void AttachDns(struct bpf_object* obj, const DnsOptions& o, std::vector<struct bpf_link*>& links) {
  std::string root = HostCgroup2Root(o.cgroupRoot);
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  PT_CHECK(fd >= 0, "NO_CGROUP2", errno, "cannot open cgroup v2 root " + root + ": " + ErrnoText(errno));
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (!IsDnsProgram(bpf_program__name(prog)) || !bpf_program__autoload(prog)) continue;
    // A link, never a legacy attach: it goes away with this process, and it
    // multi-attaches beside whatever else the node runs at the root (Cilium, systemd).
    struct bpf_link* l = bpf_program__attach_cgroup(prog, fd);
    if (!l) {
      int e = errno;
      close(fd);
      std::string hint = e == EPERM ? " (cgroup programs need CAP_NET_ADMIN as well)" : "";
      throw KernelFailure("ATTACH_FAILED", e,
                          std::string("attach ") + bpf_program__section_name(prog) + " at " + root +
                              " failed: " + ErrnoText(e) + hint);
    }
    links.push_back(l);
  }
  close(fd);
}

}  // namespace podtrail
