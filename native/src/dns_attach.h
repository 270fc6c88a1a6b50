// SPDX-License-Identifier: Apache-2.0
// DNS capture's part of loading (issue 15): its cgroup programs attached with
// bpf_links at the host's cgroup v2 root, which is found here.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <vector>

namespace podtrail {

struct DnsOptions {
  bool enabled = false;
  std::vector<uint16_t> ports;  // destination ports that mark a socket (<= PT_DNS_PORTS)
  uint32_t copyMax = 0;         // payload bytes copied per packet
  std::string cgroupRoot;       // "" finds the host's cgroup v2 root
};

// After load: one link per program at the host's cgroup v2 root, appended to links.
void AttachDns(const std::vector<struct bpf_program*>& progs, const DnsOptions& o, std::vector<struct bpf_link*>& links);
// The host's cgroup v2 root directory (not a cgroup namespace's), or throws NO_CGROUP2.
std::string HostCgroup2Root(const std::string& configured);

}  // namespace podtrail
