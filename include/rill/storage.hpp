// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Where a shard keeps its records. The engine owns one `shard_log` per shard and
// asks a `storage` to make them; swapping the storage (memory now, files next)
// changes nothing else.
//
// A shard log is an append-only sequence of records addressed by offset
// (0, 1, 2, … in append order; offsets are never reused). Each record holds
// its partition key, its data and its arrival time. The engine derives sequence
// numbers from offsets (seq index = offset + 1), so a log stores no per-record
// sequence number.
//
// Arrival times never decrease along a log (the engine guarantees it), which
// makes `offset_at_or_after` a binary search and `trim_before` a prefix cut.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "rill/error.hpp"
#include "rill/types.hpp"

namespace rill {

/// A record to append.
struct log_entry {
  std::string_view partition_key{};
  std::string_view data{};
};

/// A stored record as a reader sees it. The views are valid only during the
/// visitor call that receives them. A log may store the key and the data of a
/// record next to each other (key first); readers may rely on that only after
/// checking `partition_key.data() + partition_key.size() == data.data()`.
struct log_record {
  std::uint64_t offset = 0;
  timestamp arrival{};
  std::string_view partition_key{};
  std::string_view data{};
};

/// What a read returned.
struct log_read_stats {
  std::size_t records = 0;
  std::size_t bytes = 0;  // partition keys plus data
  /// Offset after the last record visited (the next offset to read).
  std::uint64_t next_offset = 0;
};

/// One shard's records.
///
/// Thread safety: a log is not internally synchronized. The engine calls
/// `append`, `trim_before` and `close` under an exclusive lock of the shard and
/// everything else under a shared lock, so any number of reads may run
/// concurrently with each other, never with a mutation.
class shard_log {
 public:
  virtual ~shard_log() = default;

  /// Appends `entries` in order, all with arrival time `arrival` (≥ every earlier
  /// arrival). Returns the offset of the first. On error nothing is appended.
  [[nodiscard]] virtual result<std::uint64_t> append(std::span<const log_entry> entries, timestamp arrival) = 0;

  /// Visits records from offset `from` (clamped to start_offset()) in order,
  /// in batches of one or more, stopping before the one that would exceed
  /// `max_records` or `max_bytes`; the first record is always visited even if
  /// it alone exceeds `max_bytes`.
  virtual log_read_stats read(std::uint64_t from, std::size_t max_records, std::size_t max_bytes,
                              const std::function<void(std::span<const log_record>)>& visit) const = 0;

  /// The first offset still stored (all earlier ones were trimmed).
  [[nodiscard]] virtual std::uint64_t start_offset() const noexcept = 0;
  /// One past the last offset appended.
  [[nodiscard]] virtual std::uint64_t end_offset() const noexcept = 0;
  /// Arrival time of a stored offset. Precondition: start ≤ offset < end.
  [[nodiscard]] virtual timestamp arrival_time(std::uint64_t offset) const = 0;
  /// The first stored offset whose arrival is ≥ t, or end_offset() if none.
  [[nodiscard]] virtual std::uint64_t offset_at_or_after(timestamp t) const = 0;

  /// Drops every record whose arrival is < cutoff and releases its memory where
  /// the layout allows. Returns the new start offset.
  virtual std::uint64_t trim_before(timestamp cutoff) = 0;

  /// Bytes of memory the log holds (for reports and tests).
  [[nodiscard]] virtual std::size_t memory_bytes() const noexcept = 0;
};

/// Identifies a shard log to its storage.
struct shard_log_key {
  std::string stream_name{};
  std::uint64_t stream_uid = 0;  // tells apart two streams that reused a name
  shard_id shard{};
};

/// Makes and removes shard logs.
///
/// Thread safety: may be called from any thread concurrently.
class storage {
 public:
  virtual ~storage() = default;
  /// A new, empty log for a shard.
  [[nodiscard]] virtual result<std::unique_ptr<shard_log>> create_log(const shard_log_key& key) = 0;
  /// Called when a shard's log is dropped for good (stream deleted, shard expired).
  virtual void remove_log(const shard_log_key& key) = 0;
};

struct memory_storage_options {
  /// Records are packed into segments; a shard's first segment has
  /// `first_segment_bytes`, each next one twice the last when the last filled
  /// up, up to `segment_bytes` (a larger record gets a segment of its own). A
  /// shard whose segments all expired starts small again. Trimming releases
  /// whole segments, so a quiet shard holds about first_segment_bytes.
  std::size_t first_segment_bytes = 4 << 10;
  std::size_t segment_bytes = 1 << 20;
  /// Full-size segments released by trimming or by dropped shards are kept
  /// for reuse up to this many bytes (then freed), so a stream whose old
  /// records expire as new ones arrive reuses memory instead of faulting in
  /// new pages.
  std::size_t pool_bytes = 64 << 20;
  /// Full-size segments kept ready ahead of need, allocated and with their
  /// pages already faulted in by a helper thread of the storage, so that a
  /// writer on a fresh (growing) engine does not pay for page provisioning.
  /// The helper starts when the storage first uses a full-size segment (a
  /// small engine never starts it) and holds at most this many segments
  /// unused. 0: no helper; writers fault in their own pages.
  std::size_t prefault_segments = 4;
};

/// Storage in process memory: records packed into segments, no per-record
/// allocation. Nothing survives the process.
std::shared_ptr<storage> make_memory_storage(memory_storage_options options = {});

}  // namespace rill
