# SPDX-License-Identifier: Apache-2.0
{
  "targets": [
    {
      "target_name": "podtrail",
      "sources": ["src/addon.cc", "src/loader.cc", "src/poller.cc", "src/probe.cc", "src/util.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "include_dirs": ["../bpf", "../bpf/.output", "<!@(pkg-config --cflags-only-I libbpf | sed 's/-I//g')"],
      "libraries": ["<!@(pkg-config --libs libbpf)"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: while a Worker is terminated its env takes no
      # JS exception; without it node-addon-api turns the failed throw of the ring doorbell's
      # callback into a C++ throw out of a C callback, and the whole process aborts
      # (test/integration/addon-worker.test.ts).
      "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"]
    }
  ]
}
