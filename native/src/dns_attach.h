// SPDX-License-Identifier: Apache-2.0
// DNS capture's part of loading (issue 15): its options into the object's rodata,
// and its cgroup programs attached with bpf_links at the host's cgroup v2 root.
// Kept apart from loader.cc so the loader can change shape without touching this.
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

// The pt_dns_* programs: loaded only with DNS on, attached by AttachDns only.
bool IsDnsProgram(const char* name);
// Between open and load.
void SetDnsRodata(struct bpf_object* obj, const DnsOptions& o);
// After load: one link per program at the host's cgroup v2 root, appended to links.
void AttachDns(struct bpf_object* obj, const DnsOptions& o, std::vector<struct bpf_link*>& links);
// The host's cgroup v2 root directory (not a cgroup namespace's), or throws NO_CGROUP2.
std::string HostCgroup2Root(const std::string& configured);

}  // namespace podtrail
