// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A durable engine's control-plane state on disk: the manifest (see
// storage/manifest.hpp) and the advisory lock of the data folder. The engine
// calls save() at every point where a stream's control state changes (with the
// stream's lock held, so the manifest is on disk before a put can reach a new
// shard) and erase() when a stream goes (before its files are removed).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "rill/file_system.hpp"
#include "storage/manifest.hpp"

namespace rill::detail {

struct stream_state;

class persistence {
 public:
  /// Locks `dir`/LOCK and reads `dir`/MANIFEST (absent: an empty state).
  static result<std::unique_ptr<persistence>> open(std::shared_ptr<file_system> fs, std::string dir);

  /// What the manifest held at open.
  [[nodiscard]] const manifest::state& loaded() const noexcept { return loaded_; }

  /// Records a stream's current control state and rewrites the manifest.
  /// Caller holds s.mu (shared or exclusive). Ignored for an erased stream.
  /// On error (InternalFailure) nothing changes: the manifest keeps the
  /// stream's last durable state (see durable()).
  result<void> save(const stream_state& s);
  /// Forgets a stream and rewrites the manifest; on error it stays.
  result<void> erase(std::uint64_t uid);
  /// The stream's state as the manifest on disk holds it (nullopt: never
  /// written, or erased).
  [[nodiscard]] std::optional<manifest::stream> durable(std::uint64_t uid);

  /// The manifest's path (for messages).
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  persistence(std::shared_ptr<file_system> fs, std::string path, std::unique_ptr<file_lock> lock)
      : fs_(std::move(fs)), path_(std::move(path)), lock_(std::move(lock)) {}
  result<void> write_locked();
  void rollback_locked(std::map<std::uint64_t, manifest::stream> before, std::uint64_t next_uid);

  std::shared_ptr<file_system> fs_;
  std::string path_;
  std::unique_ptr<file_lock> lock_;
  manifest::state loaded_;
  std::mutex mu_;
  std::map<std::uint64_t, manifest::stream> streams_;  // by uid; guarded by mu_
  std::set<std::uint64_t> erased_;                     // guarded by mu_
  std::uint64_t next_uid_ = 1;                         // guarded by mu_
};

/// A stream's control state as the manifest stores it. Caller holds s.mu.
manifest::stream to_manifest(const stream_state& s);

}  // namespace rill::detail
