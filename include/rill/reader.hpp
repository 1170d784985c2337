// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A reader of a whole stream that follows shard lineage: what every consumer of
// a resharded stream otherwise writes by hand. Written against `rill::kinesis`
// only, so it reads Amazon Kinesis as well as a `rill::engine`.
//
//   rill::stream_reader reader(kinesis, {.stream_name = "clicks"});
//   while (!reader.done()) {
//     auto batch = reader.next();             // one GetRecords call's records
//     if (!batch) { /* throttled? back off and call again */ continue; }
//     for (const rill::owned_record& r : batch->records) use(batch->shard_id, r);
//   }
//
// The rules (docs/consumer-guide.md explains them):
//   * Shards are found with ListShards (every page). A shard is read only once
//     each parent it names is done, so a key's records come in order across
//     splits and merges. A parent no longer listed (expired past the retention
//     period) counts as done.
//   * Shards without a readable parent start at `starting_position`; children
//     of parents the reader finished start at TRIM_HORIZON.
//   * A closed shard is done when GetRecords returns no next iterator; its
//     children (ChildShards, or a fresh listing) become candidates.
//   * An open shard under `stop_when_caught_up` is done the first time a call
//     returns no records with MillisBehindLatest 0; under `tail` it is never
//     done: next() keeps returning its new records (an empty batch when there is
//     nothing new; wait with clock::sleep_for between such calls).
//   * A shard that disappears while being read (expired, or the stream was
//     deleted and recreated) is done; an expired iterator is renewed after the
//     last record returned.
//
// Records come as `owned_record`s (they own their bytes), so a batch can be
// kept, moved and stored freely.
//
// Thread safety: one reader is used by one thread at a time; any number of
// readers may read the same stream concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rill/error.hpp"
#include "rill/kinesis.hpp"
#include "rill/types.hpp"

namespace rill {

struct stream_reader_options {
  /// The stream, by name or ARN (as in every request).
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  /// Where shards without a readable parent start: TRIM_HORIZON (default),
  /// LATEST (only records put after the reader first lists the shard; shards
  /// already closed then are skipped) or AT_TIMESTAMP (with `timestamp`).
  shard_iterator_type starting_position = shard_iterator_type::trim_horizon;
  std::optional<rill::timestamp> timestamp{};
  /// What an open shard that is caught up means: done, or keep reading it.
  enum class mode : std::uint8_t { stop_when_caught_up, tail };
  mode read_mode = mode::stop_when_caught_up;
  /// GetRecords Limit per call (1..10000).
  std::int32_t limit = 10'000;
  /// ListShards MaxResults per page (absent: the service's default, 1000).
  std::optional<std::int32_t> list_shards_max_results{};
};

/// The records of one GetRecords call, owned.
struct reader_batch {
  rill::shard_id shard_id{};
  std::vector<owned_record> records{};
  /// As GetRecords returned it for this call.
  std::int64_t millis_behind_latest = 0;
  /// True if this call finished the shard (its end, or caught up under stop_when_caught_up).
  bool shard_done = false;
};

class stream_reader {
 public:
  /// Does not call the service; the first next() lists the shards.
  stream_reader(kinesis& client, stream_reader_options options);

  /// One GetRecords call on the next shard that is ready (round robin among
  /// them), after listing shards when needed. An empty batch with
  /// shard_done == false means that shard had nothing new (tail mode). Errors:
  /// whatever ListShards, GetShardIterator or GetRecords return other than the
  /// ones handled above (e.g. ProvisionedThroughputExceededException: call
  /// next() again later, nothing is lost or skipped). After done(): an empty batch.
  result<reader_batch> next();

  /// True once every shard is done (never under tail mode while the stream has
  /// open shards). False before the first next().
  [[nodiscard]] bool done() const noexcept;

  /// Calls next() until done() (stop_when_caught_up only; under tail mode it
  /// returns InvalidArgumentException) and returns every record, each shard's
  /// records in order, parents' before children's.
  result<std::vector<owned_record>> read_all();

  /// Shards finished so far, and the number of GetRecords calls made.
  [[nodiscard]] const std::set<shard_id>& finished_shards() const noexcept { return done_; }
  [[nodiscard]] std::int64_t get_records_calls() const noexcept { return calls_; }

 private:
  struct shard_state {
    rill::shard info{};
    std::optional<std::string> iterator{};
    std::optional<std::string> last_sequence_number{};
    bool started = false;
  };

  result<void> refresh();
  bool ready(const shard_state& s) const;
  result<std::string> start_iterator(shard_state& s);
  void finish(shard_id id);

  kinesis& client_;
  stream_reader_options options_;
  std::map<shard_id, shard_state> shards_;  // listed, not yet done
  std::set<shard_id> done_;
  std::set<shard_id> skipped_;  // LATEST: closed when first listed, never read
  bool listed_ = false;
  bool needs_listing_ = true;
  std::optional<shard_id> cursor_;  // the last shard read, for round robin
  std::int64_t calls_ = 0;
};

}  // namespace rill
