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

#include <optional>
#include <vector>

#include "rill/clock.hpp"
#include "rill/encryption.hpp"
#include "rill/error.hpp"
#include "rill/file_system.hpp"
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
  /// Whether the record was stored encrypted (see shard_log::set_encryption).
  bool encrypted = false;
};

/// What a read returned.
struct log_read_stats {
  std::size_t records = 0;
  std::size_t bytes = 0;  // partition keys plus data
  /// Offset after the last record visited (the next offset to read).
  std::uint64_t next_offset = 0;
  /// Set when the read stopped early at a record it could not return (an I/O
  /// error, a checksum mismatch, a key the key provider refused); the records
  /// before it were visited. A log never hands out a record that failed its
  /// checks.
  std::optional<rill::error> failure{};
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

  /// The sync point: makes the records before `end_offset` as durable as the
  /// storage's sync policy promises. Under `sync_policy::every_batch` it
  /// returns once they are on disk, and concurrent callers share one
  /// fdatasync (group commit); under the other policies (and in memory) it
  /// returns at once. Errors: InternalFailure (the sync failed; the records
  /// may not be durable).
  /// Thread safety: internally synchronized; call it WITHOUT the shard lock
  /// (it may run concurrently with append and read).
  [[nodiscard]] virtual result<void> sync(std::uint64_t end_offset) {
    (void)end_offset;
    return {};
  }

  /// Encryption at rest for the batches appended from now on: empty `key_id`
  /// turns it off. A log that stores bytes (the file log) seals each batch
  /// with AES-256-GCM under the key the storage's key_provider gives for
  /// `key_id`; the memory log only remembers which records were appended
  /// while it was on (log_record::encrypted). Called under the exclusive lock.
  virtual void set_encryption(std::string_view key_id) { (void)key_id; }
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

  /// The log a shard had before the process restarted, with every record it
  /// still stores (a durable storage recovers it from disk: torn tail cut,
  /// stale index rebuilt). A storage that keeps nothing across restarts
  /// returns a new, empty log. Errors: InternalFailure naming the file that
  /// could not be read or is corrupt beyond its tail.
  [[nodiscard]] virtual result<std::unique_ptr<shard_log>> open_log(const shard_log_key& key) {
    return create_log(key);
  }

  /// The shard logs the storage holds (for finding orphans after a crash).
  /// Empty for a storage that keeps nothing across restarts.
  [[nodiscard]] virtual std::vector<shard_log_key> list_logs() { return {}; }

  /// Whether records survive the process (a file storage) or not (memory).
  [[nodiscard]] virtual bool durable() const noexcept { return false; }
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
  /// unused. It runs at the lowest CPU priority (SCHED_IDLE on Linux): it uses
  /// CPU time nothing else wants, so on a busy machine it never delays a
  /// writer, a network thread or a subscriber; a writer that finds no segment
  /// ready (or the pool's lock taken) faults in its own pages instead of
  /// waiting. 0: no helper; writers fault in their own pages.
  std::size_t prefault_segments = 4;
};

/// Storage in process memory: records packed into segments, no per-record
/// allocation. Nothing survives the process.
std::shared_ptr<storage> make_memory_storage(memory_storage_options options = {});

/// When a file storage makes appended records durable.
enum class sync_policy : std::uint8_t {
  /// The operating system decides (records survive a process crash, not
  /// necessarily a power cut).
  none,
  /// Every `sync_interval` on the storage's clock, all logs with new records
  /// are synced: a power cut loses at most that much.
  interval,
  /// put_record / put_records return only after their records are on disk
  /// (group commit: concurrent writers of a shard share one fdatasync).
  every_batch,
};

/// A file storage: per shard, append-only segment files of checksummed record
/// batches under `directory` (see docs/storage-format.md).
struct file_storage_options {
  /// Root folder of the shard logs (created if missing).
  std::string directory{};
  /// Default: posix_file_system().
  std::shared_ptr<rill::file_system> file_system{};
  /// Drives interval syncs. Default: a system_clock.
  std::shared_ptr<rill::clock> clock{};
  rill::sync_policy sync = sync_policy::none;
  duration sync_interval{1000};
  /// A segment is sealed and a new one started when the next batch would take
  /// it past `segment_bytes`, or when its first record is older than
  /// `segment_age` (by arrival times). Retention deletes whole segments.
  std::size_t segment_bytes = 64u << 20;
  duration segment_age = std::chrono::hours(1);
  /// One sparse-index entry per this many bytes of a segment.
  std::size_t index_interval_bytes = 4096;
  /// Gives the data keys of encrypted batches. Without one, set_encryption()
  /// makes appends fail with KMSNotFoundException.
  std::shared_ptr<rill::key_provider> keys{};
};

/// Opens (or creates) a file storage. Errors: InternalFailure naming the
/// folder when it cannot be created or read.
result<std::shared_ptr<storage>> open_file_storage(file_storage_options options);

}  // namespace rill
