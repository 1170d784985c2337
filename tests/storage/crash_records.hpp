// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The records of the crash loop, shared by the child that writes them and the
// test that checks them.
#pragma once

#include <cstdint>
#include <string>

#include "rill/storage.hpp"

namespace rill::testing {

inline shard_log_key crash_key(int shard) { return {"crash", 1, shard_id(static_cast<std::uint32_t>(shard))}; }

inline std::string crash_key_of(int iteration, int thread, std::uint64_t counter, int j) {
  return "i" + std::to_string(iteration) + "-t" + std::to_string(thread) + "-c" + std::to_string(counter) + "-" +
         std::to_string(j);
}

// Data whose bytes depend on the key: a wrong byte anywhere is detected.
inline std::string crash_data(int iteration, int thread, std::uint64_t counter, int j) {
  std::uint64_t h = 1469598103934665603ULL ^ (static_cast<std::uint64_t>(iteration) << 40) ^
                    (static_cast<std::uint64_t>(thread) << 32) ^ (counter << 8) ^ static_cast<std::uint64_t>(j);
  const std::size_t n = 10 + (h % 300);
  std::string d(n, '\0');
  for (auto& c : d) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 29;
    c = static_cast<char>(h);
  }
  return d;
}

// Arrival times never decrease: per iteration a later hour, then the counter.
inline timestamp crash_time(int iteration, std::uint64_t counter) {
  return timestamp(std::chrono::milliseconds(1'704'067'200'000LL + iteration * 3'600'000LL +
                                             static_cast<std::int64_t>(counter / 64)));
}

}  // namespace rill::testing
