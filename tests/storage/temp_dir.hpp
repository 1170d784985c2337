// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A fresh folder per test, removed afterwards. RILL_TEST_TMPDIR picks where.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace rill::testing {

class temp_dir {
 public:
  temp_dir() {
    static std::atomic<int> n{0};
    // tmpfs when there is one: these tests simulate power cuts through the
    // fault-injecting file system, so real fsyncs only cost time.
    const char* base = std::getenv("RILL_TEST_TMPDIR");
    if (!base || !*base) base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::getenv("TMPDIR");
    path_ = std::string(base && *base ? base : "/tmp") + "/rill-storage-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(n++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    if (const char* keep = std::getenv("RILL_KEEP_TEST_DIR"); keep && *keep) {
      std::printf("[ KEPT     ] %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace rill::testing
