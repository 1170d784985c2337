// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The KCL lease table: one lease per shard, saying which worker processes the
// shard and how far it got. The attribute names, the conditions and the
// updates are those of the KCL's DynamoDB lease table (DynamoDBLeaseRefresher):
// every successful write increments `leaseCounter`, and every write but create
// and delete is conditional on what the writer last saw, so a worker that lost
// a lease cannot overwrite the new owner's state. A write whose condition does
// not hold changes nothing and returns `write_status::condition_failed`
// (DynamoDB's ConditionalCheckFailedException); a failure of the store itself
// (disk, I/O) is an error (InternalFailure).
//
// Two stores ship: in memory (one process), and file-backed (a directory, one
// file per lease; survives restarts; safe for any number of workers in one
// process and in several processes on one machine: see make_file_lease_store).
// Another backend (DynamoDB, a database) implements `lease_store`.
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rill/error.hpp"
#include "rill/file_system.hpp"

namespace rill::kcl {

/// A position within a shard: a sequence number and the index of a user record
/// inside a KPL aggregate (0 for a plain record), or one of the sentinels
/// TRIM_HORIZON, LATEST, AT_TIMESTAMP, SHARD_END (KCL ExtendedSequenceNumber).
///
/// Ordering (the KCL's): AT_TIMESTAMP < TRIM_HORIZON < LATEST < every sequence
/// number (numerically) < SHARD_END; ties broken by the sub-sequence number.
/// Thread safety: a plain value type.
struct extended_sequence_number {
  /// Decimal sequence number, or a sentinel name.
  std::string sequence_number{};
  std::int64_t sub_sequence_number = 0;

  static extended_sequence_number trim_horizon() { return {"TRIM_HORIZON", 0}; }
  static extended_sequence_number latest() { return {"LATEST", 0}; }
  static extended_sequence_number at_timestamp() { return {"AT_TIMESTAMP", 0}; }
  static extended_sequence_number shard_end() { return {"SHARD_END", 0}; }

  /// True for the four sentinels.
  [[nodiscard]] bool is_sentinel() const noexcept;
  [[nodiscard]] bool is_shard_end() const noexcept { return sequence_number == "SHARD_END"; }
  /// True for a sentinel or a decimal number without leading zeros (the forms the KCL accepts).
  [[nodiscard]] bool valid() const noexcept;
  /// "seq" or "seq.sub" for logs.
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const extended_sequence_number&, const extended_sequence_number&) = default;
  friend std::strong_ordering operator<=>(const extended_sequence_number& a,
                                          const extended_sequence_number& b) noexcept;
};

/// One item of the lease table. Member names are the snake_case of the DynamoDB
/// attribute names, which the file store writes verbatim (`leaseKey`,
/// `leaseOwner`, `leaseCounter`, `checkpoint`, `checkpointSubSequenceNumber`,
/// `pendingCheckpoint`, `pendingCheckpointSubSequenceNumber`,
/// `pendingCheckpointState`, `ownerSwitchesSinceCheckpoint`, `parentShardId`,
/// `childShardIds`, `startingHashKey`, `endingHashKey`, `checkpointOwner`,
/// `throughputKBps`).
struct lease {
  /// The shard id (single-stream applications).
  std::string lease_key{};
  /// The worker holding the lease; absent: unassigned.
  std::optional<std::string> lease_owner{};
  /// Incremented by every successful write: the fencing token.
  std::int64_t lease_counter = 0;
  /// checkpoint + checkpointSubSequenceNumber.
  extended_sequence_number checkpoint{};
  /// A prepared (two-phase) checkpoint; cleared when a checkpoint is written.
  std::optional<extended_sequence_number> pending_checkpoint{};
  /// Application state saved with the prepared checkpoint.
  std::optional<std::string> pending_checkpoint_state{};
  /// +1 on each change of owner, 0 after each checkpoint.
  std::int64_t owner_switches_since_checkpoint = 0;
  /// One parent after a split, two after a merge, none for an original shard.
  std::vector<std::string> parent_shard_ids{};
  /// Set when the shard reached its end.
  std::vector<std::string> child_shard_ids{};
  /// The shard's hash range, decimal.
  std::string starting_hash_key{};
  std::string ending_hash_key{};
  /// KCL 3.x graceful handoff: the previous owner, still finishing, while
  /// lease_owner already names the next owner.
  std::optional<std::string> checkpoint_owner{};
  /// KCL 3.x: exponential moving average (alpha 0.5) of the KB/s delivered.
  double throughput_kbps = 0;

  friend bool operator==(const lease&, const lease&) = default;
};

/// The outcome of a conditional write.
enum class write_status : std::uint8_t {
  /// The write happened; the caller's copy was updated to what was written.
  applied,
  /// The item did not match the expectation (ConditionalCheckFailedException):
  /// nothing was written and the caller's copy is unchanged.
  condition_failed,
};

/// The lease table.
///
/// Conditions and updates (all writes but create and delete increment
/// leaseCounter by one; on `applied` the argument is updated to the item as
/// written, so the caller can keep using it as its expectation):
///
/// | call                       | condition                                       | update |
/// |----------------------------|-------------------------------------------------|--------|
/// | create_lease_if_not_exists | leaseKey absent                                 | put the item (counter as given) |
/// | renew_lease                | leaseCounter == local, leaseOwner == local, checkpointOwner absent | throughputKBps |
/// | take_lease(owner)          | leaseCounter == local                           | leaseOwner = owner, DELETE
/// checkpointOwner, ownerSwitches += 1 if the owner changed | | initiate_handoff(next)     | leaseCounter == local,
/// leaseOwner == local, checkpointOwner absent | checkpointOwner = old owner, leaseOwner = next, ownerSwitches += 1 |
/// | evict_lease(worker)        | checkpointOwner == worker, or leaseOwner == worker | DELETE checkpointOwner if it is
/// the worker (the handoff completes, leaseOwner stays), else DELETE leaseOwner | | update_lease (checkpoint)  |
/// leaseCounter == local and (leaseOwner or checkpointOwner) == local owner | checkpoint, checkpointSubSequenceNumber,
/// pendingCheckpoint*, ownerSwitches, childShardIds, hash range | | delete_lease               | none | remove the item
/// |
///
/// Thread safety: every method may be called from any thread concurrently;
/// each write is atomic with respect to every other writer of the same table.
/// Errors: InternalFailure when the store itself fails (nothing changed then,
/// or, for the file store, the item is either wholly old or wholly new).
class lease_store {
 public:
  virtual ~lease_store() = default;

  /// Puts `l` if no lease has its key. Returns condition_failed if one does.
  [[nodiscard]] virtual result<write_status> create_lease_if_not_exists(const lease& l) = 0;
  /// The lease, or nullopt if absent.
  [[nodiscard]] virtual result<std::optional<lease>> get_lease(std::string_view lease_key) = 0;
  /// Every lease, by key.
  [[nodiscard]] virtual result<std::vector<lease>> list_leases() = 0;
  /// As list_leases, into `out` (its contents replaced). A store may reuse
  /// `out`'s storage (the in-memory one copy-assigns into it), so a caller that
  /// scans the table on every taker run does not reallocate it each time. On
  /// error `out` is unspecified. The default calls list_leases.
  [[nodiscard]] virtual result<void> scan_leases(std::vector<lease>& out) {
    auto all = list_leases();
    if (!all) return all.error();
    out = std::move(*all);
    return {};
  }
  /// Renews `local` (its counter, owner and throughput).
  [[nodiscard]] virtual result<write_status> renew_lease(lease& local) = 0;
  /// Takes `local` for `owner` (a new or expired lease, a steal, a forced handoff).
  [[nodiscard]] virtual result<write_status> take_lease(lease& local, std::string_view owner) = 0;
  /// Starts a graceful handoff of `local` from its owner to `next_owner`.
  [[nodiscard]] virtual result<write_status> initiate_handoff(lease& local, std::string_view next_owner) = 0;
  /// Gives up `local` for `worker`: completes a handoff if `worker` is the
  /// checkpoint owner, else releases the lease if `worker` is its owner.
  [[nodiscard]] virtual result<write_status> evict_lease(lease& local, std::string_view worker) = 0;
  /// Writes the checkpoint fields, child shard ids and hash range of `local`;
  /// `writer` is the worker writing (the lease's owner, or its checkpoint owner during a handoff).
  [[nodiscard]] virtual result<write_status> update_lease(lease& local, std::string_view writer) = 0;
  /// Removes the lease (unconditional, as DeleteItem). Absent is not an error.
  [[nodiscard]] virtual result<void> delete_lease(std::string_view lease_key) = 0;
};

/// A lease table in memory, shared by every worker given the same pointer.
std::shared_ptr<lease_store> make_memory_lease_store();

struct file_lease_store_options {
  /// fdatasync each lease file and the directory on every write. Off: a power
  /// cut may lose the latest writes (never tear a lease), a process crash loses nothing.
  bool sync = true;
  /// The file system every file goes through (default: rill::posix_file_system()).
  /// It must implement file_system::lock_file_waiting.
  std::shared_ptr<rill::file_system> file_system{};
};

/// A lease table in `directory` (created if absent): one file per lease,
/// `<escaped leaseKey>.lease`, holding the item as JSON with the DynamoDB
/// attribute names, and a `LOCK` file. Every operation holds an flock(2) on
/// `LOCK` (shared to read, exclusive to write) for its read-check-write, and
/// replaces a lease file only by atomic rename, so writers in one or several
/// processes serialize and a reader never sees a torn lease. See docs/consumer.md.
/// Errors: InternalFailure if the directory cannot be created.
result<std::shared_ptr<lease_store>> make_file_lease_store(const std::string& directory,
                                                           file_lease_store_options options = {});

}  // namespace rill::kcl
