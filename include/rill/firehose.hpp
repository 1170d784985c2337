// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Delivery streams: the Amazon Data Firehose API as a C++ interface, and an
// in-process implementation (`local_firehose`) that buffers records by size and
// time on an injected clock, optionally transforms them (a callback given the
// Lambda event shape), partitions them by keys taken from JSON fields or from
// the transformation, compresses them (GZIP, ZIP, Snappy, HADOOP_SNAPPY, ZSTD)
// and writes each batch as one object to a directory standing in for S3 (or
// hands it to a callback sink), with retries, an error output and a backup.
//
//   auto clock = std::make_shared<rill::manual_clock>();
//   rill::local_firehose firehose({.clock = clock, .s3_directory = "/tmp/s3"});
//   (void)firehose.create_delivery_stream({
//       .delivery_stream_name = "clicks",
//       .extended_s3_destination_configuration = rill::delivery::extended_s3_destination_configuration{
//           .bucket_arn = "arn:aws:s3:::my-bucket", .compression_format = "GZIP"}});
//   std::string event = R"({"page":"/"})";
//   (void)firehose.put_record({.delivery_stream_name = "clicks", .record = {.data = event}});
//   clock->advance(std::chrono::minutes(5));   // the object is written here
//
// Conventions (as for rill::kinesis): request and result shapes follow the AWS
// API in snake_case; enumerations travel as the AWS strings ("GZIP",
// "DirectPut", "Lambda", …) and are validated as AWS validates them; errors are
// `result<T>` values carrying the Firehose exception names. Views
// (`std::string_view`) in requests are read during the call only.
//
// Every type here is a plain value type: distinct objects may be used from
// distinct threads, one object must not be mutated concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rill/clock.hpp"
#include "rill/error.hpp"
#include "rill/file_system.hpp"
#include "rill/metrics.hpp"
#include "rill/types.hpp"

namespace rill {
class kinesis;
}

namespace rill::delivery {

// ---------------------------------------------------------------------------
// Configuration shapes (CreateDeliveryStream)

/// BufferingHints. If one member is given the other must be too. SizeInMBs
/// 1..128 (default 5), IntervalInSeconds 0..900 (default 300).
struct buffering_hints {
  std::optional<std::int32_t> size_in_mbs{};
  std::optional<std::int32_t> interval_in_seconds{};
};

/// ProcessorParameter: ParameterName one of LambdaArn, NumberOfRetries,
/// MetadataExtractionQuery, JsonParsingEngine, RoleArn, BufferSizeInMBs,
/// BufferIntervalInSeconds, SubRecordType, Delimiter, CompressionFormat,
/// DataMessageExtraction; ParameterValue 1..5120 characters, not blank.
struct processor_parameter {
  std::string parameter_name{};
  std::string parameter_value{};
};

/// Processor: Type "Lambda", "MetadataExtraction" or "AppendDelimiterToRecord"
/// (rill runs these three; RecordDeAggregation, Decompression and
/// CloudWatchLogProcessing are valid names that rill refuses with
/// InvalidArgumentException).
struct processor {
  std::string type{};
  std::vector<processor_parameter> parameters{};
};

struct processing_configuration {
  std::optional<bool> enabled{};
  std::vector<processor> processors{};
};

/// RetryOptions: DurationInSeconds 0..7200.
struct retry_options {
  std::optional<std::int32_t> duration_in_seconds{};
};

struct dynamic_partitioning_configuration {
  std::optional<rill::delivery::retry_options> retry_options{};
  std::optional<bool> enabled{};
};

/// S3DestinationConfiguration (used for the backup destination).
struct s3_destination_configuration {
  /// Required. Not checked against IAM: any `arn:.*` of 1..512 characters.
  std::string role_arn{};
  /// Required. `arn:aws:s3:::<bucket>`: objects go to `<s3_directory>/<bucket>/<key>`.
  std::string bucket_arn{};
  std::optional<std::string> prefix{};
  std::optional<std::string> error_output_prefix{};
  std::optional<rill::delivery::buffering_hints> buffering_hints{};
  /// UNCOMPRESSED (default), GZIP, ZIP, Snappy, HADOOP_SNAPPY; ZSTD (rill).
  std::optional<std::string> compression_format{};
};

/// ExtendedS3DestinationConfiguration.
struct extended_s3_destination_configuration {
  /// Required. Not checked against IAM: any `arn:.*` of 1..512 characters.
  std::string role_arn{};
  /// Required. `arn:aws:s3:::<bucket>`.
  std::string bucket_arn{};
  /// 0..1024 characters; `!{timestamp:…}`, `!{firehose:random-string}`,
  /// `!{partitionKeyFromQuery:…}`, `!{partitionKeyFromLambda:…}`.
  std::optional<std::string> prefix{};
  /// 0..1024 characters; must hold `!{firehose:error-output-type}` when given.
  std::optional<std::string> error_output_prefix{};
  std::optional<rill::delivery::buffering_hints> buffering_hints{};
  /// UNCOMPRESSED (default), GZIP, ZIP, Snappy, HADOOP_SNAPPY; ZSTD (a rill extension).
  std::optional<std::string> compression_format{};
  std::optional<rill::delivery::processing_configuration> processing_configuration{};
  /// Disabled (default) or Enabled (every source record is also written to
  /// s3_backup_configuration). Also accepted (rill, the HTTP-endpoint spelling):
  /// AllData (= Enabled) and FailedDataOnly (only records whose delivery failed
  /// past the retry duration go to the backup).
  std::optional<std::string> s3_backup_mode{};
  std::optional<rill::delivery::s3_destination_configuration> s3_backup_configuration{};
  std::optional<rill::delivery::dynamic_partitioning_configuration> dynamic_partitioning_configuration{};
  /// `^$|\.[0-9a-z!\-_.*'()]+`, 0..128 characters: replaces the compression's extension.
  std::optional<std::string> file_extension{};
  /// `^$|[a-zA-Z/_]+`, 0..50 characters. rill evaluates prefixes in UTC only:
  /// "", "UTC" and "Etc/UTC" are accepted, other zones refused.
  std::optional<std::string> custom_time_zone{};
};

/// KinesisStreamSourceConfiguration: read a stream of the `rill::kinesis` given
/// in firehose_options::kinesis.
struct kinesis_stream_source_configuration {
  /// Required. `arn:aws:kinesis:<region>:<account>:stream/<name>`.
  std::string kinesis_stream_arn{};
  /// Required. Any `arn:.*`.
  std::string role_arn{};
};

// ---------------------------------------------------------------------------
// Requests and results

struct create_delivery_stream_request {
  /// Required. 1..64 characters of `[a-zA-Z0-9_.-]`.
  std::string delivery_stream_name{};
  /// "DirectPut" (default) or "KinesisStreamAsSource".
  std::optional<std::string> delivery_stream_type{};
  /// Required for KinesisStreamAsSource, refused otherwise.
  std::optional<rill::delivery::kinesis_stream_source_configuration> kinesis_stream_source_configuration{};
  /// Required: rill implements the ExtendedS3 destination only.
  std::optional<rill::delivery::extended_s3_destination_configuration> extended_s3_destination_configuration{};
  /// At most 50 tags.
  std::map<std::string, std::string> tags{};
};

struct create_delivery_stream_result {
  std::string delivery_stream_arn{};
};

struct delete_delivery_stream_request {
  std::string delivery_stream_name{};
  bool allow_force_delete = false;
};

struct describe_delivery_stream_request {
  std::string delivery_stream_name{};
  /// 1..10000 (one destination per stream in rill).
  std::optional<std::int32_t> limit{};
  std::optional<std::string> exclusive_start_destination_id{};
};

struct kinesis_stream_source_description {
  std::string kinesis_stream_arn{};
  std::string role_arn{};
  /// When the reader started (LATEST at that time).
  std::optional<timestamp> delivery_start_timestamp{};
};

struct source_description {
  std::optional<rill::delivery::kinesis_stream_source_description> kinesis_stream_source_description{};
};

struct destination_description {
  /// "destinationId-000000000001".
  std::string destination_id{};
  /// The configuration with every default filled in.
  std::optional<rill::delivery::extended_s3_destination_configuration> extended_s3_destination_description{};
};

struct delivery_stream_description {
  std::string delivery_stream_name{};
  /// `arn:aws:firehose:<region>:<account>:deliverystream/<name>`.
  std::string delivery_stream_arn{};
  /// "CREATING", "ACTIVE", "DELETING".
  std::string delivery_stream_status{};
  /// "DirectPut" or "KinesisStreamAsSource".
  std::string delivery_stream_type{};
  /// "1"; the `<version>` of object names.
  std::string version_id{};
  std::optional<timestamp> create_timestamp{};
  std::optional<timestamp> last_update_timestamp{};
  std::optional<rill::delivery::source_description> source{};
  std::vector<rill::delivery::destination_description> destinations{};
  bool has_more_destinations = false;
};

struct describe_delivery_stream_result {
  rill::delivery::delivery_stream_description delivery_stream_description{};
};

struct list_delivery_streams_request {
  /// 1..10000; default 10.
  std::optional<std::int32_t> limit{};
  /// Only streams of this type ("DirectPut", "KinesisStreamAsSource").
  std::optional<std::string> delivery_stream_type{};
  std::optional<std::string> exclusive_start_delivery_stream_name{};
};

struct list_delivery_streams_result {
  /// In lexicographic order.
  std::vector<std::string> delivery_stream_names{};
  bool has_more_delivery_streams = false;
};

/// Record: the data blob, 0..1,024,000 bytes.
struct record {
  std::string_view data{};
};

struct put_record_request {
  std::string delivery_stream_name{};
  rill::delivery::record record{};
};

struct put_record_result {
  std::string record_id{};
  bool encrypted = false;
};

struct put_record_batch_request {
  std::string delivery_stream_name{};
  /// 1..500 records, at most 4 MiB in all.
  std::vector<rill::delivery::record> records{};
};

/// Either a record id, or an error code ("ServiceUnavailableException",
/// "InternalFailure") and message.
struct put_record_batch_response_entry {
  std::optional<std::string> record_id{};
  std::optional<std::string> error_code{};
  std::optional<std::string> error_message{};
};

struct put_record_batch_result {
  std::int32_t failed_put_count = 0;
  bool encrypted = false;
  /// Same length and order as the request's records.
  std::vector<rill::delivery::put_record_batch_response_entry> request_responses{};
};

// ---------------------------------------------------------------------------
// Transformation: the Lambda processor's event and response, as C++ values.

struct kinesis_record_metadata {
  std::string shard_id{};
  std::string partition_key{};
  /// Epoch milliseconds.
  std::int64_t approximate_arrival_timestamp = 0;
  std::string sequence_number{};
  std::int64_t subsequence_number = 0;
};

struct transformation_event_record {
  std::string record_id{};
  /// Epoch milliseconds.
  std::int64_t approximate_arrival_timestamp = 0;
  /// The raw bytes (the Lambda JSON carries them in base64; see to_json()).
  std::string data{};
  /// Present when the source is a Kinesis stream.
  std::optional<rill::delivery::kinesis_record_metadata> kinesis_record_metadata{};
};

struct transformation_event {
  std::string invocation_id{};
  std::string delivery_stream_arn{};
  /// Present when the source is a Kinesis stream.
  std::optional<std::string> source_kinesis_stream_arn{};
  std::string region{};
  std::vector<rill::delivery::transformation_event_record> records{};

  /// The event as the Lambda function would receive it (data in base64).
  [[nodiscard]] std::string to_json() const;
};

struct transformation_response_record {
  std::string record_id{};
  /// "Ok", "Dropped" or "ProcessingFailed".
  std::string result{};
  /// The new bytes (raw, not base64). Required for "Ok".
  std::optional<std::string> data{};
  /// metadata.partitionKeys, for dynamic partitioning (partitionKeyFromLambda).
  std::map<std::string, std::string> partition_keys{};
};

struct transformation_response {
  std::vector<rill::delivery::transformation_response_record> records{};
};

/// A transformation function, registered under a Lambda ARN. It returns the
/// response, or an error for a failed invocation (retried NumberOfRetries
/// times, then every record of the batch is processing-failed). It runs on the
/// thread that flushes the batch (a put_record caller, flush(), or the
/// scheduler's thread) and must not call back into the same firehose.
using transformation_function = std::function<result<transformation_response>(const transformation_event&)>;

/// An object for a callback sink: `bucket` is the bucket name of the ARN,
/// `key` the full object key.
struct delivered_object {
  std::string bucket{};
  std::string key{};
  std::string_view body{};
  /// "", "gzip", "zip", "snappy-java", "hadoop-snappy", "zstd".
  std::string content_encoding{};
};

/// A callback sink. Returning an error fails the delivery attempt (retried with
/// backoff within the retry duration; a retry after the sink had kept the bytes
/// is a duplicate, the at-least-once case). Must not call back into the firehose.
using object_sink = std::function<result<void>(const delivered_object&)>;

/// Counters of one delivery stream since it was created (rill; in addition to
/// the CloudWatch metrics). Records are counted after transformation where
/// one applies: accepted = delivered + dropped + error_output + pending + lost.
struct delivery_stream_statistics {
  /// Records accepted by put_record(_batch) or read from the source stream.
  std::int64_t incoming_records = 0;
  std::int64_t incoming_bytes = 0;
  /// Records in objects written to the destination (counted once per record).
  std::int64_t delivered_records = 0;
  std::int64_t delivered_objects = 0;
  /// Records a transformation returned as Dropped.
  std::int64_t dropped_records = 0;
  /// Records written to the error output or the backup as failed data.
  std::int64_t error_output_records = 0;
  /// Records written again after an attempt the sink failed: possible
  /// duplicates (at-least-once).
  std::int64_t retried_records = 0;
  /// Failed delivery attempts (destination and error output).
  std::int64_t failed_attempts = 0;
  /// Records written to the backup destination (source record backup).
  std::int64_t backup_records = 0;
  /// Records buffered or awaiting a retry now.
  std::int64_t pending_records = 0;
  /// Records that could not be delivered anywhere at shutdown (none unless the
  /// destination and backup both still failed then).
  std::int64_t lost_records = 0;
};

}  // namespace rill::delivery

namespace rill {

/// The operations of Amazon Data Firehose that rill implements.
///
/// Thread safety: every operation may be called from any thread concurrently.
/// Errors common to all: ValidationException (a model constraint: length,
/// pattern, range, enum), ResourceNotFoundException (no such delivery stream).
class firehose {
 public:
  virtual ~firehose() = default;

  /// Creates a delivery stream (CREATING, then ACTIVE after
  /// firehose_options::create_delay; at once when that is zero).
  /// Errors: ValidationException, InvalidArgumentException (semantic rules:
  /// prefixes, processors, sources, exactly one destination),
  /// ResourceInUseException (name taken), LimitExceededException (stream count).
  virtual result<delivery::create_delivery_stream_result> create_delivery_stream(
      const delivery::create_delivery_stream_request& req) = 0;
  /// Deletes a delivery stream: what is buffered is delivered first (an orderly
  /// shutdown of the stream), then it is gone.
  /// Errors: ResourceNotFoundException, ResourceInUseException (CREATING, unless
  /// allow_force_delete).
  virtual result<void> delete_delivery_stream(const delivery::delete_delivery_stream_request& req) = 0;
  /// The stream's configuration, with defaults filled in, and its status.
  virtual result<delivery::describe_delivery_stream_result> describe_delivery_stream(
      const delivery::describe_delivery_stream_request& req) = 0;
  /// Stream names in lexicographic order, paginated by exclusive start name.
  virtual result<delivery::list_delivery_streams_result> list_delivery_streams(
      const delivery::list_delivery_streams_request& req) = 0;
  /// Accepts one record. Errors: ResourceNotFoundException (also while not
  /// ACTIVE), InvalidSourceException (the source is a Kinesis stream),
  /// ValidationException (over 1,024,000 bytes).
  virtual result<delivery::put_record_result> put_record(const delivery::put_record_request& req) = 0;
  /// Accepts 1..500 records (4 MiB in all); results per record, in request
  /// order. Errors as put_record; InvalidArgumentException over 4 MiB.
  virtual result<delivery::put_record_batch_result> put_record_batch(const delivery::put_record_batch_request& req) = 0;
};

/// Configuration of local_firehose.
struct firehose_options {
  /// The clock for buffering, retries and polling. Required.
  std::shared_ptr<rill::clock> clock{};
  /// Where bucket `b` lives: `<s3_directory>/b/`. Required unless `sink` is set.
  std::filesystem::path s3_directory{};
  /// When set, objects go to this callback instead of the directory.
  delivery::object_sink sink{};
  /// The file system objects and checkpoints reach the disk through
  /// (rill/file_system.hpp). Null: rill::posix_file_system().
  std::shared_ptr<rill::file_system> file_system{};
  /// Transformation functions by Lambda ARN (`arn:aws:lambda:…`).
  std::map<std::string, delivery::transformation_function> lambda_functions{};
  /// The Kinesis implementation a KinesisStreamAsSource stream reads (not owned
  /// beyond this pointer's life). Required for such streams.
  std::shared_ptr<rill::kinesis> kinesis{};
  /// Where the built-in reader keeps its checkpoints (`<dir>/<stream>.checkpoint`).
  /// Empty: in memory only.
  std::filesystem::path checkpoint_directory{};
  /// Metrics in namespace AWS/Firehose, dimension DeliveryStreamName. Null: none.
  std::shared_ptr<metrics_registry> metrics{};
  /// Used in ARNs and in the transformation event.
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  /// How long a new stream stays CREATING. Zero: ACTIVE inside the call.
  duration create_delay{0};
  /// Delivery streams allowed at once.
  std::int32_t delivery_stream_limit = 5000;
  /// Active partitions per stream (dynamic partitioning) before overflow to the
  /// error output; AWS's default quota is 500.
  std::int32_t active_partition_limit = 500;
  /// How often the built-in reader polls each shard (AWS: once per second).
  duration source_poll_interval = std::chrono::seconds(1);
  /// Retry duration of the S3 destination when dynamic partitioning gives
  /// none (AWS: 24 hours).
  duration default_retry_duration = std::chrono::hours(24);
  /// Seed for object UUIDs, random strings and retry jitter (0: from std::random_device).
  std::uint64_t random_seed = 0;
  /// GZIP with zlib at `gzip_level` (1..9; AWS's level is not documented), or,
  /// with `gzip_igzip`, with ISA-L's igzip at min(gzip_level, 3): several times
  /// faster, larger objects (docs/performance.md). Either way standard gzip.
  int gzip_level = 6;
  bool gzip_igzip = false;
};

/// The in-process Firehose.
///
/// Thread safety: every method may be called from any thread concurrently.
/// Work that falls due (interval flushes, retries, source polling) runs on a
/// scheduler of `options.clock`: inside manual_clock::advance() for the manual
/// clock. Transformation functions and sinks are called with an internal lock
/// held: they must not call into this object.
class local_firehose final : public firehose {
 public:
  /// Throws std::invalid_argument if options.clock is null, or if neither
  /// s3_directory nor sink is set.
  explicit local_firehose(firehose_options options);
  /// shutdown(), then releases everything.
  ~local_firehose() override;
  local_firehose(const local_firehose&) = delete;
  local_firehose& operator=(const local_firehose&) = delete;

  result<delivery::create_delivery_stream_result> create_delivery_stream(
      const delivery::create_delivery_stream_request& req) override;
  result<void> delete_delivery_stream(const delivery::delete_delivery_stream_request& req) override;
  result<delivery::describe_delivery_stream_result> describe_delivery_stream(
      const delivery::describe_delivery_stream_request& req) override;
  result<delivery::list_delivery_streams_result> list_delivery_streams(
      const delivery::list_delivery_streams_request& req) override;
  result<delivery::put_record_result> put_record(const delivery::put_record_request& req) override;
  result<delivery::put_record_batch_result> put_record_batch(const delivery::put_record_batch_request& req) override;

  // --- Beyond the Firehose API -------------------------------------------------

  /// Delivers everything buffered in one stream now, ignoring the hints (the
  /// transformation stage first, then every partition's buffer). Deliveries
  /// that fail stay scheduled for retry. Errors: ResourceNotFoundException.
  result<void> flush(const std::string& delivery_stream_name);
  /// The stream's counters. Errors: ResourceNotFoundException.
  result<delivery::delivery_stream_statistics> statistics(const std::string& delivery_stream_name) const;
  /// Orderly shutdown: stops the source readers, flushes every buffer, tries
  /// every pending retry once more (then the backup), and stops the scheduler.
  /// Nothing buffered is lost unless both destination and backup fail; such
  /// records are counted in statistics().lost_records and logged, and a stream
  /// source keeps them unacknowledged (its checkpoint stays before them).
  /// Returns InternalFailure when records were lost. Idempotent; later calls
  /// except statistics() fail with ResourceNotFoundException.
  result<void> shutdown();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rill
