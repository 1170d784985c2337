// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Seeds for randomized tests: RILL_SEED=<n> replays a run; otherwise a fixed
// default keeps CI repeatable. Every randomized test prints the seed it used.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace rill::testing {

inline std::uint64_t test_seed(std::uint64_t fallback) {
  std::uint64_t seed = fallback;
  if (const char* env = std::getenv("RILL_SEED"); env && *env) seed = std::strtoull(env, nullptr, 10);
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::printf("[ SEED     ] %llu (replay with RILL_SEED=%llu)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  return seed;
}

}  // namespace rill::testing
