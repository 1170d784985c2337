// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Test helpers for delivery streams: a firehose on a manual clock writing into
// a fresh temporary directory, a recursive directory listing, and a file system
// that fails on demand.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "delivery/file_system.hpp"
#include "rill/clock.hpp"
#include "rill/firehose.hpp"

namespace rill::testing {

#define RILL_ASSERT_OK(expr)                                         \
  do {                                                               \
    auto&& rill_r_ = (expr);                                         \
    ASSERT_TRUE(rill_r_.ok()) << #expr << " -> " << rill_r_.error(); \
  } while (0)

#define RILL_EXPECT_ERROR(expr, code_)                                         \
  do {                                                                         \
    auto&& rill_r_ = (expr);                                                   \
    ASSERT_FALSE(rill_r_.ok()) << #expr << " succeeded; expected " << (code_); \
    EXPECT_EQ(rill_r_.error().code(), (code_)) << rill_r_.error();             \
  } while (0)

/// A fresh directory under the system temp dir, removed at the end.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    static std::atomic<int> n{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = std::filesystem::temp_directory_path() /
           ("rill-delivery-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" +
            (info ? std::string(info->name()) : std::string("x")));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// Every regular file under `root`, as path relative to root -> contents (temporary files skipped).
inline std::map<std::string, std::string> read_tree(const std::filesystem::path& root) {
  std::map<std::string, std::string> out;
  if (!std::filesystem::exists(root)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    if (e.path().filename().string().rfind(".", 0) == 0) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out[std::filesystem::relative(e.path(), root).string()] = ss.str();
  }
  return out;
}

/// Splits newline-delimited text into lines (no trailing empty line).
inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == '\n') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

/// A file system that passes through to POSIX, failing renames into paths that
/// contain `fail_substring` while `failing` is true (or by a predicate).
class flaky_file_system final : public delivery::file_system {
 public:
  std::shared_ptr<delivery::file_system> base = delivery::make_posix_file_system();
  std::function<bool(const std::filesystem::path&)> fail_rename;
  std::atomic<int> failures{0};

  result<void> create_directories(const std::filesystem::path& dir) override { return base->create_directories(dir); }
  result<std::unique_ptr<delivery::writable_file>> new_writable_file(const std::filesystem::path& p) override {
    return base->new_writable_file(p);
  }
  result<void> rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (fail_rename && fail_rename(to)) {
      ++failures;
      return error(error_code::internal_failure, "injected rename failure");
    }
    return base->rename(from, to);
  }
  result<void> sync_directory(const std::filesystem::path& dir) override { return base->sync_directory(dir); }
  result<void> remove(const std::filesystem::path& p) override { return base->remove(p); }
  result<std::string> read_file(const std::filesystem::path& p) override { return base->read_file(p); }
};

inline delivery::extended_s3_destination_configuration s3(std::string bucket = "bucket") {
  delivery::extended_s3_destination_configuration c;
  c.role_arn = "arn:aws:iam::000000000000:role/firehose";
  c.bucket_arn = "arn:aws:s3:::" + bucket;
  return c;
}

inline delivery::buffering_hints hints(int mb, int seconds) {
  return delivery::buffering_hints{mb, seconds};
}

}  // namespace rill::testing
