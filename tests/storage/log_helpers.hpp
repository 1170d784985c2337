// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rill/storage.hpp"

namespace rill::testing {

inline const timestamp t0{std::chrono::milliseconds(1'704'067'200'000LL)};

/// A record copied out of a read.
struct stored {
  std::uint64_t offset = 0;
  timestamp arrival{};
  std::string key{};
  std::string data{};
  bool encrypted = false;
  friend bool operator==(const stored&, const stored&) = default;
};

inline std::vector<stored> read_all(const shard_log& log, std::uint64_t from = 0, std::size_t max_records = 1 << 30,
                                    std::size_t max_bytes = std::size_t{1} << 40, log_read_stats* stats = nullptr) {
  std::vector<stored> out;
  auto s = log.read(from, max_records, max_bytes, [&](std::span<const log_record> batch) {
    for (const auto& r : batch) {
      out.push_back({r.offset, r.arrival, std::string(r.partition_key), std::string(r.data), r.encrypted});
    }
  });
  if (stats) *stats = s;
  return out;
}

inline std::uint64_t append(shard_log& log, const std::vector<std::pair<std::string, std::string>>& records,
                            timestamp arrival) {
  std::vector<log_entry> e;
  for (const auto& [k, d] : records) e.push_back({k, d});
  auto r = log.append(e, arrival);
  if (!r) ADD_FAILURE() << r.error();
  return r ? *r : 0;
}

}  // namespace rill::testing
