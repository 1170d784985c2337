// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A file system for tests that fails on command and loses what a power cut
// would lose. It wraps another file system (usually the POSIX one) and
//
//   * fails chosen operations with a chosen errno (ENOSPC, EIO, …), once, a
//     number of times, or forever, after skipping a number of matching calls;
//   * writes short: an append that writes half of its bytes and then fails;
//   * remembers, per file, how many bytes were synced, and on drop_unsynced()
//     cuts every file back to that size (a file never synced becomes empty),
//     which is what a machine that lost power would find on reboot.
//
// Thread safety: every method may be called from any thread concurrently.
#pragma once

#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rill/file_system.hpp"

namespace rill {

enum class fs_op : std::uint8_t { append, sync, open, rename, remove, sync_dir, truncate, read, any };

struct fs_fault {
  fs_op op = fs_op::any;
  int err = EIO;
  /// Matching calls to let through before the first failure.
  std::uint64_t after = 0;
  /// How many calls fail; 0: every matching call from then on.
  std::uint64_t times = 1;
  /// For appends: write the first half of the bytes, then fail.
  bool short_write = false;
  /// Only paths containing this (empty: all).
  std::string path_contains{};
};

class fault_file_system final : public file_system {
 public:
  explicit fault_file_system(std::shared_ptr<file_system> base = posix_file_system());

  /// Adds a fault (they are matched in the order added).
  void inject(fs_fault f);
  /// Removes every fault.
  void clear();
  /// Failures injected so far.
  [[nodiscard]] std::uint64_t injected() const;
  /// Calls of `op` made so far (failed or not).
  [[nodiscard]] std::uint64_t calls(fs_op op) const;
  /// Simulates a power cut: every file written through this file system is
  /// cut back to its last synced size. Open handles must be closed first (or
  /// not used again).
  result<void> drop_unsynced();

  result<std::unique_ptr<writable_file>> open_append(const std::string& path) override;
  result<std::unique_ptr<random_access_file>> open_read(const std::string& path) override;
  result<void> rename(const std::string& from, const std::string& to) override;
  result<void> remove(const std::string& path) override;
  result<void> remove_all(const std::string& dir) override;
  result<void> create_dirs(const std::string& dir) override;
  result<std::vector<std::string>> list_dir(const std::string& dir) override;
  result<void> sync_dir(const std::string& dir) override;
  result<std::uint64_t> file_size(const std::string& path) override;
  result<void> truncate(const std::string& path, std::uint64_t size) override;
  bool exists(const std::string& path) override;
  result<std::unique_ptr<file_lock>> lock_file(const std::string& path) override;
  result<std::unique_ptr<file_lock>> lock_file_waiting(const std::string& path, bool shared) override;

  // Used by the wrapped files.
  struct fault_hit {
    int err = 0;
    bool short_write = false;
  };
  fault_hit check(fs_op op, const std::string& path);
  void note_size(const std::string& path, std::uint64_t size, bool synced);

 private:
  struct rule {
    fs_fault f;
    std::uint64_t seen = 0;
    std::uint64_t failed = 0;
  };
  struct file_state {
    std::uint64_t synced = 0;
    std::uint64_t size = 0;
  };
  std::shared_ptr<file_system> base_;
  mutable std::mutex mu_;
  std::vector<rule> rules_;
  std::map<std::string, file_state> files_;
  std::uint64_t injected_ = 0;
  std::map<fs_op, std::uint64_t> calls_;
};

}  // namespace rill
