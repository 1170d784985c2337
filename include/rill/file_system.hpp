// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Files are injected. Everything rill keeps on disk (shard segments, indexes,
// the manifest, the lock file) goes through one `file_system`, in the manner of
// LevelDB's `Env`: the POSIX one for real use, a fault-injecting one in tests
// (fails writes and syncs, writes short, drops unsynced data as a power cut
// would).
//
// Paths are plain strings joined with '/'. Every failure is a `rill::error`
// with code InternalFailure and a message naming the operation, the path and
// the system's reason, e.g. "append /data/x.log: No space left on device".
//
// Thread safety: a file_system may be used from any thread concurrently. A
// writable_file is used by one thread at a time, except that sync() may run
// concurrently with append() (the data appended before sync() began is what
// sync() makes durable). A random_access_file may be read from any number of
// threads concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rill/error.hpp"

namespace rill {

/// A file open for appending. Owned by the caller; closed by the destructor.
class writable_file {
 public:
  virtual ~writable_file() = default;
  /// Appends all of `data` at the end of the file (retrying short writes).
  /// On error an unknown prefix of `data` may have reached the file.
  [[nodiscard]] virtual result<void> append(std::string_view data) = 0;
  /// Makes everything appended so far durable (fdatasync).
  [[nodiscard]] virtual result<void> sync() = 0;
  /// Bytes in the file as this handle knows it (size at open plus appends).
  [[nodiscard]] virtual std::uint64_t size() const noexcept = 0;
};

/// A file open for positional reads. Owned by the caller.
class random_access_file {
 public:
  virtual ~random_access_file() = default;
  /// Reads up to `n` bytes at `offset` into `scratch`; returns how many were
  /// read (fewer only at the end of the file).
  [[nodiscard]] virtual result<std::size_t> read(std::uint64_t offset, std::size_t n, char* scratch) const = 0;
  /// The file's size now.
  [[nodiscard]] virtual result<std::uint64_t> size() const = 0;
};

/// An advisory lock on a file, held until destroyed.
class file_lock {
 public:
  virtual ~file_lock() = default;
};

/// The operations rill needs from a file system.
class file_system {
 public:
  virtual ~file_system() = default;

  /// Opens `path` for appending, creating it (empty) if missing.
  [[nodiscard]] virtual result<std::unique_ptr<writable_file>> open_append(const std::string& path) = 0;
  /// Opens an existing file for reading.
  [[nodiscard]] virtual result<std::unique_ptr<random_access_file>> open_read(const std::string& path) = 0;
  /// Atomically replaces `to` with `from` (rename(2)); durable once the
  /// directory is synced.
  [[nodiscard]] virtual result<void> rename(const std::string& from, const std::string& to) = 0;
  /// Removes a file. Removing a missing file succeeds.
  [[nodiscard]] virtual result<void> remove(const std::string& path) = 0;
  /// Removes a directory and everything under it. A missing one succeeds.
  [[nodiscard]] virtual result<void> remove_all(const std::string& dir) = 0;
  /// Creates a directory and its missing parents.
  [[nodiscard]] virtual result<void> create_dirs(const std::string& dir) = 0;
  /// Names (not paths) of the entries of a directory, in no particular order.
  [[nodiscard]] virtual result<std::vector<std::string>> list_dir(const std::string& dir) = 0;
  /// Makes the directory's entries (creates, renames, removes) durable.
  [[nodiscard]] virtual result<void> sync_dir(const std::string& dir) = 0;
  /// The size of a file.
  [[nodiscard]] virtual result<std::uint64_t> file_size(const std::string& path) = 0;
  /// Cuts a file to `size` bytes.
  [[nodiscard]] virtual result<void> truncate(const std::string& path, std::uint64_t size) = 0;
  /// Whether a file or directory exists.
  [[nodiscard]] virtual bool exists(const std::string& path) = 0;
  /// Takes an exclusive advisory lock on `path` (created if missing). Fails
  /// with InternalFailure "… is locked by another process" if someone holds it.
  [[nodiscard]] virtual result<std::unique_ptr<file_lock>> lock_file(const std::string& path) = 0;
  /// Takes an advisory lock on `path` (created if missing), waiting while a
  /// conflicting holder has it: `shared` locks coexist, an exclusive one
  /// excludes every other. Each call is its own holder, so two calls of one
  /// process exclude each other as two processes do (flock(2) on a fresh
  /// descriptor). For short critical sections (a read-check-write), not for
  /// waiting on another process's lifetime. The default implementation fails
  /// with InternalFailure (not supported).
  [[nodiscard]] virtual result<std::unique_ptr<file_lock>> lock_file_waiting(const std::string& path, bool shared) {
    (void)shared;
    return error(error_code::internal_failure, "lock " + path + ": waiting locks are not supported");
  }
};

/// The operating system's file system (POSIX calls). Shared, stateless.
std::shared_ptr<file_system> posix_file_system();

/// Reads a whole (small) file into a string.
result<std::string> read_whole_file(file_system& fs, const std::string& path);

/// Replaces `path` atomically with `contents`: write `path`.tmp, sync it,
/// rename over `path`, sync the directory.
result<void> write_file_atomically(file_system& fs, const std::string& path, std::string_view contents);

}  // namespace rill
