// SPDX-License-Identifier: Apache-2.0
#include "dns_attach.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "util.h"

namespace podtrail {

namespace {

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

void AttachDns(const std::vector<struct bpf_program*>& progs, const DnsOptions& o, std::vector<struct bpf_link*>& links) {
  std::string root = HostCgroup2Root(o.cgroupRoot);
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  PT_CHECK(fd >= 0, "NO_CGROUP2", errno, "cannot open cgroup v2 root " + root + ": " + ErrnoText(errno));
  for (struct bpf_program* prog : progs) {
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
