// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <napi.h>

#include "util.h"

namespace podtrail {

// The single place a KernelFailure becomes a JS error: message, code, errno, mode.
[[noreturn]] void ThrowKernel(Napi::Env env, const KernelFailure& f);

Napi::Value Probe(const Napi::CallbackInfo& info);
Napi::Value Layout(const Napi::CallbackInfo& info);

}  // namespace podtrail
