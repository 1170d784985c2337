// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The manifest: an engine's control-plane state on disk (streams, shards and
// their lineage, statuses, retention, tags, mode, throughput, encryption).
// It is small and changes only on control-plane calls, so it is rewritten
// whole and replaced atomically (write MANIFEST.tmp, fsync, rename, fsync the
// folder) on every change; see docs/storage-format.md for the bytes:
//
//   "RILLMAN1" | u32 body length | u32 CRC32C of the body | body (JSON)
//
// decode_manifest treats its input as untrusted: any damage is an error
// naming the file, never a partial state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rill/error.hpp"

namespace rill::manifest {

struct shard {
  std::uint32_t index = 0;
  std::string starting_hash_key{};  // decimal
  std::string ending_hash_key{};
  std::optional<std::uint32_t> parent{};
  std::optional<std::uint32_t> adjacent_parent{};
  std::uint64_t create_s = 0;
  std::int64_t created_at_ms = 0;
  bool closed = false;
  std::int64_t closed_at_ms = 0;
  std::uint64_t close_offset = 0;
  std::vector<std::uint32_t> children{};
  friend bool operator==(const shard&, const shard&) = default;
};

struct stream {
  std::uint64_t uid = 0;
  std::string name{};
  std::int64_t created_ms = 0;
  std::string status{};  // ACTIVE, UPDATING, CREATING, DELETING
  std::string mode{};    // PROVISIONED, ON_DEMAND
  std::int32_t retention_hours = 24;
  std::map<std::string, std::string> tags{};
  std::vector<std::string> shard_level_metrics{};
  /// The stream's per-shard limits, by field name of rill::throughput_limits.
  std::map<std::string, std::int64_t> throughput{};
  std::string encryption_type = "NONE";  // NONE, KMS
  std::optional<std::string> key_id{};
  std::uint32_t next_index = 0;
  std::int32_t initial_shards = 0;
  std::optional<std::int64_t> activated_ms{};
  /// Everything that arrived (or closed) at or before this time has expired for good.
  std::optional<std::int64_t> expired_through_ms{};
  /// MaxRecordSizeInKiB (written only when not 1024) and the resource policy (when set).
  std::int32_t max_record_size_kib = 1024;
  std::optional<std::string> resource_policy{};
  std::vector<shard> shards{};  // live (not yet released) shards, by index
  friend bool operator==(const stream&, const stream&) = default;
};

struct state {
  std::uint64_t next_uid = 1;
  std::vector<stream> streams{};
  friend bool operator==(const state&, const state&) = default;
};

/// The file's bytes.
std::string encode(const state& s);
/// Parses the file's bytes; errors are InternalFailure naming `path`.
result<state> decode(std::string_view bytes, const std::string& path);

}  // namespace rill::manifest
