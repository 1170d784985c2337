// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Strong types for the identities Kinesis deals in, so that the compiler refuses
// to mix them: a 128-bit hash key, a shard id, a sequence number. At the API
// edge (requests) these travel as the decimal or `shardId-…` strings AWS uses;
// results hand back these types, each with `to_string()` giving the AWS text.
//
// Thread safety: all are immutable value types.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace rill {

/// Time on the engine's clock: milliseconds since the Unix epoch, the precision
/// Kinesis reports (ApproximateArrivalTimestamp, StreamCreationTimestamp).
using duration = std::chrono::milliseconds;
using timestamp = std::chrono::sys_time<duration>;

/// An unsigned 128-bit hash key in [0, 2^128 - 1]: the MD5 of a partition key
/// read as a big-endian integer, or an ExplicitHashKey.
class hash_key {
 public:
  using value_type = unsigned __int128;

  constexpr hash_key() = default;
  constexpr explicit hash_key(value_type v) : value_(v) {}
  static constexpr hash_key max() { return hash_key(~value_type{0}); }

  /// Parses a decimal string matching `0|([1-9]\d{0,38})` whose value is at most
  /// 2^128 - 1. Returns nullopt otherwise (leading zeros, signs and spaces are refused).
  static std::optional<hash_key> parse(std::string_view decimal) noexcept;
  /// MD5 of the bytes of `partition_key`, big-endian: how Kinesis routes a record.
  static hash_key of_partition_key(std::string_view partition_key) noexcept;

  [[nodiscard]] constexpr value_type value() const noexcept { return value_; }
  /// Decimal text, as in HashKeyRange.
  [[nodiscard]] std::string to_string() const;

  friend constexpr auto operator<=>(hash_key, hash_key) = default;

 private:
  value_type value_ = 0;
};

std::ostream& operator<<(std::ostream& out, hash_key k);

/// A shard's identity within its stream: `shardId-` and a 12-digit index.
/// Indexes are assigned in order and never reused within a stream.
class shard_id {
 public:
  constexpr shard_id() = default;
  constexpr explicit shard_id(std::uint32_t index) : index_(index) {}

  /// Parses an input ShardId the way Kinesis does: the digits after the first '-'
  /// (or the whole text), in 0..2147483647. "shardId-000000000003", "shardId-3"
  /// and "3" all name shard 3. Returns nullopt when that fails.
  static std::optional<shard_id> parse(std::string_view text) noexcept;

  [[nodiscard]] constexpr std::uint32_t index() const noexcept { return index_; }
  /// "shardId-000000000003".
  [[nodiscard]] std::string to_string() const;

  friend constexpr auto operator<=>(shard_id, shard_id) = default;

 private:
  std::uint32_t index_ = 0;
};

std::ostream& operator<<(std::ostream& out, shard_id id);

/// A record's sequence number, in the layout AWS issues (and kinesalite copies):
/// 47 hex digits, printed as a 56-digit decimal number.
///
///   hex  0     1..9          10          11..26      27..28  29..37      38..45     46
///        2 | shard create s | index&0xF | seq index | 00   | seq time s | index   | 2
///
/// The shard's creation second and index are inside, so a number used against
/// the wrong shard or stream is detected. Within a shard, numbers order by
/// (seq index, seq time); children are created after their parents close, so
/// their numbers exceed every number of their parents. Compare numbers only within
/// one shard: across shards the order has no meaning.
class sequence_number {
 public:
  /// The largest seq index: used in a closed shard's EndingSequenceNumber.
  static constexpr std::uint64_t max_index = 0x7fff'ffff'ffff'ffffULL;
  /// Largest shard creation time (seconds) the layout accepts.
  static constexpr std::uint64_t max_create_seconds = 16'025'175'000ULL - 1;

  constexpr sequence_number() = default;
  constexpr sequence_number(std::uint64_t shard_create_seconds, std::uint32_t shard_index, std::uint64_t seq_index,
                            std::uint64_t seq_time_seconds)
      : create_s_(shard_create_seconds), time_s_(seq_time_seconds), index_(seq_index), shard_(shard_index) {}

  /// Parses a decimal sequence number (`0|([1-9]\d{0,128})`) in the layout above.
  /// Returns nullopt if the text or the layout is invalid.
  static std::optional<sequence_number> parse(std::string_view decimal) noexcept;

  [[nodiscard]] constexpr std::uint64_t shard_create_seconds() const noexcept { return create_s_; }
  [[nodiscard]] constexpr shard_id shard() const noexcept { return shard_id(shard_); }
  [[nodiscard]] constexpr std::uint64_t seq_index() const noexcept { return index_; }
  [[nodiscard]] constexpr std::uint64_t seq_time_seconds() const noexcept { return time_s_; }

  /// The 56-digit decimal text.
  [[nodiscard]] std::string to_string() const;

  friend constexpr bool operator==(const sequence_number&, const sequence_number&) = default;
  /// Numeric order of the encoded values.
  friend constexpr std::strong_ordering operator<=>(const sequence_number& a, const sequence_number& b) noexcept {
    if (auto c = a.create_s_ <=> b.create_s_; c != 0) return c;
    if (auto c = (a.shard_ & 0xF) <=> (b.shard_ & 0xF); c != 0) return c;
    if (auto c = a.index_ <=> b.index_; c != 0) return c;
    if (auto c = a.time_s_ <=> b.time_s_; c != 0) return c;
    return a.shard_ <=> b.shard_;
  }

 private:
  std::uint64_t create_s_ = 0;
  std::uint64_t time_s_ = 0;
  std::uint64_t index_ = 0;
  std::uint32_t shard_ = 0;
};

std::ostream& operator<<(std::ostream& out, const sequence_number& s);

enum class stream_status : std::uint8_t { creating, deleting, active, updating };
enum class stream_mode : std::uint8_t { provisioned, on_demand };
enum class shard_iterator_type : std::uint8_t {
  at_sequence_number,
  after_sequence_number,
  trim_horizon,
  latest,
  at_timestamp,
};
enum class shard_filter_type : std::uint8_t {
  after_shard_id,
  at_trim_horizon,
  from_trim_horizon,
  at_latest,
  at_timestamp,
  from_timestamp,
};
enum class encryption_type : std::uint8_t { none, kms };
enum class scaling_type : std::uint8_t { uniform_scaling };

/// AWS spellings: "ACTIVE", "ON_DEMAND", "TRIM_HORIZON", "NONE", "UNIFORM_SCALING", …
std::string_view to_string(stream_status v) noexcept;
std::string_view to_string(stream_mode v) noexcept;
std::string_view to_string(shard_iterator_type v) noexcept;
std::string_view to_string(shard_filter_type v) noexcept;
std::string_view to_string(encryption_type v) noexcept;
std::string_view to_string(scaling_type v) noexcept;
std::ostream& operator<<(std::ostream& out, stream_status v);
std::ostream& operator<<(std::ostream& out, stream_mode v);
std::ostream& operator<<(std::ostream& out, shard_iterator_type v);

}  // namespace rill
