# SPDX-License-Identifier: Apache-2.0
{
  "targets": [
    {
      "target_name": "podtrail",
      "sources": ["src/addon.cc", "src/loader.cc", "src/poller.cc", "src/probe.cc", "src/util.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "include_dirs": ["../bpf", "../bpf/.output", "<!@(pkg-config --cflags-only-I libbpf | sed 's/-I//g')"],
      "libraries": ["<!@(pkg-config --libs libbpf)"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"]
    }
  ]
}
