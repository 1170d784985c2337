// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Locates ../shared/vectors (data made by implementations rill did not write).
// A test that needs them skips with a message naming the folder when it is
// absent: never a silent pass.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace rill::testing {

inline std::filesystem::path vectors_dir() {
  if (const char* env = std::getenv("RILL_VECTORS_DIR"); env && *env) return env;
  return RILL_VECTORS_DIR;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Skips the calling test unless `relative` exists under the vectors folder.
#define RILL_REQUIRE_VECTOR(relative)                                                             \
  do {                                                                                            \
    if (!std::filesystem::exists(::rill::testing::vectors_dir() / (relative))) {                  \
      GTEST_SKIP() << "test vectors not found: " << (::rill::testing::vectors_dir() / (relative)) \
                   << " (set RILL_VECTORS_DIR to the shared/vectors folder)";                     \
    }                                                                                             \
  } while (0)

}  // namespace rill::testing
