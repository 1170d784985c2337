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

#include "rill/clock.hpp"
#include "rill/file_system.hpp"
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
class flaky_file_system final : public rill::file_system {
 public:
  std::shared_ptr<rill::file_system> base = rill::posix_file_system();
  std::function<bool(const std::filesystem::path&)> fail_rename;
  std::atomic<int> failures{0};

  result<std::unique_ptr<writable_file>> open_append(const std::string& p) override { return base->open_append(p); }
  result<std::unique_ptr<random_access_file>> open_read(const std::string& p) override { return base->open_read(p); }
  result<void> rename(const std::string& from, const std::string& to) override {
    if (fail_rename && fail_rename(std::filesystem::path(to))) {
      ++failures;
      return error(error_code::internal_failure, "injected rename failure");
    }
    return base->rename(from, to);
  }
  result<void> remove(const std::string& p) override { return base->remove(p); }
  result<void> remove_all(const std::string& d) override { return base->remove_all(d); }
  result<void> create_dirs(const std::string& d) override { return base->create_dirs(d); }
  result<std::vector<std::string>> list_dir(const std::string& d) override { return base->list_dir(d); }
  result<void> sync_dir(const std::string& d) override { return base->sync_dir(d); }
  result<std::uint64_t> file_size(const std::string& p) override { return base->file_size(p); }
  result<void> truncate(const std::string& p, std::uint64_t n) override { return base->truncate(p, n); }
  bool exists(const std::string& p) override { return base->exists(p); }
  result<std::unique_ptr<file_lock>> lock_file(const std::string& p) override { return base->lock_file(p); }
};

inline delivery::extended_s3_destination_configuration s3(std::string bucket = "bucket") {
  delivery::extended_s3_destination_configuration c;
  c.role_arn = "arn:aws:iam::000000000000:role/firehose";
  c.bucket_arn = "arn:aws:s3:::" + bucket;
  return c;
}

inline delivery::buffering_hints hints(int mb, int seconds) { return delivery::buffering_hints{mb, seconds}; }

}  // namespace rill::testing
