// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The engine's internal state. See docs/architecture.md for the picture.
//
// Locks, always taken in this order (never the reverse):
//   1. impl::control_mu   serializes control-plane mutations (create, delete,
//                          reshard, retention, tags, mode) and the scheduler's
//                          status transitions. Never taken on the data path.
//   2. impl::streams_mu   guards the name -> stream map.
//   3. stream_state::mu   guards a stream's metadata and shard topology. Writers
//                          and readers of records take it shared; resharding
//                          takes it exclusive, so it waits for in-flight puts.
//   4. shard_state::mu    guards one shard's log: appends and trims exclusive,
//                          reads shared. Puts to different shards never share it.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "rill/engine.hpp"
#include "messages.hpp"
#include "shared_mutex.hpp"
#include "token.hpp"

namespace rill::detail {

struct shard_state {
  shard_state(rill::shard_id id, hash_key start, hash_key end, std::optional<rill::shard_id> parent,
              std::optional<rill::shard_id> adjacent_parent, std::uint64_t create_s, timestamp created_at,
              std::unique_ptr<shard_log> log)
      : id(id),
        start(start),
        end(end),
        parent(parent),
        adjacent_parent(adjacent_parent),
        create_s(create_s),
        created_at(created_at),
        log(std::move(log)) {}

  const rill::shard_id id;
  const hash_key start;
  const hash_key end;
  const std::optional<rill::shard_id> parent;
  const std::optional<rill::shard_id> adjacent_parent;
  /// Creation second encoded in the shard's sequence numbers.
  const std::uint64_t create_s;
  /// When the shard opened.
  const timestamp created_at;

  mutable shared_mutex mu;
  std::unique_ptr<shard_log> log;  // guarded by mu
  timestamp last_arrival{};        // guarded by mu; arrivals never go back

  // Set once, when the shard closes, under both the stream lock and mu (exclusive).
  bool closed = false;
  timestamp closed_at{};
  std::uint64_t close_offset = 0;        // end offset at close
  std::vector<rill::shard_id> children;  // filled at close

  [[nodiscard]] sequence_number starting_sequence_number() const {
    return {create_s, id.index(), 0, create_s};
  }
  [[nodiscard]] sequence_number ending_sequence_number() const {
    return {create_s, id.index(), sequence_number::max_index,
            static_cast<std::uint64_t>(std::chrono::floor<std::chrono::seconds>(closed_at).time_since_epoch().count())};
  }
  [[nodiscard]] sequence_number record_sequence_number(std::uint64_t offset, timestamp arrival) const {
    return {create_s, id.index(), offset + 1,
            static_cast<std::uint64_t>(std::chrono::floor<std::chrono::seconds>(arrival).time_since_epoch().count())};
  }
  [[nodiscard]] rill::hash_key_range range() const { return {start, end}; }
  /// Closed and past retention: gone from listings and reads.
  [[nodiscard]] bool expired(timestamp now, duration retention) const {
    return closed && closed_at + retention <= now;
  }
};

struct stream_state {
  std::uint64_t uid = 0;
  std::string name;
  std::string arn;
  timestamp created{};

  mutable shared_mutex mu;
  // Everything below is guarded by mu.
  stream_status status = stream_status::creating;
  stream_mode mode = stream_mode::provisioned;
  std::int32_t retention_hours = 24;
  std::map<std::string, std::string> tags;
  std::set<std::string> shard_level_metrics;
  encryption_type encryption = encryption_type::none;
  std::optional<std::string> key_id;
  /// Shards by index; null once expired and released.
  std::vector<std::shared_ptr<shard_state>> shards;
  /// Open shards sorted by starting hash key: they tile [0, 2^128 - 1].
  std::vector<shard_state*> open;
  std::uint32_t next_index = 0;
  /// Shards asked for at creation (attached when the stream turns ACTIVE).
  std::int32_t initial_shards = 0;
  /// When the first shards opened (the stream turned ACTIVE).
  std::optional<timestamp> activated_at;
  /// Work to do when an UPDATING period ends (an accepted reshard or mode switch).
  std::function<void()> on_updated;

  [[nodiscard]] duration retention() const { return std::chrono::hours(retention_hours); }
  [[nodiscard]] where at(std::string_view account) const { return {name, account}; }
};

}  // namespace rill::detail

namespace rill {

struct engine::impl {
  explicit impl(engine_options o);

  engine_options opt;
  std::shared_ptr<rill::clock> clock;
  std::shared_ptr<rill::storage> storage;
  detail::token_codec tokens;

  std::mutex control_mu;
  mutable detail::shared_mutex streams_mu;
  std::map<std::string, std::shared_ptr<detail::stream_state>, std::less<>> streams;  // guarded by streams_mu
  std::uint64_t next_uid = 1;                                                          // guarded by control_mu

  std::unique_ptr<scheduler> sched;  // shut down first in ~engine

  [[nodiscard]] timestamp now() const { return clock->now(); }
  [[nodiscard]] detail::where at(std::string_view stream) const { return {stream, opt.account_id}; }
  [[nodiscard]] std::string arn_of(std::string_view name) const;

  /// Validates stream_name / stream_arn and returns the stream name they name.
  result<std::string> resolve(const std::optional<std::string>& name, const std::optional<std::string>& arn) const;
  /// The stream, or ResourceNotFoundException.
  result<std::shared_ptr<detail::stream_state>> find(std::string_view name) const;
  /// resolve() then find().
  result<std::shared_ptr<detail::stream_state>> lookup(const std::optional<std::string>& name,
                                                       const std::optional<std::string>& arn) const;

  /// Open shards across all streams. Caller holds control_mu.
  std::int64_t open_shard_total() const;
  /// Creates the initial shards of a stream and makes it ACTIVE. Caller holds
  /// control_mu and s.mu exclusive.
  void activate(detail::stream_state& s);
  /// Appends a new open shard. Caller holds s.mu exclusive.
  detail::shard_state* add_shard(detail::stream_state& s, hash_key start, hash_key end,
                                 std::optional<shard_id> parent, std::optional<shard_id> adjacent,
                                 std::uint64_t create_s, timestamp now);
  /// Closes `parent`s and opens children; the reshard primitive. Caller holds s.mu exclusive.
  void split(detail::stream_state& s, detail::shard_state& parent, hash_key at, timestamp now);
  void merge(detail::stream_state& s, detail::shard_state& lower, detail::shard_state& upper, timestamp now);
  void close_shard(detail::shard_state& shard, timestamp now);
  void rebuild_open(detail::stream_state& s);
  /// Runs `change` now (no delay) or after update_stream_delay with the stream
  /// UPDATING meanwhile. Caller holds control_mu and s.mu exclusive.
  void begin_update(const std::shared_ptr<detail::stream_state>& s, std::function<void()> change);
  /// Removes a stream. Caller holds control_mu.
  void remove_stream(const std::shared_ptr<detail::stream_state>& s);

  result<enhanced_monitoring_result> change_monitoring(const enhanced_monitoring_request& req, bool enable);

  /// Releases expired records and shards everywhere.
  void trim_expired();
  void schedule_trim();

  // Tokens.
  std::string make_iterator(const detail::stream_state& s, shard_id shard, std::uint64_t position,
                            timestamp now) const;
};

}  // namespace rill
