// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The Kinesis Data Streams API as a C++ interface: one request struct in, one
// result value out, for each operation. Names follow the AWS API in snake_case
// (PutRecords -> put_records, ExplicitHashKey -> explicit_hash_key), so a user
// who knows the AWS SDK recognizes every call, field and error name.
//
// `rill::engine` (engine.hpp) implements this interface in process. Producers,
// consumers and delivery streams are written against `rill::kinesis`, so they
// run unchanged against any other implementation of it.
//
// Conventions for every operation:
//   * Streams are addressed by `stream_name` or `stream_arn` (either, or both if
//     they agree). The ARN is `arn:aws:kinesis:<region>:<account>:stream/<name>`.
//   * Request fields that AWS carries as strings (shard ids, hash keys, sequence
//     numbers) are strings here too, validated as AWS validates them; results
//     hand back the strong types of types.hpp, each with `to_string()`.
//   * Views (`std::string_view`) in a request are read during the call only; the
//     engine copies what it keeps before returning.
//   * Errors come back as `result<T>` holding an `error` with the Kinesis
//     exception name. A call that fails changes nothing.
//   * Thread safety: implementations are thread-safe; every operation may be
//     called from any thread concurrently with any other.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "rill/error.hpp"
#include "rill/types.hpp"

namespace rill {

// ---------------------------------------------------------------------------
// Borrowed bytes

/// A read-only view of bytes the caller owns, for the request fields that carry
/// record data and keys (`data`, `partition_key`, `explicit_hash_key`,
/// `sequence_number_for_ordering`). It is `std::string_view` with one thing
/// taken away: it cannot be made from a temporary `std::string`, so
///
///   req.data = make_payload();          // std::string returned by value
///
/// is a compile error instead of a view of freed memory. String literals,
/// lvalue `std::string`s, `std::string_view`s and `const char*` bind as before;
/// the caller keeps them alive for the duration of the call (the engine copies
/// what it stores before returning). A view made explicitly
/// (`std::string_view(tmp)`) is the caller's responsibility.
///
/// Thread safety: an immutable value type.
class borrowed_string {
 public:
  using value_type = char;
  using size_type = std::size_t;
  using const_iterator = std::string_view::const_iterator;

  constexpr borrowed_string() noexcept = default;
  constexpr borrowed_string(const char* text) : view_(text) {}  // NOLINT(implicit)
  constexpr borrowed_string(const char* text, std::size_t size) noexcept : view_(text, size) {}
  constexpr borrowed_string(std::string_view view) noexcept : view_(view) {}  // NOLINT(implicit)
  borrowed_string(const std::string& text) noexcept : view_(text) {}          // NOLINT(implicit)
  /// Deleted: the string would be destroyed before the request is used. Keep
  /// the string in a variable that outlives the call.
  borrowed_string(std::string&&) = delete;
  borrowed_string(const std::string&&) = delete;

  constexpr operator std::string_view() const noexcept { return view_; }  // NOLINT(implicit)
  [[nodiscard]] constexpr std::string_view view() const noexcept { return view_; }
  [[nodiscard]] constexpr const char* data() const noexcept { return view_.data(); }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return view_.size(); }
  [[nodiscard]] constexpr std::size_t length() const noexcept { return view_.size(); }
  [[nodiscard]] constexpr bool empty() const noexcept { return view_.empty(); }
  [[nodiscard]] constexpr const_iterator begin() const noexcept { return view_.begin(); }
  [[nodiscard]] constexpr const_iterator end() const noexcept { return view_.end(); }
  [[nodiscard]] constexpr char operator[](std::size_t i) const noexcept { return view_[i]; }

  friend constexpr bool operator==(borrowed_string a, borrowed_string b) noexcept { return a.view_ == b.view_; }
  friend constexpr auto operator<=>(borrowed_string a, borrowed_string b) noexcept { return a.view_ <=> b.view_; }
  friend std::ostream& operator<<(std::ostream& out, borrowed_string s) { return out << s.view_; }

 private:
  std::string_view view_{};
};

// ---------------------------------------------------------------------------
// Shared shapes

struct hash_key_range {
  hash_key starting_hash_key{};
  hash_key ending_hash_key{};
  friend bool operator==(const hash_key_range&, const hash_key_range&) = default;
};

struct sequence_number_range {
  sequence_number starting_sequence_number{};
  /// Absent while the shard is open.
  std::optional<sequence_number> ending_sequence_number{};
};

struct shard {
  rill::shard_id shard_id{};
  std::optional<rill::shard_id> parent_shard_id{};
  std::optional<rill::shard_id> adjacent_parent_shard_id{};
  rill::hash_key_range hash_key_range{};
  rill::sequence_number_range sequence_number_range{};
};

struct child_shard {
  rill::shard_id shard_id{};
  std::vector<rill::shard_id> parent_shards{};
  rill::hash_key_range hash_key_range{};
};

struct stream_mode_details {
  rill::stream_mode stream_mode = stream_mode::provisioned;
};

struct enhanced_metrics {
  /// Shard-level metric names enabled, e.g. "IncomingBytes".
  std::vector<std::string> shard_level_metrics{};
};

struct tag {
  std::string key{};
  std::string value{};
  friend bool operator==(const tag&, const tag&) = default;
};

// ---------------------------------------------------------------------------
// Control plane

struct create_stream_request {
  /// Required. `[a-zA-Z0-9_.-]+`, 1..128 characters, unique in the engine.
  std::string stream_name{};
  /// Required for PROVISIONED (≥ 1); ignored for ON_DEMAND, which starts at 4.
  std::optional<std::int32_t> shard_count{};
  /// PROVISIONED when absent.
  std::optional<rill::stream_mode_details> stream_mode_details{};
  /// At most 50 tags.
  std::map<std::string, std::string> tags{};
  /// The largest record (data plus partition key) the stream takes, in KiB:
  /// 1024..10240; 1024 (1 MiB) when absent. See update_max_record_size.
  std::optional<std::int32_t> max_record_size_in_kib{};
};

struct delete_stream_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  bool enforce_consumer_deletion = false;
};

struct list_streams_request {
  /// 1..10000; default 100.
  std::optional<std::int32_t> limit{};
  std::optional<std::string> exclusive_start_stream_name{};
  /// From a previous result; expires after 300 s.
  std::optional<std::string> next_token{};
};

struct stream_summary {
  std::string stream_name{};
  std::string stream_arn{};
  rill::stream_status stream_status = stream_status::active;
  rill::stream_mode_details stream_mode_details{};
  timestamp stream_creation_timestamp{};
};

struct list_streams_result {
  /// In lexicographic order.
  std::vector<std::string> stream_names{};
  bool has_more_streams = false;
  std::optional<std::string> next_token{};
  std::vector<stream_summary> stream_summaries{};
};

struct describe_stream_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  /// 1..10000; default 100; at most 100 shards are returned per call.
  std::optional<std::int32_t> limit{};
  /// Start listing after this shard (by shard index).
  std::optional<std::string> exclusive_start_shard_id{};
};

struct stream_description {
  std::string stream_name{};
  std::string stream_arn{};
  rill::stream_status stream_status = stream_status::active;
  rill::stream_mode_details stream_mode_details{};
  /// Open and closed shards, not expired ones, by index.
  std::vector<shard> shards{};
  bool has_more_shards = false;
  std::int32_t retention_period_hours = 24;
  timestamp stream_creation_timestamp{};
  std::vector<enhanced_metrics> enhanced_monitoring{};
  rill::encryption_type encryption_type = encryption_type::none;
  std::optional<std::string> key_id{};
  /// The largest record the stream takes, in KiB (1024 unless raised).
  std::int32_t max_record_size_in_kib = 1024;
};

struct describe_stream_result {
  rill::stream_description stream_description{};
};

struct describe_stream_summary_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  /// AWS's reserved `StreamId` ("Not Implemented"): validated
  /// (`[a-z0-9]{20}-[a-z0-9]{3}`, 1..24 characters) and otherwise ignored.
  std::optional<std::string> stream_id{};
};

struct stream_description_summary {
  std::string stream_name{};
  std::string stream_arn{};
  rill::stream_status stream_status = stream_status::active;
  rill::stream_mode_details stream_mode_details{};
  std::int32_t retention_period_hours = 24;
  timestamp stream_creation_timestamp{};
  std::vector<enhanced_metrics> enhanced_monitoring{};
  rill::encryption_type encryption_type = encryption_type::none;
  std::optional<std::string> key_id{};
  std::int32_t open_shard_count = 0;
  std::int32_t consumer_count = 0;
  /// The largest record the stream takes, in KiB (1024 unless raised).
  std::int32_t max_record_size_in_kib = 1024;
};

struct describe_stream_summary_result {
  rill::stream_description_summary stream_description_summary{};
};

struct shard_filter {
  shard_filter_type type = shard_filter_type::from_trim_horizon;
  /// Required for AFTER_SHARD_ID.
  std::optional<std::string> shard_id{};
  /// Required for AT_TIMESTAMP and FROM_TIMESTAMP.
  std::optional<rill::timestamp> timestamp{};
};

struct list_shards_request {
  /// Exactly one of (stream_name or stream_arn) and next_token.
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  std::optional<std::string> next_token{};
  std::optional<std::string> exclusive_start_shard_id{};
  /// 1..10000; default 1000; at most 1000 shards are returned per call.
  std::optional<std::int32_t> max_results{};
  /// Names which incarnation of a reused stream name is meant.
  std::optional<timestamp> stream_creation_timestamp{};
  std::optional<rill::shard_filter> shard_filter{};
};

struct list_shards_result {
  std::vector<shard> shards{};
  /// Present when more shards follow; expires after 300 s.
  std::optional<std::string> next_token{};
};

struct update_retention_period_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  std::int32_t retention_period_hours = 24;
};

struct add_tags_to_stream_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  /// 1..50 tags; an existing key is overwritten.
  std::map<std::string, std::string> tags{};
};

struct remove_tags_from_stream_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  /// 1..50 keys; unknown keys are ignored.
  std::vector<std::string> tag_keys{};
};

struct list_tags_for_stream_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  std::optional<std::string> exclusive_start_tag_key{};
  /// 1..50; default 50.
  std::optional<std::int32_t> limit{};
};

struct list_tags_for_stream_result {
  /// Sorted by key.
  std::vector<tag> tags{};
  bool has_more_tags = false;
};

struct split_shard_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  std::string shard_to_split{};
  /// Decimal; must be > StartingHashKey + 1 and < EndingHashKey of the shard.
  std::string new_starting_hash_key{};
};

struct merge_shards_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  std::string shard_to_merge{};
  /// Its range must follow shard_to_merge's range directly.
  std::string adjacent_shard_to_merge{};
};

struct update_shard_count_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  std::int32_t target_shard_count = 1;
  rill::scaling_type scaling_type = scaling_type::uniform_scaling;
};

struct update_shard_count_result {
  std::string stream_name{};
  std::string stream_arn{};
  /// Open shards before the call.
  std::int32_t current_shard_count = 0;
  std::int32_t target_shard_count = 0;
};

struct update_stream_mode_request {
  /// Required (UpdateStreamMode takes only the ARN).
  std::string stream_arn{};
  rill::stream_mode_details stream_mode_details{};
};

struct enhanced_monitoring_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  /// Shard-level metric names, or "ALL".
  std::vector<std::string> shard_level_metrics{};
};

struct enhanced_monitoring_result {
  std::string stream_name{};
  std::string stream_arn{};
  std::vector<std::string> current_shard_level_metrics{};
  std::vector<std::string> desired_shard_level_metrics{};
};

struct describe_limits_result {
  std::int32_t shard_limit = 0;
  std::int32_t open_shard_count = 0;
  std::int32_t on_demand_stream_count = 0;
  std::int32_t on_demand_stream_count_limit = 0;
};

// ---------------------------------------------------------------------------
// Data plane

struct put_record_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  /// 0..1 MiB; data plus partition key at most 1 MiB. Borrowed: see borrowed_string.
  borrowed_string data{};
  /// 1..256 characters (UTF-16 code units, as AWS counts them), valid UTF-8.
  borrowed_string partition_key{};
  /// Decimal hash key that overrides the MD5 of the partition key.
  std::optional<borrowed_string> explicit_hash_key{};
  /// A sequence number previously returned by this shard; it must be valid.
  std::optional<borrowed_string> sequence_number_for_ordering{};
  /// Reserved StreamId: validated, otherwise ignored (see describe_stream_summary_request).
  std::optional<std::string> stream_id{};
};

struct put_record_result {
  rill::shard_id shard_id{};
  rill::sequence_number sequence_number{};
  rill::encryption_type encryption_type = encryption_type::none;
};

/// Borrowed fields (see borrowed_string): the bytes stay the caller's.
struct put_records_request_entry {
  borrowed_string data{};
  borrowed_string partition_key{};
  std::optional<borrowed_string> explicit_hash_key{};
};

struct put_records_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  /// 1..500 entries, at most 5 MiB in all (data plus partition keys); 10 MiB
  /// on a stream whose max_record_size_in_kib is above 1024.
  std::vector<put_records_request_entry> records{};
  /// Reserved StreamId: validated, otherwise ignored.
  std::optional<std::string> stream_id{};
};

/// One entry of a PutRecords result: either a shard and sequence number, or an
/// error code (ProvisionedThroughputExceededException or InternalFailure) and message.
struct put_records_result_entry {
  rill::shard_id shard_id{};
  rill::sequence_number sequence_number{};
  std::optional<rill::error_code> error_code{};
  std::string error_message{};

  [[nodiscard]] bool ok() const noexcept { return !error_code.has_value(); }
};

struct put_records_result {
  std::int32_t failed_record_count = 0;
  /// Same length and order as the request's records.
  std::vector<put_records_result_entry> records{};
  rill::encryption_type encryption_type = encryption_type::none;
};

struct get_shard_iterator_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  std::string shard_id{};
  rill::shard_iterator_type shard_iterator_type = shard_iterator_type::trim_horizon;
  /// Required for AT_ and AFTER_SEQUENCE_NUMBER, refused otherwise.
  std::optional<std::string> starting_sequence_number{};
  /// Required for AT_TIMESTAMP; must not be in the future.
  std::optional<rill::timestamp> timestamp{};
  /// Reserved StreamId: validated, otherwise ignored.
  std::optional<std::string> stream_id{};
};

struct get_shard_iterator_result {
  /// Opaque; reusable until it expires 300 s after issue.
  std::string shard_iterator{};
};

struct get_records_request {
  std::string shard_iterator{};
  /// 1..10000; default 10000. At most 10 MiB is returned per call.
  std::optional<std::int32_t> limit{};
  /// If present, must name the iterator's stream.
  std::optional<std::string> stream_arn{};
  /// Reserved StreamId: validated, otherwise ignored.
  std::optional<std::string> stream_id{};
};

/// A record that owns its bytes: what to keep past the get_records_result a
/// `record` came from (record::to_owned()). Thread safety: a plain value type.
struct owned_record {
  rill::sequence_number sequence_number{};
  timestamp approximate_arrival_timestamp{};
  std::string data{};
  std::string partition_key{};
  rill::encryption_type encryption_type = encryption_type::none;
  friend bool operator==(const owned_record&, const owned_record&) = default;
};

/// A record as GetRecords returns it. `data` and `partition_key` VIEW memory
/// owned by the get_records_result they came from (shared by its copies): keep a
/// copy of that result alive while you use them, or call `to_owned()`.
///
/// A record used after every copy of its result is gone reads freed memory. rill
/// makes that loud where it can: under AddressSanitizer the buffer is poisoned
/// when released (a heap-use-after-free report); in a library built without
/// NDEBUG the buffer's pages are unmapped-protected for a while after release,
/// so a read faults (SIGSEGV) instead of returning garbage. In release builds it
/// is undefined behaviour, as with any dangling std::string_view.
struct record {
  rill::sequence_number sequence_number{};
  timestamp approximate_arrival_timestamp{};
  std::string_view data{};
  std::string_view partition_key{};
  rill::encryption_type encryption_type = encryption_type::none;

  /// A copy that owns its bytes (two string copies), valid after the result is gone.
  [[nodiscard]] owned_record to_owned() const {
    return owned_record{sequence_number, approximate_arrival_timestamp, std::string(data), std::string(partition_key),
                        encryption_type};
  }
};

struct get_records_result {
  /// In sequence-number order. They view `buffer`: see record.
  std::vector<record> records{};
  /// Absent once the shard is closed and every record has been returned.
  std::optional<std::string> next_shard_iterator{};
  /// How far behind the newest record of the shard this response ends; 0 = caught up.
  std::int64_t millis_behind_latest = 0;
  /// Present only at the end of a closed shard.
  std::vector<child_shard> child_shards{};
  /// Owns the bytes that `records` view (shared by copies of this result).
  std::shared_ptr<const void> buffer{};

  /// Every record as an owning copy (one allocation per string).
  [[nodiscard]] std::vector<owned_record> owned_records() const {
    std::vector<owned_record> out;
    out.reserve(records.size());
    for (const record& r : records) out.push_back(r.to_owned());
    return out;
  }
};

/// StartStreamEncryption / StopStreamEncryption.
struct stream_encryption_request {
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  /// Only KMS is accepted.
  rill::encryption_type encryption_type = encryption_type::kms;
  /// 1..2048 characters: a key ARN, an alias ARN, a key GUID, "alias/…", or
  /// "alias/aws/kinesis" (the AWS-managed key).
  std::string key_id{};
};

// ---------------------------------------------------------------------------
// Large records, ARN tagging and resource policies (AWS, 2023–2025)

struct update_max_record_size_request {
  /// Required: the stream's ARN.
  std::string stream_arn{};
  /// Reserved StreamId: validated, otherwise ignored.
  std::optional<std::string> stream_id{};
  /// 1024..10240 KiB.
  std::int32_t max_record_size_in_kib = 1024;
};

/// TagResource: `resource_arn` is a stream ARN or a consumer ARN.
struct tag_resource_request {
  std::string resource_arn{};
  /// 1..50 tags; an existing key is overwritten; at most 50 per resource.
  std::map<std::string, std::string> tags{};
  std::optional<std::string> stream_id{};
};

struct untag_resource_request {
  std::string resource_arn{};
  /// 1..50 keys; unknown keys are ignored.
  std::vector<std::string> tag_keys{};
  std::optional<std::string> stream_id{};
};

struct list_tags_for_resource_request {
  std::string resource_arn{};
  std::optional<std::string> stream_id{};
};

struct list_tags_for_resource_result {
  /// Sorted by key.
  std::vector<tag> tags{};
};

/// PutResourcePolicy: `resource_arn` is a stream ARN or a consumer ARN.
struct put_resource_policy_request {
  std::string resource_arn{};
  /// A JSON object, at most 20480 characters.
  std::string policy{};
};

struct get_resource_policy_request {
  std::string resource_arn{};
};

struct get_resource_policy_result {
  /// The policy as stored; "{}" when the resource has none (as AWS answers).
  std::string policy{};
};

struct delete_resource_policy_request {
  std::string resource_arn{};
};

// ---------------------------------------------------------------------------
// Enhanced fan-out (registered consumers and SubscribeToShard)

enum class consumer_status : std::uint8_t { creating, active, deleting };

/// "CREATING", "ACTIVE" or "DELETING".
inline std::string_view to_string(consumer_status s) noexcept {
  switch (s) {
    case consumer_status::creating: return "CREATING";
    case consumer_status::active: return "ACTIVE";
    case consumer_status::deleting: return "DELETING";
  }
  return "ACTIVE";
}

struct consumer {
  std::string consumer_name{};
  /// `<stream ARN>/consumer/<name>:<creation epoch seconds>`.
  std::string consumer_arn{};
  rill::consumer_status consumer_status = consumer_status::creating;
  timestamp consumer_creation_timestamp{};
};

struct consumer_description {
  std::string consumer_name{};
  std::string consumer_arn{};
  rill::consumer_status consumer_status = consumer_status::creating;
  timestamp consumer_creation_timestamp{};
  std::string stream_arn{};
};

struct register_stream_consumer_request {
  /// Required.
  std::string stream_arn{};
  /// Required. `[a-zA-Z0-9_.-]+`, 1..128 characters, unique within the stream.
  std::string consumer_name{};
};

struct register_stream_consumer_result {
  rill::consumer consumer{};
};

/// Names a consumer by `consumer_arn`, or by `stream_arn` plus `consumer_name`.
struct describe_stream_consumer_request {
  std::optional<std::string> stream_arn{};
  std::optional<std::string> consumer_name{};
  std::optional<std::string> consumer_arn{};
};

struct describe_stream_consumer_result {
  rill::consumer_description consumer_description{};
};

/// As describe_stream_consumer_request.
using deregister_stream_consumer_request = describe_stream_consumer_request;

struct list_stream_consumers_request {
  /// Required unless next_token is given.
  std::optional<std::string> stream_arn{};
  /// From a previous result; expires after 300 s.
  std::optional<std::string> next_token{};
  /// 1..10000; default 100.
  std::optional<std::int32_t> max_results{};
  /// If present, must match the stream's creation time.
  std::optional<timestamp> stream_creation_timestamp{};
};

struct list_stream_consumers_result {
  /// By consumer name.
  std::vector<consumer> consumers{};
  std::optional<std::string> next_token{};
};

struct starting_position {
  /// One of the five iterator types.
  shard_iterator_type type = shard_iterator_type::latest;
  /// Required for AT_ and AFTER_SEQUENCE_NUMBER (e.g. a continuation sequence number).
  std::optional<std::string> sequence_number{};
  /// Required for AT_TIMESTAMP.
  std::optional<rill::timestamp> timestamp{};
};

/// One SubscribeToShardEvent. Its records VIEW `buffer` as get_records_result's
/// do (one copy of the stored bytes per event, shared by copies of the event):
/// keep the event (or a copy of `buffer`) alive while you use them, or call
/// owned_records().
struct subscribe_to_shard_event {
  /// In sequence-number order. They view `buffer`: see record.
  std::vector<record> records{};
  /// Resubscribe with AFTER_SEQUENCE_NUMBER from here (and checkpoint it). It
  /// advances with time even when no data arrives. Null (absent) at the end of a
  /// closed shard, where child_shards lists the children.
  std::optional<std::string> continuation_sequence_number{};
  /// How far this event ends behind the newest record of the shard; 0 = caught up.
  std::int64_t millis_behind_latest = 0;
  std::vector<child_shard> child_shards{};
  /// Owns the bytes that `records` view (shared by copies of this event).
  std::shared_ptr<const void> buffer{};

  /// Every record as an owning copy (one allocation per string).
  [[nodiscard]] std::vector<owned_record> owned_records() const {
    std::vector<owned_record> out;
    out.reserve(records.size());
    for (const record& r : records) out.push_back(r.to_owned());
    return out;
  }
};

/// How a subscription delivers (beyond the AWS API, which delivers over HTTP/2).
struct subscription_options {
  /// At most this many records (1..10000) and bytes per event.
  std::int32_t max_event_records = 10000;
  std::int64_t max_event_bytes = 1 << 20;
  /// Pull mode only: pull() waits by spinning on the clock instead of a
  /// condition variable (trades a core for latency). Ignored on a manual_clock.
  bool spin = false;
  /// Callback mode when set: every event (or the exception that ends the
  /// subscription) is handed to it on a worker of the engine's shared delivery
  /// pool (one worker fewer than the cores, at least one), woken by puts,
  /// heartbeats and ends (on a manual_clock: a task of a scheduler of the
  /// clock, run inside advance()/run_due()). One call at a time per
  /// subscription, in order, possibly on different workers one after another.
  /// It should not block for long: a handler busy for more than about a
  /// millisecond gets its worker replaced, so it delays other subscriptions by
  /// about 2 ms at most and writers never (docs/fanout.md). It may drop the last
  /// handle of its subscription. pull() and try_pull() then return nothing.
  std::function<void(result<subscribe_to_shard_event>)> handler{};
  /// Callback mode: called once when the subscription ends without an
  /// exception (5-minute expiry, end of a closed shard, cancel()).
  std::function<void()> on_complete{};
};

struct subscribe_to_shard_request {
  /// Required; an ACTIVE consumer.
  std::string consumer_arn{};
  /// Required.
  std::string shard_id{};
  rill::starting_position starting_position{};
  rill::subscription_options options{};
};

/// The stream of events of one SubscribeToShard call: a (consumer, shard)
/// pipe. It ends after 5 minutes on the engine's clock (resubscribe from the
/// last continuation), at the end of a closed shard (after the event with child
/// shards), when taken over by a newer subscription (ResourceInUseException),
/// when the consumer or stream goes (ResourceNotFoundException), or on cancel().
///
/// Back-pressure: events are read from the shard when the subscriber asks
/// (pull) or is ready (callback), never pushed into an unbounded queue. A slow
/// subscriber holds at most one event of its own; the rest stays in the shard,
/// so nothing is dropped, writers never wait, and the lag shows in
/// millis_behind_latest (records older than the retention period are lost to
/// it, as on AWS).
///
/// Thread safety: pull/try_pull from one thread at a time; ended() and cancel()
/// from any thread. Ownership: the caller's shared_ptr; destroying it cancels
/// (a callback subscription then still gets its on_complete, on a delivery worker).
/// A subscription must not be used after its engine is destroyed (it has ended
/// with InternalFailure by then), except to destroy it.
class subscription {
 public:
  virtual ~subscription() = default;
  /// The next event if one is ready: records, a heartbeat (no records, the
  /// continuation advanced, once per heartbeat interval) or the final event of a
  /// closed shard. nullopt when nothing is ready or the subscription has ended
  /// normally; the exception that ends it (once). Never blocks.
  virtual result<std::optional<subscribe_to_shard_event>> try_pull() = 0;
  /// As try_pull, waiting up to `timeout` on the engine's clock for an event
  /// (without busy-waiting unless `spin`); woken by puts, heartbeats and ends.
  /// On a manual_clock whose sleep policy is `advance`, no other thread moves
  /// time: the wait moves time itself in 1 ms steps (clock::sleep_until, running
  /// due tasks) until an event is ready or the deadline, so a single-threaded
  /// test never hangs and time stops at the task that woke it; under the
  /// `wait` policy it waits for another thread's advance() or put.
  virtual result<std::optional<subscribe_to_shard_event>> pull(duration timeout) = 0;
  /// True once the subscription has ended (no more events).
  [[nodiscard]] virtual bool ended() const = 0;
  /// Ends the subscription (normally). Idempotent.
  virtual void cancel() = 0;
  /// Callback mode: hand no further event to the handler (after the call in
  /// progress, if any) until resume(); records wait in the shard meanwhile, so
  /// a subscriber whose own output is full (e.g. a slow socket) applies
  /// back-pressure without blocking a thread. Timers keep running: heartbeats
  /// wait for resume(); an end (the 5-minute expiry, a takeover, cancel(), the
  /// engine's shutdown) is delivered even while paused, so dropping a paused
  /// subscription never leaves its delivery waiting. Any thread, including the
  /// handler's. Implementations without it ignore it.
  virtual void pause() {}
  /// Undoes pause() and delivers what became ready meanwhile. Any thread.
  virtual void resume() {}
};
// ---------------------------------------------------------------------------

/// The operations of Kinesis Data Streams. See the conventions at the top:
/// every operation may be called from any thread; request views are read during
/// the call only. Errors common to all stream operations: ValidationException
/// (a model constraint), InvalidArgumentException (neither or conflicting
/// StreamName and StreamARN), ResourceNotFoundException (no such stream), and,
/// when enabled, LimitExceededException (control-plane rates) or injected faults.
class kinesis {
 public:
  virtual ~kinesis() = default;

  // --- Control plane ---------------------------------------------------------

  /// Creates a stream of `shard_count` shards laid out uniformly over the hash
  /// space (ON_DEMAND: 4). CREATING for the configured delay, then ACTIVE.
  /// Errors: ResourceInUseException (name taken), LimitExceededException (shard
  /// quota, on-demand stream quota, too many CREATING), InvalidArgumentException (tags).
  virtual result<void> create_stream(const create_stream_request& req) = 0;
  /// Deletes a stream and all its records (DELETING for the configured delay).
  virtual result<void> delete_stream(const delete_stream_request& req) = 0;
  /// Stream names in lexicographic order, with summaries; paginated.
  /// Errors: InvalidArgumentException (bad token), ExpiredNextTokenException.
  virtual result<list_streams_result> list_streams(const list_streams_request& req) = 0;
  /// The stream and up to 100 of its shards (open and closed, not expired).
  virtual result<describe_stream_result> describe_stream(const describe_stream_request& req) = 0;
  /// The stream without its shards, with the open shard count.
  virtual result<describe_stream_summary_result> describe_stream_summary(
      const describe_stream_summary_request& req) = 0;
  /// Shards, filtered and paginated (up to 1000 per call).
  /// Errors: InvalidArgumentException (argument combinations, bad token),
  /// ExpiredNextTokenException, ResourceNotFoundException.
  virtual result<list_shards_result> list_shards(const list_shards_request& req) = 0;
  /// Raises the retention period (24..8760 hours); unexpired records live longer.
  /// Errors: InvalidArgumentException (out of range, or shorter than now).
  virtual result<void> increase_stream_retention_period(const update_retention_period_request& req) = 0;
  /// Lowers the retention period; older records become unreadable at once.
  /// Errors: InvalidArgumentException (out of range, or longer than now).
  virtual result<void> decrease_stream_retention_period(const update_retention_period_request& req) = 0;
  /// Adds or overwrites tags (at most 50 per stream).
  /// Errors: InvalidArgumentException (characters, more than 50 on the stream).
  virtual result<void> add_tags_to_stream(const add_tags_to_stream_request& req) = 0;
  /// Removes tags; unknown keys are ignored.
  virtual result<void> remove_tags_from_stream(const remove_tags_from_stream_request& req) = 0;
  /// Tags sorted by key, paginated by `exclusive_start_tag_key`.
  virtual result<list_tags_for_stream_result> list_tags_for_stream(const list_tags_for_stream_request& req) = 0;
  /// Closes an open shard and opens two children split at `new_starting_hash_key`.
  /// Errors: ResourceInUseException (stream not ACTIVE; shard already closed),
  /// ResourceNotFoundException (no such shard), InvalidArgumentException (key
  /// outside the shard), LimitExceededException (shard quota), ValidationException (ON_DEMAND).
  virtual result<void> split_shard(const split_shard_request& req) = 0;
  /// Closes two adjacent open shards and opens their merged child.
  /// Errors: as split_shard; InvalidArgumentException if not adjacent in that order.
  virtual result<void> merge_shards(const merge_shards_request& req) = 0;
  /// Reaches the uniform layout of `target_shard_count` open shards by splits
  /// and merges (lineage kept). Errors: LimitExceededException (more than double
  /// or less than half the open shards, beyond 10000, quotas), ResourceInUseException,
  /// ValidationException (ON_DEMAND).
  virtual result<update_shard_count_result> update_shard_count(const update_shard_count_request& req) = 0;
  /// Switches between PROVISIONED and ON_DEMAND (shards carry over).
  /// Errors: InvalidArgumentException (already in that mode), ResourceInUseException,
  /// LimitExceededException (on-demand stream quota; switches per day when enabled).
  virtual result<void> update_stream_mode(const update_stream_mode_request& req) = 0;
  /// Turns shard-level metrics on (by name, or "ALL"); returns the sets before and after.
  /// Errors: ResourceInUseException (not ACTIVE).
  virtual result<enhanced_monitoring_result> enable_enhanced_monitoring(const enhanced_monitoring_request& req) = 0;
  /// Turns shard-level metrics off.
  virtual result<enhanced_monitoring_result> disable_enhanced_monitoring(const enhanced_monitoring_request& req) = 0;
  /// The shard quota and usage, and the on-demand stream quota and usage.
  virtual result<describe_limits_result> describe_limits() = 0;
  /// Turns on encryption at rest for the records written from now on
  /// (ACTIVE → UPDATING → ACTIVE, or at once with no update delay); the stream
  /// and its records report EncryptionType KMS. Errors: ValidationException
  /// (encryption type NONE, key id length), ResourceInUseException (not
  /// ACTIVE), ResourceNotFoundException, and the KMS exceptions of the key
  /// (KMSNotFoundException, KMSDisabledException, KMSAccessDeniedException,
  /// KMSInvalidStateException, …). Implementations without encryption return
  /// InvalidArgumentException.
  virtual result<void> start_stream_encryption(const stream_encryption_request& req) {
    (void)req;
    return error(error_code::invalid_argument_exception, "StartStreamEncryption is not supported here.");
  }
  /// Turns it off for the records written from now on (records already
  /// written stay encrypted and readable). Errors: as start_stream_encryption,
  /// and InvalidArgumentException when the key id is not the stream's.
  virtual result<void> stop_stream_encryption(const stream_encryption_request& req) {
    (void)req;
    return error(error_code::invalid_argument_exception, "StopStreamEncryption is not supported here.");
  }

  /// Sets the largest record (data plus partition key) the stream takes,
  /// 1024..10240 KiB. Records above 1 MiB still count against the shard's
  /// write limit; see docs/semantics.md for the burst rule. Errors:
  /// ValidationException (out of range, ARN, StreamId), ResourceNotFoundException,
  /// ResourceInUseException (not ACTIVE). Default: InvalidArgumentException.
  virtual result<void> update_max_record_size(const update_max_record_size_request& req) {
    (void)req;
    return error(error_code::invalid_argument_exception, "UpdateMaxRecordSize is not supported here.");
  }
  /// Adds or overwrites tags of a stream or consumer (at most 50 per resource).
  /// Errors: ValidationException (ARN, counts), InvalidArgumentException
  /// (characters, more than 50), ResourceNotFoundException.
  virtual result<void> tag_resource(const tag_resource_request& req) {
    (void)req;
    return error(error_code::invalid_argument_exception, "TagResource is not supported here.");
  }
  /// Removes tags of a stream or consumer; unknown keys are ignored. Errors: as tag_resource.
  virtual result<void> untag_resource(const untag_resource_request& req) {
    (void)req;
    return error(error_code::invalid_argument_exception, "UntagResource is not supported here.");
  }
  /// The tags of a stream or consumer. Errors: ValidationException, ResourceNotFoundException.
  virtual result<list_tags_for_resource_result> list_tags_for_resource(const list_tags_for_resource_request& req) {
    (void)req;
    return error(error_code::invalid_argument_exception, "ListTagsForResource is not supported here.");
  }
  /// Stores a resource policy (a JSON object of at most 20480 characters) on a
  /// stream or consumer; rill stores it and does not evaluate it. Errors:
  /// ValidationException (ARN, size), InvalidArgumentException (not a JSON
  /// object), ResourceNotFoundException.
  virtual result<void> put_resource_policy(const put_resource_policy_request& req) {
    (void)req;
    return error(error_code::invalid_argument_exception, "PutResourcePolicy is not supported here.");
  }
  /// The stored policy, or "{}". Errors: ValidationException, ResourceNotFoundException.
  virtual result<get_resource_policy_result> get_resource_policy(const get_resource_policy_request& req) {
    (void)req;
    return error(error_code::invalid_argument_exception, "GetResourcePolicy is not supported here.");
  }
  /// Removes the policy. Errors: ValidationException, ResourceNotFoundException
  /// (also when the resource has no policy).
  virtual result<void> delete_resource_policy(const delete_resource_policy_request& req) {
    (void)req;
    return error(error_code::invalid_argument_exception, "DeleteResourcePolicy is not supported here.");
  }

  // --- Data plane -------------------------------------------------------------

  /// Stores one record in the open shard whose range holds its hash key.
  /// Errors: ResourceNotFoundException (also while CREATING or DELETING),
  /// InvalidArgumentException (ExplicitHashKey ≥ 2^128, bad SequenceNumberForOrdering),
  /// ProvisionedThroughputExceededException (when limits are on), InternalFailure.
  virtual result<put_record_result> put_record(const put_record_request& req) = 0;
  /// Stores up to 500 records; results per entry, in request order. Throttling
  /// and internal failures are reported per entry, never as a whole-request
  /// error. Whole-request errors (nothing stored): as put_record, and
  /// InvalidArgumentException for a request over 5 MiB.
  virtual result<put_records_result> put_records(const put_records_request& req) = 0;
  /// An iterator for a shard at a position (see shard_iterator_type).
  /// Errors: ResourceNotFoundException (no such shard, or expired),
  /// InvalidArgumentException (type/number/timestamp combinations, a number of
  /// another shard or stream), ProvisionedThroughputExceededException (when limits are on).
  virtual result<get_shard_iterator_result> get_shard_iterator(const get_shard_iterator_request& req) = 0;
  /// Records from an iterator's position, and the next iterator (none at the
  /// end of a closed shard, where child_shards lists the children).
  /// Errors: InvalidArgumentException (forged, foreign or garbage iterator),
  /// ExpiredIteratorException (older than 300 s), ResourceNotFoundException
  /// (stream or shard gone), ProvisionedThroughputExceededException (when limits are on).
  virtual result<get_records_result> get_records(const get_records_request& req) = 0;

  // --- Enhanced fan-out ----------------------------------------------------------
  // Implementations without fan-out keep these defaults (InternalFailure).

  /// Registers a consumer (CREATING, then ACTIVE). Errors: ResourceInUseException
  /// ("Consumer <name> exists"), LimitExceededException (20 consumers per stream,
  /// 5 CREATING at once), ResourceNotFoundException, ValidationException.
  virtual result<register_stream_consumer_result> register_stream_consumer(
      const register_stream_consumer_request& req) {
    (void)req;
    return error(error_code::internal_failure, "RegisterStreamConsumer is not supported by this implementation");
  }
  /// Errors: ResourceNotFoundException (no such consumer), InvalidArgumentException
  /// (neither ARN nor stream ARN plus name), ValidationException.
  virtual result<describe_stream_consumer_result> describe_stream_consumer(
      const describe_stream_consumer_request& req) {
    (void)req;
    return error(error_code::internal_failure, "DescribeStreamConsumer is not supported by this implementation");
  }
  /// Consumers of a stream by name, paginated. Errors: as describe_stream_consumer,
  /// ExpiredNextTokenException, InvalidArgumentException (bad token, token with stream ARN).
  virtual result<list_stream_consumers_result> list_stream_consumers(const list_stream_consumers_request& req) {
    (void)req;
    return error(error_code::internal_failure, "ListStreamConsumers is not supported by this implementation");
  }
  /// DELETING, then gone; its subscriptions end with ResourceNotFoundException.
  /// Errors: as describe_stream_consumer.
  virtual result<void> deregister_stream_consumer(const deregister_stream_consumer_request& req) {
    (void)req;
    return error(error_code::internal_failure, "DeregisterStreamConsumer is not supported by this implementation");
  }
  /// Opens a pipe from a shard to a consumer (see subscription). Errors:
  /// ResourceNotFoundException (consumer, stream or shard), ResourceInUseException
  /// (consumer not ACTIVE; a subscription of the same consumer and shard began
  /// less than 5 s ago), InvalidArgumentException (position), ValidationException.
  virtual result<std::shared_ptr<subscription>> subscribe_to_shard(const subscribe_to_shard_request& req) {
    (void)req;
    return error(error_code::internal_failure, "SubscribeToShard is not supported by this implementation");
  }
};

}  // namespace rill
