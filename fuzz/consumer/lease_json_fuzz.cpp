// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// libFuzzer target for the lease-file parser of the directory lease store (the
// bytes another process, a crash or a person left in `<dir>/*.lease`).
// Invariants: no crash; a parsed lease is valid and survives a round trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "consumer/lease_ops.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto l = rill::kcl::detail::from_json(text);
  if (!l) return 0;
  if (l->lease_key.empty() || !l->checkpoint.valid()) std::abort();
  auto again = rill::kcl::detail::from_json(rill::kcl::detail::to_json(*l));
  if (!again || !(*again == *l)) {
    // NaN throughput is the one value that does not compare equal to itself.
    if (!again || again->throughput_kbps == again->throughput_kbps) std::abort();
  }
  return 0;
}
