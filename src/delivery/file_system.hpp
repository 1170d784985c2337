// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The file system delivery streams write objects and checkpoints through (the
// LevelDB Env model): a small interface, a POSIX implementation, and the atomic
// write every object goes through (temporary file, fsync, rename, fsync of the
// directory). Tests substitute an implementation that fails on demand.
//
// This is the delivery component's own interface until a shared
// include/rill/file_system.hpp lands; it is deliberately small so that an
// adapter to that one is a few lines.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "rill/error.hpp"

namespace rill::delivery {

/// A file open for appending. Not thread-safe.
class writable_file {
 public:
  virtual ~writable_file() = default;
  virtual result<void> append(std::string_view bytes) = 0;
  /// Makes the bytes durable (fsync).
  virtual result<void> sync() = 0;
  virtual result<void> close() = 0;
};

/// Thread safety: implementations are thread-safe. Errors are InternalFailure
/// values naming the path and the OS error.
class file_system {
 public:
  virtual ~file_system() = default;
  virtual result<void> create_directories(const std::filesystem::path& dir) = 0;
  /// Creates or truncates `path`.
  virtual result<std::unique_ptr<writable_file>> new_writable_file(const std::filesystem::path& path) = 0;
  /// Atomically replaces `to` with `from`.
  virtual result<void> rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  /// fsync of a directory, making a rename in it durable.
  virtual result<void> sync_directory(const std::filesystem::path& dir) = 0;
  virtual result<void> remove(const std::filesystem::path& path) = 0;
  /// The whole file; ResourceNotFoundException when it does not exist.
  virtual result<std::string> read_file(const std::filesystem::path& path) = 0;
};

/// The POSIX file system (open/write/fsync/rename).
std::shared_ptr<file_system> make_posix_file_system();

/// Writes `bytes` to `path` so that a reader sees all of it or nothing, and it
/// survives a crash once this returns: creates the parent directories, writes a
/// temporary file beside `path`, fsyncs it, renames it over `path`, fsyncs the
/// directory. On failure the temporary file is removed (best effort).
result<void> write_file_atomically(file_system& fs, const std::filesystem::path& path, std::string_view bytes);

}  // namespace rill::delivery
