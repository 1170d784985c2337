// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The KPL aggregated-record format: many user records packed into one Kinesis
// record, byte for byte as the Kinesis Producer Library writes it, so that the
// KCL, aws-kinesis-agg and Lambda's deaggregators read what rill writes and rill
// reads what they write (docs/producer.md gives the layout byte by byte):
//
//   F3 89 9A C2 | protobuf AggregatedRecord (proto2) | MD5 of the protobuf bytes
//
//   message AggregatedRecord {
//     repeated string partition_key_table = 1;  repeated string explicit_hash_key_table = 2;
//     repeated Record records = 3; }
//   message Record {
//     required uint64 partition_key_index = 1;  optional uint64 explicit_hash_key_index = 2;
//     required bytes data = 3;  repeated Tag tags = 4; }
//   message Tag { required string key = 1; optional string value = 2; }
//
// Encoding: `aggregated_record_builder`. Decoding (for consumers):
// `deaggregate()`, which gives back user records with sub-sequence numbers and
// the parent's sequence number and arrival time. The codec is hand-written (no
// libprotobuf at run time); tests cross-check it against libprotobuf.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rill/kinesis.hpp"
#include "rill/types.hpp"

namespace rill::kpl {

/// The four bytes every aggregated record starts with.
inline constexpr std::array<unsigned char, 4> magic = {0xF3, 0x89, 0x9A, 0xC2};
/// Magic plus MD5 trailer.
inline constexpr std::size_t fixed_overhead = 4 + 16;
/// The outer partition key the KPL gives every aggregate of two or more records.
inline constexpr std::string_view aggregate_partition_key = "a";

/// One user record to aggregate. Views: see aggregated_record_builder::add.
struct user_record_view {
  std::string_view partition_key{};
  /// Decimal 128-bit hash key; absent = route by MD5(partition_key).
  std::optional<std::string_view> explicit_hash_key{};
  std::string_view data{};
};

/// Builds one aggregated record, deduplicating partition and explicit hash keys
/// into the tables as the KPL does (first occurrence gets the next index), and
/// knowing its exact encoded size at every step.
///
/// Ownership: the builder keeps the views it is given (it copies nothing); the
/// bytes must stay valid until serialize() and clear(). Thread safety: none (one
/// builder per thread). Errors: none; validation of keys is the caller's (the
/// producer validates on entry).
class aggregated_record_builder {
 public:
  aggregated_record_builder() = default;

  /// Appends one user record (keys are not validated).
  void add(std::string_view partition_key, std::optional<std::string_view> explicit_hash_key, std::string_view data);
  void add(const user_record_view& r) { add(r.partition_key, r.explicit_hash_key, r.data); }

  /// Exact size of serialize(): magic + protobuf + MD5.
  [[nodiscard]] std::size_t size() const noexcept { return fixed_overhead + body_size_; }
  /// What size() would be after add(...), without adding.
  [[nodiscard]] std::size_t size_if_added(std::string_view partition_key,
                                          std::optional<std::string_view> explicit_hash_key,
                                          std::string_view data) const;
  /// User records added since the last clear().
  [[nodiscard]] std::size_t count() const noexcept { return records_.size(); }
  [[nodiscard]] bool empty() const noexcept { return records_.empty(); }

  /// Writes the aggregated record into `out` (replacing its contents).
  void serialize_to(std::string& out) const;
  [[nodiscard]] std::string serialize() const;
  /// Only the protobuf AggregatedRecord bytes (no magic, no MD5).
  [[nodiscard]] std::string serialize_protobuf() const;

  /// Forgets every record; keeps capacity.
  void clear() noexcept;

 private:
  struct member {
    std::uint32_t pk_index = 0;
    std::uint32_t ehk_index = 0;
    bool has_ehk = false;
    std::string_view data{};
    std::uint32_t encoded_size = 0;  // size of the Record message
  };
  [[nodiscard]] char* write_body(char* p) const noexcept;

  std::vector<std::string_view> pk_table_{};
  std::vector<std::string_view> ehk_table_{};
  std::unordered_map<std::string_view, std::uint32_t> pk_index_{};
  std::unordered_map<std::string_view, std::uint32_t> ehk_index_{};
  std::vector<member> records_{};
  std::size_t body_size_ = 0;
};

/// Aggregates `records` (any count ≥ 0) into one aggregated record.
[[nodiscard]] std::string aggregate(std::span<const user_record_view> records);

/// The number of bytes a varint takes (1..10).
[[nodiscard]] constexpr std::size_t varint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// ---------------------------------------------------------------------------
// Deaggregation

/// What deaggregate() found in a Kinesis record.
enum class record_format : std::uint8_t {
  /// A valid aggregated record; `records` holds its members.
  aggregated,
  /// No magic, or too short to be one (≤ 20 bytes): one plain record.
  not_aggregated,
  /// Magic present but the MD5 trailer does not match: one plain record (raw bytes), as the KCL does.
  checksum_mismatch,
  /// Magic and MD5 fine but the protobuf does not parse (or an index is out of
  /// its table, or a required field is missing): one plain record (raw bytes).
  invalid_protobuf,
};

/// "AGGREGATED", "NOT_AGGREGATED", "CHECKSUM_MISMATCH", "INVALID_PROTOBUF".
std::string_view to_string(record_format f) noexcept;

/// One user record as a consumer sees it. Views into the bytes deaggregate() was
/// given (for a rill::record: memory owned by its get_records_result).
struct user_record {
  /// The Kinesis record's sequence number, shared by every member of an aggregate.
  rill::sequence_number sequence_number{};
  /// Position within the aggregate (0, 1, 2, …); 0 for a plain record.
  std::uint64_t sub_sequence_number = 0;
  rill::timestamp approximate_arrival_timestamp{};
  std::string_view partition_key{};
  /// Present only when the member had an explicit hash key (field presence honoured).
  std::optional<std::string_view> explicit_hash_key{};
  std::string_view data{};
  rill::encryption_type encryption_type = encryption_type::none;
  /// True for members of an aggregated record.
  bool aggregated = false;

  /// The hash key Kinesis routes this record by: the explicit hash key if
  /// present and valid, else MD5(partition_key). nullopt if the explicit hash key is not a valid decimal.
  [[nodiscard]] std::optional<rill::hash_key> effective_hash_key() const noexcept;
};

struct deaggregation_result {
  record_format format = record_format::not_aggregated;
  /// Why the record was not read as an aggregate (empty when it was), for logs.
  std::string detail{};
  /// The user records (a plain record: itself, once), in order; when a shard
  /// range was given, only the members inside it.
  std::vector<user_record> records{};
  /// Members whose effective hash key lies outside the given shard range (or is
  /// not a valid hash key): the KCL drops the whole aggregate in that case,
  /// rill reports them so the caller decides (typically: skip them, the
  /// producer re-sends them to the right shard after a reshard).
  std::vector<user_record> out_of_range{};
};

/// Deaggregates one Kinesis record. Never fails: a record that is not a valid
/// aggregate comes back as one plain record and `format` says why.
/// `shard_range`: when given, members outside it go to `out_of_range`.
/// Thread safety: pure function. Ownership: the result views `r`'s bytes.
[[nodiscard]] deaggregation_result deaggregate(const rill::record& r,
                                               const std::optional<hash_key_range>& shard_range = std::nullopt);

/// As above for bare bytes with the outer record's partition key (sequence
/// number and arrival time left default).
[[nodiscard]] deaggregation_result deaggregate(std::string_view data, std::string_view partition_key,
                                               const std::optional<hash_key_range>& shard_range = std::nullopt);

/// The allocation-free form: appends the members to `out` (and to
/// `out_of_range` when a range is given; if `out_of_range` is null they are
/// counted in the return value only). Returns the format; `*detail`, when given,
/// receives the reason for a non-aggregated outcome.
record_format deaggregate_into(const rill::record& r, const std::optional<hash_key_range>& shard_range,
                               std::vector<user_record>& out, std::vector<user_record>* out_of_range = nullptr,
                               std::string* detail = nullptr);

/// True if `data` starts with the magic and is long enough to be an aggregate
/// (does not check the MD5 or the protobuf).
[[nodiscard]] bool has_magic(std::string_view data) noexcept;

}  // namespace rill::kpl
