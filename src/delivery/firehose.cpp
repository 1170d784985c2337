// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// local_firehose: delivery streams in process. The flow of one record:
//
//   put_record / source poll
//     -> [backup buffer, when S3BackupMode is Enabled: the source record]
//     -> stage 1, when a Lambda processor is configured: the processor buffer
//        (BufferSizeInMBs / BufferIntervalInSeconds), then the transformation
//     -> routing: partition keys (MetadataExtraction query, Lambda metadata),
//        one buffer per partition, the active-partition cap
//     -> stage 2: the destination buffer (SizeInMBs / IntervalInSeconds)
//     -> an object: records (+ delimiter) -> compression -> key -> sink or file
//     -> retries with backoff within the retry duration -> backup or keep trying
//
// Records that fail on the way (ProcessingFailed, no partition key, over the
// partition cap) become error envelopes, written as one object per error type
// at the end of the operation that produced them.
//
// One mutex guards everything; scheduler tasks take it too. Transformation
// functions and sinks run under it.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <stdexcept>

#include "delivery/compression.hpp"
#include "delivery/expressions.hpp"
#include "delivery/file_system.hpp"
#include "delivery/source.hpp"
#include "rill/firehose.hpp"
#include "rill/kinesis.hpp"
#include "rill/logging.hpp"

namespace rill {

using namespace delivery;

namespace {

constexpr std::int64_t mib = 1024 * 1024;
constexpr std::size_t max_record_bytes = 1'024'000;
constexpr std::size_t max_batch_records = 500;
constexpr std::size_t max_batch_bytes = 4 * mib;
constexpr std::string_view metric_namespace = "AWS/Firehose";

error validation(std::string message) { return error(error_code::validation_exception, std::move(message)); }
error invalid(std::string message) { return error(error_code::invalid_argument_exception, std::move(message)); }
error validation_pattern(std::string_view value, std::string_view field, std::string_view pattern) {
  return validation(fmt::format(
      "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: Member must satisfy regular "
      "expression pattern: {}",
      value, field, pattern));
}
error validation_length(std::string_view field, std::size_t min, std::size_t max) {
  return validation(fmt::format(
      "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must have length between {} "
      "and {}",
      field, min, max));
}
error validation_range(std::string_view field, std::int64_t value, std::int64_t min, std::int64_t max) {
  return validation(fmt::format(
      "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: Member must have value between "
      "{} and {}",
      value, field, min, max));
}
error validation_enum(std::string_view value, std::string_view field, std::string_view set) {
  return validation(fmt::format(
      "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: Member must satisfy enum value "
      "set: [{}]",
      value, field, set));
}

bool matches_name(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

std::int64_t epoch_ms(timestamp t) { return t.time_since_epoch().count(); }

std::string utc_suffix_time(timestamp t) {
  using namespace std::chrono;
  auto day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss hms{floor<seconds>(t - day)};
  return fmt::format("{:04d}-{:02d}-{:02d}-{:02d}-{:02d}-{:02d}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                     hms.minutes().count(), hms.seconds().count());
}

// --- the configuration, checked and compiled ------------------------------------------------

struct target {
  std::string bucket{};
  prefix data_prefix{};
  prefix error_prefix{};
  compression comp = compression::uncompressed;
  std::string extension{};
  std::int64_t size_bytes = 5 * mib;
  duration interval = std::chrono::seconds(300);
};

enum class backup_mode : std::uint8_t { disabled, all_data, failed_data_only };

struct lambda_config {
  std::string arn{};
  transformation_function fn{};
  int retries = 3;
  std::int64_t size_bytes = mib;
  duration interval = std::chrono::seconds(60);
};

struct compiled_config {
  target main{};
  std::optional<target> backup_target{};
  backup_mode backup = backup_mode::disabled;
  bool dynamic_partitioning = false;
  std::optional<metadata_query> query{};
  std::optional<lambda_config> lambda{};
  std::string delimiter{};
  bool append_delimiter = false;
  duration retry_duration{};
  extended_s3_destination_configuration described{};
};

result<std::string> bucket_of(std::string_view arn, std::string_view field) {
  // arn:<partition>:s3:::<bucket>, bucket of [\w.-]{1,255}
  if (arn.size() < 1 || arn.size() > 2048) return validation_length(field, 1, 2048);
  constexpr std::string_view pattern = "arn:.*:s3:::[\\w\\.\\-]{1,255}";
  if (arn.substr(0, 4) != "arn:") return validation_pattern(arn, field, pattern);
  auto at = arn.find(":s3:::");
  if (at == std::string_view::npos) return validation_pattern(arn, field, pattern);
  auto bucket = arn.substr(at + 6);
  if (bucket.empty() || bucket.size() > 255 || !matches_name(bucket) || bucket == "." || bucket == "..")
    return validation_pattern(arn, field, pattern);
  return std::string(bucket);
}

result<void> check_role(std::string_view role, std::string_view field) {
  if (role.empty() || role.size() > 512) return validation_length(field, 1, 512);
  if (role.substr(0, 4) != "arn:") return validation_pattern(role, field, "arn:.*");
  return {};
}

result<compression> compression_of(const std::optional<std::string>& name, std::string_view field) {
  if (!name) return compression::uncompressed;
  auto c = parse_compression(*name);
  if (!c) return validation_enum(*name, field, "ZIP, HADOOP_SNAPPY, Snappy, GZIP, UNCOMPRESSED, ZSTD");
  return *c;
}

result<void> hints_of(const std::optional<buffering_hints>& hints, std::string_view field, int min_interval,
                      target& t) {
  if (!hints) return {};
  if (hints->size_in_mbs.has_value() != hints->interval_in_seconds.has_value())
    return invalid(fmt::format("{}: SizeInMBs and IntervalInSeconds must be given together.", field));
  if (!hints->size_in_mbs) return {};
  if (*hints->size_in_mbs < 1 || *hints->size_in_mbs > 128)
    return validation_range(std::string(field) + ".sizeInMBs", *hints->size_in_mbs, 1, 128);
  if (*hints->interval_in_seconds < min_interval || *hints->interval_in_seconds > 900)
    return validation_range(std::string(field) + ".intervalInSeconds", *hints->interval_in_seconds, min_interval, 900);
  t.size_bytes = std::int64_t{*hints->size_in_mbs} * mib;
  t.interval = std::chrono::seconds(*hints->interval_in_seconds);
  return {};
}

// Prefix and ErrorOutputPrefix with Firehose's semantic rules (docs/delivery.md, "Prefixes").
result<void> prefixes_of(const std::optional<std::string>& pre, const std::optional<std::string>& err,
                         std::string_view field, bool dynamic_partitioning, target& t) {
  const std::string p = pre.value_or("");
  if (p.size() > 1024) return validation_length(std::string(field) + ".prefix", 0, 1024);
  if (err && err->size() > 1024) return validation_length(std::string(field) + ".errorOutputPrefix", 0, 1024);
  auto data = prefix::parse(p, "Prefix");
  if (!data) return data.error();
  if (data->has(prefix_segment::kind::error_output_type))
    return invalid("The Prefix cannot contain !{firehose:error-output-type}.");
  const bool has_keys =
      data->has(prefix_segment::kind::key_from_query) || data->has(prefix_segment::kind::key_from_lambda);
  if (has_keys && !dynamic_partitioning)
    return invalid("The Prefix uses partitionKeyFrom expressions but dynamic partitioning is not enabled.");
  if (dynamic_partitioning && !has_keys)
    return invalid(
        "Dynamic partitioning is enabled but the Prefix uses no partitionKeyFromQuery or "
        "partitionKeyFromLambda expression.");
  const bool error_given = err && !err->empty();
  if (!error_given && data->has_expressions())
    return invalid("ErrorOutputPrefix must be specified when the Prefix contains expressions.");
  if (!error_given && dynamic_partitioning)
    return invalid("ErrorOutputPrefix must be specified when dynamic partitioning is enabled.");
  prefix error_prefix;
  if (error_given) {
    auto e = prefix::parse(*err, "ErrorOutputPrefix");
    if (!e) return e.error();
    if (!e->has(prefix_segment::kind::error_output_type))
      return invalid("The ErrorOutputPrefix must contain at least one !{firehose:error-output-type} expression.");
    if (e->has(prefix_segment::kind::key_from_query) || e->has(prefix_segment::kind::key_from_lambda))
      return invalid("The ErrorOutputPrefix cannot contain partitionKeyFrom expressions.");
    error_prefix = std::move(*e);
  } else {
    // Rule 3: errors go to <prefix><error-output-type>/yyyy/MM/dd/HH/.
    auto e = prefix::parse(p + "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}", "ErrorOutputPrefix");
    error_prefix = std::move(*e);
  }
  // Rule 1: a Prefix without a timestamp gets !{timestamp:yyyy/MM/dd/HH/}, by plain
  // concatenation (not with dynamic partitioning, whose keys place the objects).
  if (!data->has(prefix_segment::kind::timestamp) && !dynamic_partitioning) {
    data = prefix::parse(p + "!{timestamp:yyyy/MM/dd/HH/}", "Prefix");
  }
  t.data_prefix = std::move(*data);
  t.error_prefix = std::move(error_prefix);
  return {};
}

std::string unescape_delimiter(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      switch (v[++i]) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '\\': out += '\\'; break;
        default: out += '\\', out += v[i]; break;
      }
    } else {
      out += v[i];
    }
  }
  return out;
}

result<double> number_param(std::string_view value, std::string_view name, double min, double max) {
  double v = 0;
  try {
    std::size_t used = 0;
    v = std::stod(std::string(value), &used);
    if (used != value.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    return invalid(fmt::format("The processor parameter {} must be a number, not '{}'.", name, value));
  }
  if (!(v >= min && v <= max))
    return invalid(fmt::format("The processor parameter {} must be between {} and {}.", name, min, max));
  return v;
}

result<void> processors_of(const extended_s3_destination_configuration& c, const firehose_options& options,
                           compiled_config& out) {
  if (!c.processing_configuration) return {};
  const auto& pc = *c.processing_configuration;
  static constexpr std::string_view types[] = {"RecordDeAggregation",     "Decompression",
                                               "CloudWatchLogProcessing", "Lambda",
                                               "MetadataExtraction",      "AppendDelimiterToRecord"};
  static constexpr std::string_view names[] = {
      "LambdaArn", "NumberOfRetries",   "MetadataExtractionQuery", "JsonParsingEngine",
      "RoleArn",   "BufferSizeInMBs",   "BufferIntervalInSeconds", "SubRecordType",
      "Delimiter", "CompressionFormat", "DataMessageExtraction"};
  const bool enabled = pc.enabled.value_or(!pc.processors.empty());
  std::set<std::string> seen;
  for (std::size_t i = 0; i < pc.processors.size(); ++i) {
    const auto& p = pc.processors[i];
    const auto field = fmt::format("extendedS3DestinationConfiguration.processingConfiguration.processors.{}", i + 1);
    if (std::find(std::begin(types), std::end(types), p.type) == std::end(types))
      return validation_enum(p.type, field + ".member.type",
                             "RecordDeAggregation, Decompression, CloudWatchLogProcessing, Lambda, "
                             "MetadataExtraction, AppendDelimiterToRecord");
    if (!seen.insert(p.type).second) return invalid(fmt::format("Processor type {} is given twice.", p.type));
    std::map<std::string, std::string> params;
    for (std::size_t j = 0; j < p.parameters.size(); ++j) {
      const auto& pp = p.parameters[j];
      const auto pfield = fmt::format("{}.member.parameters.{}.member", field, j + 1);
      if (std::find(std::begin(names), std::end(names), pp.parameter_name) == std::end(names))
        return validation_enum(pp.parameter_name, pfield + ".parameterName",
                               "LambdaArn, NumberOfRetries, MetadataExtractionQuery, JsonParsingEngine, RoleArn, "
                               "BufferSizeInMBs, BufferIntervalInSeconds, SubRecordType, Delimiter, "
                               "CompressionFormat, DataMessageExtraction");
      if (pp.parameter_value.empty() || pp.parameter_value.size() > 5120)
        return validation_length(pfield + ".parameterValue", 1, 5120);
      if (pp.parameter_value.find_first_not_of(" \t\r\n") == std::string::npos)
        return validation_pattern(pp.parameter_value, pfield + ".parameterValue", "^(?!\\s*$).+");
      params[pp.parameter_name] = pp.parameter_value;
    }
    auto allow_only = [&](std::initializer_list<std::string_view> allowed) -> result<void> {
      for (const auto& [k, v] : params)
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
          return invalid(fmt::format("Processor {} does not take the parameter {}.", p.type, k));
      return {};
    };
    if (p.type == "Lambda") {
      if (auto r =
              allow_only({"LambdaArn", "NumberOfRetries", "RoleArn", "BufferSizeInMBs", "BufferIntervalInSeconds"});
          !r)
        return r;
      if (!params.count("LambdaArn")) return invalid("The Lambda processor requires the LambdaArn parameter.");
      lambda_config l;
      l.arn = params["LambdaArn"];
      auto fn = options.lambda_functions.find(l.arn);
      if (fn == options.lambda_functions.end() || !fn->second)
        return invalid(
            fmt::format("No transformation function is registered for {} (firehose_options::"
                        "lambda_functions).",
                        l.arn));
      l.fn = fn->second;
      if (params.count("NumberOfRetries")) {
        auto n = number_param(params["NumberOfRetries"], "NumberOfRetries", 0, 300);
        if (!n) return n.error();
        l.retries = static_cast<int>(*n);
      }
      if (params.count("BufferSizeInMBs")) {
        auto n = number_param(params["BufferSizeInMBs"], "BufferSizeInMBs", 0.2, 3);
        if (!n) return n.error();
        l.size_bytes = static_cast<std::int64_t>(*n * mib);
      }
      if (params.count("BufferIntervalInSeconds")) {
        auto n = number_param(params["BufferIntervalInSeconds"], "BufferIntervalInSeconds", 0, 900);
        if (!n) return n.error();
        l.interval = std::chrono::seconds(static_cast<std::int64_t>(*n));
      }
      if (enabled) out.lambda = std::move(l);
    } else if (p.type == "MetadataExtraction") {
      if (auto r = allow_only({"MetadataExtractionQuery", "JsonParsingEngine"}); !r) return r;
      if (!params.count("MetadataExtractionQuery") || !params.count("JsonParsingEngine"))
        return invalid("MetadataExtraction requires MetadataExtractionQuery and JsonParsingEngine.");
      if (params["JsonParsingEngine"] != "JQ-1.6")
        return invalid(
            fmt::format("JsonParsingEngine '{}' is not supported; use JQ-1.6.", params["JsonParsingEngine"]));
      auto q = metadata_query::parse(params["MetadataExtractionQuery"]);
      if (!q) return q.error();
      if (enabled) out.query = std::move(*q);
    } else if (p.type == "AppendDelimiterToRecord") {
      if (auto r = allow_only({"Delimiter"}); !r) return r;
      if (enabled) {
        out.append_delimiter = true;
        out.delimiter = params.count("Delimiter") ? unescape_delimiter(params["Delimiter"]) : "\n";
      }
    } else {
      return invalid(fmt::format("rill does not run the {} processor.", p.type));
    }
  }
  return {};
}

result<compiled_config> compile(const create_delivery_stream_request& req, const firehose_options& options) {
  compiled_config out;
  const auto& c = *req.extended_s3_destination_configuration;
  constexpr std::string_view f = "extendedS3DestinationConfiguration";
  if (auto r = check_role(c.role_arn, std::string(f) + ".roleARN"); !r) return r.error();
  auto bucket = bucket_of(c.bucket_arn, std::string(f) + ".bucketARN");
  if (!bucket) return bucket.error();
  out.main.bucket = *bucket;
  auto comp = compression_of(c.compression_format, std::string(f) + ".compressionFormat");
  if (!comp) return comp.error();
  out.main.comp = *comp;
  if (auto r = hints_of(c.buffering_hints, std::string(f) + ".bufferingHints", 0, out.main); !r) return r.error();
  if (c.file_extension) {
    const auto& e = *c.file_extension;
    if (e.size() > 128) return validation_length(std::string(f) + ".fileExtension", 0, 128);
    const bool ok = e.empty() || (e[0] == '.' && e.size() > 1 && std::all_of(e.begin() + 1, e.end(), [](char ch) {
                                    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                                           std::string_view("!-_.*'()").find(ch) != std::string_view::npos;
                                  }));
    if (!ok) return validation_pattern(e, std::string(f) + ".fileExtension", "^$|\\.[0-9a-z!\\-_.*'()]+");
  }
  out.main.extension =
      c.file_extension && !c.file_extension->empty() ? *c.file_extension : std::string(file_extension(out.main.comp));
  if (c.custom_time_zone) {
    const auto& z = *c.custom_time_zone;
    if (z.size() > 50) return validation_length(std::string(f) + ".customTimeZone", 0, 50);
    if (!std::all_of(z.begin(), z.end(), [](char ch) {
          return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '/' || ch == '_';
        }))
      return validation_pattern(z, std::string(f) + ".customTimeZone", "^$|[a-zA-Z/_]+");
    if (!z.empty() && z != "UTC" && z != "Etc/UTC")
      return invalid(fmt::format("CustomTimeZone '{}' is not supported: rill evaluates prefixes in UTC.", z));
  }
  if (c.dynamic_partitioning_configuration) {
    const auto& dp = *c.dynamic_partitioning_configuration;
    out.dynamic_partitioning = dp.enabled.value_or(false);
    if (dp.retry_options && dp.retry_options->duration_in_seconds) {
      auto d = *dp.retry_options->duration_in_seconds;
      if (d < 0 || d > 7200)
        return validation_range(std::string(f) + ".dynamicPartitioningConfiguration.retryOptions.durationInSeconds", d,
                                0, 7200);
      out.retry_duration = std::chrono::seconds(d);
    } else {
      out.retry_duration = std::chrono::seconds(300);
    }
  }
  if (!out.dynamic_partitioning) out.retry_duration = options.default_retry_duration;
  if (auto r = processors_of(c, options, out); !r) return r.error();
  if (!out.dynamic_partitioning && out.query)
    return invalid("The MetadataExtraction processor requires dynamic partitioning to be enabled.");
  if (auto r = prefixes_of(c.prefix, c.error_output_prefix, f, out.dynamic_partitioning, out.main); !r)
    return r.error();
  for (const auto& key : out.main.data_prefix.keys(prefix_segment::kind::key_from_query)) {
    if (!out.query)
      return invalid(fmt::format("!{{partitionKeyFromQuery:{}}} needs a MetadataExtraction processor.", key));
    auto names = out.query->names();
    if (std::find(names.begin(), names.end(), key) == names.end())
      return invalid(fmt::format("The partition key '{}' is not defined by the MetadataExtractionQuery.", key));
  }
  if (!out.main.data_prefix.keys(prefix_segment::kind::key_from_lambda).empty() && !out.lambda)
    return invalid("!{partitionKeyFromLambda:…} needs an enabled Lambda processor.");

  const std::string mode = c.s3_backup_mode.value_or("Disabled");
  if (mode == "Disabled")
    out.backup = backup_mode::disabled;
  else if (mode == "Enabled" || mode == "AllData")
    out.backup = backup_mode::all_data;
  else if (mode == "FailedDataOnly")
    out.backup = backup_mode::failed_data_only;
  else
    return validation_enum(mode, std::string(f) + ".s3BackupMode", "Disabled, Enabled, AllData, FailedDataOnly");
  if (out.backup != backup_mode::disabled && !c.s3_backup_configuration)
    return invalid(fmt::format("S3BackupMode {} requires an S3BackupConfiguration.", mode));
  if (out.backup == backup_mode::disabled && c.s3_backup_configuration)
    return invalid("S3BackupConfiguration is given but S3BackupMode is Disabled.");
  if (c.s3_backup_configuration) {
    const auto& b = *c.s3_backup_configuration;
    constexpr std::string_view bf = "extendedS3DestinationConfiguration.s3BackupConfiguration";
    if (auto r = check_role(b.role_arn, std::string(bf) + ".roleARN"); !r) return r.error();
    target t;
    auto bb = bucket_of(b.bucket_arn, std::string(bf) + ".bucketARN");
    if (!bb) return bb.error();
    t.bucket = *bb;
    auto bc = compression_of(b.compression_format, std::string(bf) + ".compressionFormat");
    if (!bc) return bc.error();
    t.comp = *bc;
    t.extension = std::string(file_extension(t.comp));
    // Zero buffering is not available for the S3 backup: 60..900 s.
    if (auto r = hints_of(b.buffering_hints, std::string(bf) + ".bufferingHints", 60, t); !r) return r.error();
    if (auto r = prefixes_of(b.prefix, b.error_output_prefix, bf, false, t); !r) return r.error();
    out.backup_target = std::move(t);
  }
  out.described = c;
  return out;
}

// --- runtime state --------------------------------------------------------------------------

struct rec_meta {
  std::size_t offset = 0;  // in the buffer's body
  std::size_t size = 0;    // the record's bytes, without the delimiter
  timestamp arrival{};
  std::uint64_t ack = 0;  // 0: no source acknowledgement
};

struct object_buffer {
  std::string body{};
  std::vector<rec_meta> recs{};
  std::optional<scheduler::task_id> timer{};
  std::map<std::string, std::string> query_keys{};
  std::map<std::string, std::string> lambda_keys{};
};

struct stage1_record {
  std::string data{};
  timestamp arrival{};
  std::string record_id{};
  std::uint64_t ack = 0;
  std::optional<kinesis_record_metadata> kmeta{};
};

struct error_record {
  std::string raw{};
  timestamp arrival{};
  std::string code{};
  std::string message{};
  int attempts = 1;
  std::uint64_t ack = 0;
};

enum class job_kind : std::uint8_t { data, error, backup_source, backup_failed };

struct job {
  job_kind kind = job_kind::data;
  const target* tgt = nullptr;
  std::string key{};
  std::string body{};  // the object as written
  std::string raw{};   // the uncompressed records (for a failed-data backup)
  std::vector<rec_meta> recs{};
  std::vector<std::uint64_t> acks{};
  std::int64_t record_count = 0;
  std::int64_t record_bytes = 0;
  timestamp oldest{};
  timestamp first_attempt{};
  int attempts = 0;
  bool retry_after_failure = false;
  std::optional<scheduler::task_id> timer{};
};

struct shard_acks {
  std::string shard{};
  std::uint64_t base = 0;
  std::deque<std::pair<std::string, bool>> queue{};
};

struct stream {
  std::uint64_t gen = 0;
  std::string name{};
  std::string arn{};
  std::string type{};
  std::string status{};
  timestamp created{};
  compiled_config cfg{};
  std::optional<kinesis_stream_source_configuration> source_cfg{};
  std::unique_ptr<record_source> source{};
  std::optional<scheduler::task_id> poll_timer{};
  std::map<std::string, object_buffer> partitions{};
  object_buffer backup_buffer{};
  std::vector<stage1_record> stage1{};
  std::size_t stage1_bytes = 0;
  std::optional<scheduler::task_id> stage1_timer{};
  bool stage1_due = false;
  std::set<std::string> due_now{};
  bool backup_due = false;
  std::map<std::uint64_t, job> jobs{};
  std::uint64_t next_job = 1;
  std::map<std::string, std::vector<error_record>> pending_errors{};
  std::vector<shard_acks> acks{};
  std::map<std::string, std::size_t> ack_index{};
  delivery_stream_statistics stats{};
  std::uint64_t record_counter = 0;
  std::string record_id_prefix{};
  // A delivered object's buffer, kept for the next partition buffer to reuse
  // (no page faults and no regrowth for every object).
  std::string spare_body{};
  std::map<std::string, std::string> tags{};
};

}  // namespace

std::string delivery::transformation_event::to_json() const {
  nlohmann::json j;
  j["invocationId"] = invocation_id;
  j["deliveryStreamArn"] = delivery_stream_arn;
  if (source_kinesis_stream_arn) j["sourceKinesisStreamArn"] = *source_kinesis_stream_arn;
  j["region"] = region;
  j["records"] = nlohmann::json::array();
  for (const auto& r : records) {
    nlohmann::json jr{{"recordId", r.record_id},
                      {"approximateArrivalTimestamp", r.approximate_arrival_timestamp},
                      {"data", base64_encode(r.data)}};
    if (r.kinesis_record_metadata) {
      const auto& m = *r.kinesis_record_metadata;
      jr["kinesisRecordMetadata"] = {{"shardId", m.shard_id},
                                     {"partitionKey", m.partition_key},
                                     {"approximateArrivalTimestamp", m.approximate_arrival_timestamp},
                                     {"sequenceNumber", m.sequence_number},
                                     {"subsequenceNumber", m.subsequence_number}};
    }
    j["records"].push_back(std::move(jr));
  }
  return j.dump();
}

struct local_firehose::impl {
  firehose_options options;
  std::shared_ptr<file_system> fs;
  std::unique_ptr<scheduler> sched;
  mutable std::mutex mu;
  std::map<std::string, std::unique_ptr<stream>> streams;
  std::map<std::uint64_t, stream*> by_gen;
  std::uint64_t next_gen = 1;
  bool shut = false;
  std::mt19937_64 rng;
  std::uint64_t log_count = 0;

  explicit impl(firehose_options o) : options(std::move(o)) {
    if (!options.clock) throw std::invalid_argument("firehose_options::clock is required");
    if (options.s3_directory.empty() && !options.sink)
      throw std::invalid_argument("firehose_options needs s3_directory or sink");
    fs = options.file_system ? options.file_system : posix_file_system();
    sched = options.clock->make_scheduler();
    rng.seed(options.random_seed ? options.random_seed : std::random_device{}());
  }

  timestamp now() const { return options.clock->now(); }

  // --- helpers ---------------------------------------------------------------------------

  void metric(const stream& s, std::string_view name, double value, std::string_view unit) {
    if (!options.metrics) return;
    metric_dimension dim{"DeliveryStreamName", s.name};
    options.metrics->put(metric_namespace, name, std::span<const metric_dimension>(&dim, 1), value, unit);
  }

  std::string hex(std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    while (out.size() < n) {
      auto v = rng();
      for (int i = 0; i < 16 && out.size() < n; ++i, v >>= 4) out += digits[v & 15];
    }
    return out;
  }
  std::string uuid() {
    auto h = hex(32);
    h[12] = '4';
    h[16] = "89ab"[rng() & 3];
    return fmt::format("{}-{}-{}-{}-{}", h.substr(0, 8), h.substr(8, 4), h.substr(12, 4), h.substr(16, 4),
                       h.substr(20, 12));
  }

  stream* find(const std::string& name) {
    auto it = streams.find(name);
    return it == streams.end() ? nullptr : it->second.get();
  }
  result<stream*> find_active(const std::string& name) {
    if (shut) return error(error_code::resource_not_found_exception, "The firehose is shut down.");
    auto* s = find(name);
    if (!s)
      return error(error_code::resource_not_found_exception,
                   fmt::format("Firehose {} under account {} not found.", name, options.account_id));
    if (s->status != "ACTIVE")
      return error(
          error_code::resource_not_found_exception,
          fmt::format("Firehose {} under account {} is not ACTIVE ({}).", name, options.account_id, s->status));
    return s;
  }

  // Runs `fn` on the stream at `due`, if it still exists.
  scheduler::task_id schedule(stream& s, timestamp due, std::function<void(stream&)> fn) {
    const auto gen = s.gen;
    return sched->call_at(due, [this, gen, fn = std::move(fn)] {
      std::lock_guard lock(mu);
      if (shut) return;
      auto it = by_gen.find(gen);
      if (it == by_gen.end()) return;
      fn(*it->second);
      finish_operation(*it->second);
    });
  }
  void cancel(std::optional<scheduler::task_id>& t) {
    if (t) sched->cancel(*t);
    t.reset();
  }

  // --- acknowledgements (stream source) ------------------------------------------------------

  std::uint64_t register_ack(stream& s, const std::string& shard, const std::string& seq) {
    auto [it, inserted] = s.ack_index.try_emplace(shard, s.acks.size());
    if (inserted) s.acks.push_back({shard, 0, {}});
    auto& a = s.acks[it->second];
    const std::uint64_t ordinal = a.base + a.queue.size();
    a.queue.emplace_back(seq, false);
    return (static_cast<std::uint64_t>(it->second) + 1) << 40 | ordinal;
  }
  void ack(stream& s, std::uint64_t id) {
    if (id == 0 || !s.source) return;
    auto& a = s.acks[(id >> 40) - 1];
    const std::uint64_t ordinal = id & ((std::uint64_t{1} << 40) - 1);
    a.queue[ordinal - a.base].second = true;
    std::optional<std::string> last;
    while (!a.queue.empty() && a.queue.front().second) {
      last = std::move(a.queue.front().first);
      a.queue.pop_front();
      ++a.base;
    }
    if (last) s.source->checkpoint(a.shard, *last);
  }

  // --- ingest -----------------------------------------------------------------------------------

  // 56 digits: the stream's creation time in ms (13), then a counter (43).
  static std::string next_record_id(stream& s) {
    if (s.record_id_prefix.empty()) s.record_id_prefix = fmt::format("{:013d}{:023d}", epoch_ms(s.created), 0);
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, ++s.record_counter).ptr;
    const auto n = static_cast<std::size_t>(end - digits);
    std::string id;
    id.reserve(56);
    id.append(s.record_id_prefix);
    id.append(20 - n, '0');
    id.append(digits, n);
    return id;
  }

  // One record into the stream. `record_id` is empty for records no transformation sees.
  void accept(stream& s, std::string_view data, timestamp arrival, std::string record_id,
              std::optional<kinesis_record_metadata> kmeta, std::uint64_t ack_id) {
    ++s.stats.incoming_records;
    s.stats.incoming_bytes += static_cast<std::int64_t>(data.size());
    ++s.stats.pending_records;
    if (s.cfg.backup == backup_mode::all_data && s.cfg.backup_target) append_backup(s, data, arrival);
    if (s.cfg.lambda) {
      if (record_id.empty()) record_id = next_record_id(s);
      const bool was_empty = s.stage1.empty();
      s.stage1_bytes += data.size();
      s.stage1.push_back({std::string(data), arrival, std::move(record_id), ack_id, std::move(kmeta)});
      if (static_cast<std::int64_t>(s.stage1_bytes) >= s.cfg.lambda->size_bytes) {
        flush_stage1(s);
      } else if (was_empty) {
        if (s.cfg.lambda->interval.count() == 0)
          s.stage1_due = true;
        else
          s.stage1_timer = schedule(s, now() + s.cfg.lambda->interval, [this](stream& st) {
            st.stage1_timer.reset();
            flush_stage1(st);
          });
      }
      return;
    }
    route(s, data, arrival, ack_id, nullptr);
  }

  void append_backup(stream& s, std::string_view data, timestamp arrival) {
    auto& b = s.backup_buffer;
    const bool was_empty = b.recs.empty();
    b.recs.push_back({b.body.size(), data.size(), arrival, 0});
    b.body.append(data);
    if (s.cfg.append_delimiter) b.body += s.cfg.delimiter;
    const auto& t = *s.cfg.backup_target;
    if (static_cast<std::int64_t>(b.body.size()) >= t.size_bytes) {
      flush_backup(s);
    } else if (was_empty) {
      b.timer = schedule(s, now() + t.interval, [this](stream& st) {
        st.backup_buffer.timer.reset();
        flush_backup(st);
      });
    }
  }

  void add_error(stream& s, std::string_view type, std::string_view raw, timestamp arrival, std::string code,
                 std::string message, int attempts, std::uint64_t ack_id) {
    s.pending_errors[std::string(type)].push_back(
        {std::string(raw), arrival, std::move(code), std::move(message), attempts, ack_id});
  }

  // Stage 2: pick the record's partition and append it to that buffer.
  void route(stream& s, std::string_view data, timestamp arrival, std::uint64_t ack_id,
             const std::map<std::string, std::string>* lambda_keys) {
    std::string pid;
    std::map<std::string, std::string> query_keys;
    if (s.cfg.dynamic_partitioning) {
      if (s.cfg.query) {
        auto keys = s.cfg.query->evaluate(data);
        if (!keys) {
          add_error(s, "partitioning-failed", data, arrival, "DynamicPartitioning.MetadataExtractionFailed",
                    keys.error().message(), 1, ack_id);
          return;
        }
        query_keys = std::move(*keys);
      }
      // The prefix must evaluate, and (for the directory) stay inside the bucket.
      static const std::map<std::string, std::string> none;
      prefix::context ctx{arrival, &query_keys, lambda_keys ? lambda_keys : &none, "",
                          [] { return std::string(11, 'x'); }};
      auto evaluated = s.cfg.main.data_prefix.evaluate(ctx);
      if (!evaluated || !safe_key(*evaluated)) {
        add_error(
            s, "partitioning-failed", data, arrival, "DynamicPartitioning.InvalidPrefix",
            evaluated ? "The evaluated prefix has an empty, '.' or '..' path segment." : evaluated.error().message(), 1,
            ack_id);
        return;
      }
      for (const auto& [k, v] : query_keys) pid += "q\x1f" + k + "\x1f" + v + "\x1e";
      if (lambda_keys)
        for (const auto& [k, v] : *lambda_keys) pid += "l\x1f" + k + "\x1f" + v + "\x1e";
    }
    auto it = s.partitions.find(pid);
    if (it == s.partitions.end()) {
      if (s.cfg.dynamic_partitioning &&
          static_cast<std::int32_t>(s.partitions.size()) >= options.active_partition_limit) {
        metric(s, "PartitionCountExceeded", 1, "Count");
        add_error(s, "partitioning-failed", data, arrival, "DynamicPartitioning.PartitionCountExceeded",
                  fmt::format("The active partition count reached the limit of {}.", options.active_partition_limit), 1,
                  ack_id);
        return;
      }
      it = s.partitions.emplace(pid, object_buffer{}).first;
      it->second.body = std::move(s.spare_body);
      s.spare_body = std::string();
      it->second.body.clear();
      if (it->second.body.capacity() == 0)
        it->second.body.reserve(static_cast<std::size_t>(std::min<std::int64_t>(s.cfg.main.size_bytes, 8 * mib)) +
                                max_record_bytes);
      it->second.query_keys = std::move(query_keys);
      if (lambda_keys) it->second.lambda_keys = *lambda_keys;
      if (s.cfg.dynamic_partitioning) metric(s, "PartitionCount", static_cast<double>(s.partitions.size()), "Count");
    }
    auto& b = it->second;
    const bool was_empty = b.recs.empty();
    b.recs.push_back({b.body.size(), data.size(), arrival, ack_id});
    b.body.append(data);
    if (s.cfg.append_delimiter) b.body += s.cfg.delimiter;
    if (static_cast<std::int64_t>(b.body.size()) >= s.cfg.main.size_bytes) {
      flush_partition(s, pid);
    } else if (was_empty) {
      if (s.cfg.main.interval.count() == 0) {
        s.due_now.insert(pid);
      } else {
        b.timer = schedule(s, now() + s.cfg.main.interval, [this, pid](stream& st) {
          auto p = st.partitions.find(pid);
          if (p == st.partitions.end()) return;
          p->second.timer.reset();
          flush_partition(st, pid);
        });
      }
    }
  }

  static bool safe_key(std::string_view key) {
    if (key.find('\0') != std::string_view::npos) return false;
    std::size_t start = 0;
    while (start <= key.size()) {
      auto end = key.find('/', start);
      if (end == std::string_view::npos) end = key.size();
      auto seg = key.substr(start, end - start);
      if (seg == "." || seg == "..") return false;
      if (seg.empty() && end < key.size()) return false;
      start = end + 1;
    }
    return true;
  }

  // --- stage 1: the transformation ------------------------------------------------------------

  void flush_stage1(stream& s) {
    cancel(s.stage1_timer);
    s.stage1_due = false;
    if (s.stage1.empty()) return;
    auto batch = std::move(s.stage1);
    s.stage1.clear();
    s.stage1_bytes = 0;
    const auto& l = *s.cfg.lambda;
    transformation_event event;
    event.invocation_id = uuid();
    event.delivery_stream_arn = s.arn;
    if (s.source_cfg) event.source_kinesis_stream_arn = s.source_cfg->kinesis_stream_arn;
    event.region = options.region;
    event.records.reserve(batch.size());
    std::int64_t in_bytes = 0;
    for (const auto& r : batch) {
      event.records.push_back({r.record_id, epoch_ms(r.arrival), r.data, r.kmeta});
      in_bytes += static_cast<std::int64_t>(r.data.size());
    }
    int attempts = 0;
    std::optional<result<transformation_response>> response;
    const auto started = now();
    for (; attempts <= l.retries;) {
      ++attempts;
      auto r = l.fn(event);
      metric(s, "ExecuteProcessing.Success", r ? 1 : 0, "Count");
      if (r) {
        response = std::move(r);
        break;
      }
      response = std::move(r);
    }
    metric(s, "ExecuteProcessing.Duration", static_cast<double>((now() - started).count()), "Milliseconds");
    if (!response->ok()) {
      for (auto& r : batch)
        add_error(s, "processing-failed", r.data, r.arrival, "Lambda.FunctionError",
                  std::string(response->error().message()), attempts, r.ack);
      return;
    }
    // Match the response to the batch by record id.
    std::map<std::string_view, std::size_t> index;
    for (std::size_t i = 0; i < batch.size(); ++i) index.emplace(batch[i].record_id, i);
    std::vector<const transformation_response_record*> answer(batch.size(), nullptr);
    std::vector<bool> duplicated(batch.size(), false);
    for (const auto& rr : (*response)->records) {
      auto it = index.find(rr.record_id);
      if (it == index.end()) continue;  // an unknown id: its original is then missing
      if (answer[it->second]) duplicated[it->second] = true;
      answer[it->second] = &rr;
    }
    std::int64_t ok_records = 0, ok_bytes = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& r = batch[i];
      const auto* a = answer[i];
      auto fail = [&](std::string code, std::string message) {
        add_error(s, "processing-failed", r.data, r.arrival, std::move(code), std::move(message), attempts, r.ack);
      };
      if (!a) {
        fail("Lambda.MissingRecordId", "One or more record IDs were not returned.");
      } else if (duplicated[i]) {
        fail("Lambda.DuplicatedRecordId", "Multiple records were returned with the same record ID.");
      } else if (a->result == "Dropped") {
        ++s.stats.dropped_records;
        --s.stats.pending_records;
        ack(s, r.ack);
      } else if (a->result == "ProcessingFailed") {
        fail("Lambda.ProcessingFailedStatus", "ProcessingFailed status set for record");
      } else if (a->result != "Ok") {
        fail("Lambda.JsonProcessingException", fmt::format("Invalid result '{}' for record.", a->result));
      } else if (!a->data) {
        fail("Lambda.JsonProcessingException", "A record with result Ok has no data.");
      } else {
        ++ok_records;
        ok_bytes += static_cast<std::int64_t>(a->data->size());
        route(s, *a->data, r.arrival, r.ack, a->partition_keys.empty() ? nullptr : &a->partition_keys);
      }
    }
    metric(s, "SucceedProcessing.Records", static_cast<double>(ok_records), "Count");
    metric(s, "SucceedProcessing.Bytes", static_cast<double>(ok_bytes), "Bytes");
    (void)in_bytes;
  }

  // --- objects -------------------------------------------------------------------------------------

  std::string object_key(const stream& s, const target& t, const prefix& p, timestamp oldest, const object_buffer* keys,
                         std::string_view error_type, bool* ok) {
    prefix::context ctx{oldest, keys ? &keys->query_keys : nullptr, keys ? &keys->lambda_keys : nullptr, error_type,
                        [this] { return hex(11); }};
    auto evaluated = p.evaluate(ctx);
    *ok = evaluated.ok();
    std::string key = evaluated ? *evaluated : std::string();
    key += fmt::format("{}-1-{}-{}{}", s.name, utc_suffix_time(oldest), uuid(), t.extension);
    return key;
  }

  void build_body(const target& t, std::string_view raw, timestamp oldest, std::string& out) {
    compress_options co;
    co.gzip_level = options.gzip_level;
    co.igzip = options.gzip_igzip;
    co.zip_entry_name = uuid();
    co.zip_time = oldest;
    if (auto r = compress(t.comp, raw, co, out); !r) {
      // Only a library failure gets here; keep the bytes uncompressed rather than lose them.
      rill::logger()->error("delivery: compression failed ({}); writing the object uncompressed",
                            r.error().to_string());
      out.assign(raw);
    }
  }

  void flush_partition(stream& s, const std::string& pid) {
    auto it = s.partitions.find(pid);
    if (it == s.partitions.end()) return;
    object_buffer b = std::move(it->second);
    s.partitions.erase(it);
    s.due_now.erase(pid);
    cancel(b.timer);
    if (b.recs.empty()) return;
    job j;
    j.kind = job_kind::data;
    j.tgt = &s.cfg.main;
    j.oldest = b.recs.front().arrival;
    for (const auto& r : b.recs) {
      j.oldest = std::min(j.oldest, r.arrival);
      j.record_bytes += static_cast<std::int64_t>(r.size);
      if (r.ack) j.acks.push_back(r.ack);
    }
    j.record_count = static_cast<std::int64_t>(b.recs.size());
    bool ok = true;
    j.key = object_key(s, s.cfg.main, s.cfg.main.data_prefix, j.oldest, &b, "", &ok);
    if (s.cfg.main.comp == compression::uncompressed && !s.cfg.backup_target)
      j.body = std::move(b.body);  // no copy on the plain path
    else
      build_body(s.cfg.main, b.body, j.oldest, j.body);
    if (s.cfg.backup_target)
      j.raw = std::move(b.body);
    else if (b.body.capacity() > s.spare_body.capacity())
      s.spare_body = std::move(b.body);
    submit(s, std::move(j));
  }

  void flush_backup(stream& s) {
    if (!s.cfg.backup_target) return;
    object_buffer b = std::move(s.backup_buffer);
    s.backup_buffer = {};
    s.backup_due = false;
    cancel(b.timer);
    if (b.recs.empty()) return;
    const auto& t = *s.cfg.backup_target;
    job j;
    j.kind = job_kind::backup_source;
    j.tgt = &t;
    j.oldest = b.recs.front().arrival;
    for (const auto& r : b.recs) {
      j.oldest = std::min(j.oldest, r.arrival);
      j.record_bytes += static_cast<std::int64_t>(r.size);
    }
    j.record_count = static_cast<std::int64_t>(b.recs.size());
    bool ok = true;
    j.key = object_key(s, t, t.data_prefix, j.oldest, nullptr, "", &ok);
    build_body(t, b.body, j.oldest, j.body);
    submit(s, std::move(j));
  }

  std::string envelope(const error_record& e, timestamp ended, const std::string* lambda_arn) {
    nlohmann::json j{
        {"attemptsMade", e.attempts}, {"arrivalTimestamp", epoch_ms(e.arrival)},   {"errorCode", e.code},
        {"errorMessage", e.message},  {"attemptEndingTimestamp", epoch_ms(ended)}, {"rawData", base64_encode(e.raw)}};
    if (lambda_arn) j["lambdaArn"] = *lambda_arn;
    return j.dump();
  }

  void drain_errors(stream& s) {
    if (s.pending_errors.empty()) return;
    auto pending = std::move(s.pending_errors);
    s.pending_errors.clear();
    for (auto& [type, recs] : pending) {
      if (recs.empty()) continue;
      job j;
      j.kind = job_kind::error;
      j.tgt = &s.cfg.main;
      j.oldest = recs.front().arrival;
      std::string raw;
      const std::string* arn = type == "processing-failed" && s.cfg.lambda ? &s.cfg.lambda->arn : nullptr;
      for (const auto& e : recs) {
        j.oldest = std::min(j.oldest, e.arrival);
        raw += envelope(e, now(), arn);
        raw += '\n';
        j.record_bytes += static_cast<std::int64_t>(e.raw.size());
        if (e.ack) j.acks.push_back(e.ack);
      }
      j.record_count = static_cast<std::int64_t>(recs.size());
      bool ok = true;
      j.key = object_key(s, s.cfg.main, s.cfg.main.error_prefix, j.oldest, nullptr, type, &ok);
      build_body(s.cfg.main, raw, j.oldest, j.body);
      submit(s, std::move(j));
    }
  }

  // --- delivery, retries, backup ---------------------------------------------------------------------

  result<void> write_object(const target& t, const std::string& key, std::string_view body) {
    if (options.sink) {
      delivered_object o{t.bucket, key, body, std::string(content_encoding(t.comp))};
      return options.sink(o);
    }
    if (!safe_key(key))
      return error(error_code::invalid_argument_exception, fmt::format("The key '{}' cannot be a file path.", key));
    return delivery::write_file_atomically(*fs, (options.s3_directory / t.bucket / key).string(), body);
  }

  void submit(stream& s, job j) {
    j.first_attempt = now();
    const auto id = s.next_job++;
    auto& ref = s.jobs.emplace(id, std::move(j)).first->second;
    attempt(s, id, ref);
  }

  static std::string_view metric_prefix(job_kind k) {
    return k == job_kind::backup_source || k == job_kind::backup_failed ? "BackupToS3" : "DeliveryToS3";
  }

  // One write of the job's object. Counts a failure; never schedules.
  bool try_write(stream& s, job& j) {
    ++j.attempts;
    auto r = write_object(*j.tgt, j.key, j.body);
    const auto mp = metric_prefix(j.kind);
    metric(s, fmt::format("{}.Success", mp), r ? 1 : 0, "Count");
    if (r) return true;
    ++s.stats.failed_attempts;
    j.retry_after_failure = true;
    if (log_count++ % 100 == 0)
      rill::logger()->warn("delivery: {} of {} to {} failed (attempt {}): {}", mp, s.name, j.key, j.attempts,
                           r.error().to_string());
    return false;
  }

  // The job's object is written: account for it and forget the job.
  void complete(stream& s, std::uint64_t id, job& j) {
    const auto mp = metric_prefix(j.kind);
    metric(s, fmt::format("{}.Records", mp), static_cast<double>(j.record_count), "Count");
    metric(s, fmt::format("{}.Bytes", mp), static_cast<double>(j.record_bytes), "Bytes");
    metric(s, fmt::format("{}.DataFreshness", mp), static_cast<double>((now() - j.oldest).count()) / 1000.0, "Seconds");
    switch (j.kind) {
      case job_kind::data:
        metric(s, "DeliveryToS3.ObjectCount", 1, "Count");
        s.stats.delivered_records += j.record_count;
        ++s.stats.delivered_objects;
        s.stats.pending_records -= j.record_count;
        break;
      case job_kind::error:
      case job_kind::backup_failed:
        s.stats.error_output_records += j.record_count;
        s.stats.pending_records -= j.record_count;
        break;
      case job_kind::backup_source: s.stats.backup_records += j.record_count; break;
    }
    // A failed attempt may have kept the bytes (a sink that stored and then failed).
    if (j.retry_after_failure && j.kind != job_kind::backup_source) s.stats.retried_records += j.record_count;
    for (auto a : j.acks) ack(s, a);
    if (j.kind == job_kind::data && j.body.capacity() > s.spare_body.capacity()) s.spare_body = std::move(j.body);
    cancel(j.timer);
    s.jobs.erase(id);
  }

  void attempt(stream& s, std::uint64_t id, job& j) {
    if (try_write(s, j)) {
      complete(s, id, j);
      return;
    }
    // Backoff: 1 s x 2^n, +-15 % jitter, at most 120 s.
    const double base = std::min(120.0, std::ldexp(1.0, std::min(j.attempts - 1, 10)));
    const double jitter = 0.85 + 0.3 * std::uniform_real_distribution<double>(0, 1)(rng);
    const auto delay = duration(static_cast<std::int64_t>(std::min(120.0, base * jitter) * 1000));
    const auto next = now() + delay;
    if (j.kind == job_kind::data && s.cfg.backup_target && next - j.first_attempt > s.cfg.retry_duration) {
      auto b = failed_backup_job(s, j);
      cancel(j.timer);
      s.jobs.erase(id);
      submit(s, std::move(b));
      return;
    }
    j.timer = schedule(s, next, [this, id](stream& st) {
      auto it = st.jobs.find(id);
      if (it == st.jobs.end()) return;
      it->second.timer.reset();
      attempt(st, id, it->second);
    });
  }

  // The retry duration is over: the records go to the backup bucket as failed
  // data, under its error prefix (type "s3-failed"), with its compression.
  job failed_backup_job(stream& s, job& j) {
    job b;
    b.kind = job_kind::backup_failed;
    b.tgt = &*s.cfg.backup_target;
    b.oldest = j.oldest;
    b.record_count = j.record_count;
    b.record_bytes = j.record_bytes;
    b.acks = std::move(j.acks);
    // The failed attempts may have kept the bytes: count the records as possible duplicates.
    b.retry_after_failure = true;
    bool ok = true;
    b.key = object_key(s, *b.tgt, b.tgt->error_prefix, b.oldest, nullptr, "s3-failed", &ok);
    build_body(*b.tgt, j.raw, b.oldest, b.body);
    return b;
  }

  // The end of every operation: zero-interval buffers and error envelopes go out now.
  void finish_operation(stream& s) {
    if (s.stage1_due) flush_stage1(s);
    while (!s.due_now.empty()) flush_partition(s, *s.due_now.begin());
    if (s.backup_due) flush_backup(s);
    drain_errors(s);
  }

  void flush_all(stream& s) {
    flush_stage1(s);
    while (!s.partitions.empty()) flush_partition(s, s.partitions.begin()->first);
    flush_backup(s);
    drain_errors(s);
  }

  // Flushes everything and tries every pending job once more (a data job that
  // fails again goes to the backup when there is one). Returns the records that
  // could not be written anywhere.
  std::int64_t drain(stream& s) {
    cancel(s.poll_timer);
    if (s.source) poll_source(s);
    flush_all(s);
    std::int64_t lost = 0;
    std::vector<std::uint64_t> ids;
    for (const auto& [id, j] : s.jobs) ids.push_back(id);
    for (auto id : ids) {
      auto& j = s.jobs.at(id);
      cancel(j.timer);
      if (try_write(s, j)) {
        complete(s, id, j);
        continue;
      }
      if (j.kind == job_kind::data && s.cfg.backup_target) {
        auto b = failed_backup_job(s, j);
        s.jobs.erase(id);
        const auto bid = s.next_job++;
        auto& bj = s.jobs.emplace(bid, std::move(b)).first->second;
        bj.first_attempt = now();
        if (try_write(s, bj)) {
          complete(s, bid, bj);
          continue;
        }
        lost += bj.record_count;
      } else if (j.kind != job_kind::backup_source) {
        lost += j.record_count;
      }
    }
    for (auto& [id, j] : s.jobs) cancel(j.timer);
    s.jobs.clear();
    if (lost) {
      s.stats.lost_records += lost;
      s.stats.pending_records -= lost;
      rill::logger()->error("delivery: {} records of {} could not be delivered at shutdown", lost, s.name);
    }
    return lost;
  }

  // --- stream source ---------------------------------------------------------------------------------

  void poll_source(stream& s) {
    auto got = s.source->poll();
    std::int64_t bytes = 0;
    for (auto& r : got.records) {
      bytes += static_cast<std::int64_t>(r.data.size());
      auto ack_id = register_ack(s, r.shard_id, r.sequence_number);
      std::optional<kinesis_record_metadata> meta;
      if (s.cfg.lambda)
        meta = kinesis_record_metadata{r.shard_id, r.partition_key, epoch_ms(r.approximate_arrival_timestamp),
                                       r.sequence_number, 0};
      accept(s, r.data, r.approximate_arrival_timestamp, {}, std::move(meta), ack_id);
    }
    if (!got.records.empty()) {
      metric(s, "DataReadFromKinesisStream.Records", static_cast<double>(got.records.size()), "Count");
      metric(s, "DataReadFromKinesisStream.Bytes", static_cast<double>(bytes), "Bytes");
    }
    metric(s, "KinesisMillisBehindLatest", static_cast<double>(got.millis_behind_latest), "Milliseconds");
    if (got.throttled_get_records)
      metric(s, "ThrottledGetRecords", static_cast<double>(got.throttled_get_records), "Count");
  }

  void arm_poll(stream& s) {
    s.poll_timer = schedule(s, now() + options.source_poll_interval, [this](stream& st) {
      st.poll_timer.reset();
      poll_source(st);
      arm_poll(st);
    });
  }

  void activate(stream& s) {
    s.status = "ACTIVE";
    if (s.source_cfg) {
      std::filesystem::path cp;
      if (!options.checkpoint_directory.empty()) cp = options.checkpoint_directory / (s.name + ".checkpoint");
      s.source = make_kinesis_reader(options.kinesis, s.source_cfg->kinesis_stream_arn, now(), fs, cp);
      poll_source(s);  // positions the reader at LATEST now
      arm_poll(s);
    }
  }
};

// --- the API ----------------------------------------------------------------------------------------------

local_firehose::local_firehose(firehose_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

local_firehose::~local_firehose() { (void)shutdown(); }

result<create_delivery_stream_result> local_firehose::create_delivery_stream(
    const create_delivery_stream_request& req) {
  auto& m = *impl_;
  const auto& name = req.delivery_stream_name;
  if (name.empty() || name.size() > 64) return validation_length("deliveryStreamName", 1, 64);
  if (!matches_name(name)) return validation_pattern(name, "deliveryStreamName", "[a-zA-Z0-9_.-]+");
  const std::string type = req.delivery_stream_type.value_or("DirectPut");
  if (type != "DirectPut" && type != "KinesisStreamAsSource" && type != "MSKAsSource" && type != "DatabaseAsSource")
    return validation_enum(type, "deliveryStreamType",
                           "DirectPut, KinesisStreamAsSource, MSKAsSource, DatabaseAsSource");
  if (type == "MSKAsSource" || type == "DatabaseAsSource")
    return invalid(fmt::format("rill does not implement DeliveryStreamType {}.", type));
  if (req.tags.size() > 50) return validation_length("tags", 1, 50);
  for (const auto& [k, v] : req.tags) {
    if (k.empty() || k.size() > 128) return validation_length("tags.member.key", 1, 128);
    if (v.size() > 256) return validation_length("tags.member.value", 0, 256);
  }
  if (type == "KinesisStreamAsSource") {
    if (!req.kinesis_stream_source_configuration)
      return invalid("KinesisStreamSourceConfiguration is required for DeliveryStreamType KinesisStreamAsSource.");
    const auto& k = *req.kinesis_stream_source_configuration;
    if (auto r = check_role(k.role_arn, "kinesisStreamSourceConfiguration.roleARN"); !r) return r.error();
    constexpr std::string_view pattern = "arn:.*:kinesis:[a-zA-Z0-9\\-]+:\\d{12}:stream/[a-zA-Z0-9_.-]+";
    if (k.kinesis_stream_arn.empty() || k.kinesis_stream_arn.size() > 512)
      return validation_length("kinesisStreamSourceConfiguration.kinesisStreamARN", 1, 512);
    if (k.kinesis_stream_arn.rfind("arn:", 0) != 0 || k.kinesis_stream_arn.find(":kinesis:") == std::string::npos ||
        k.kinesis_stream_arn.find(":stream/") == std::string::npos)
      return validation_pattern(k.kinesis_stream_arn, "kinesisStreamSourceConfiguration.kinesisStreamARN", pattern);
    if (!m.options.kinesis) return invalid("firehose_options::kinesis is not set: no stream can be a source.");
    auto summary = m.options.kinesis->describe_stream_summary({.stream_arn = k.kinesis_stream_arn});
    if (!summary)
      return invalid(
          fmt::format("The source stream {} cannot be read: {}", k.kinesis_stream_arn, summary.error().to_string()));
  } else if (req.kinesis_stream_source_configuration) {
    return invalid("KinesisStreamSourceConfiguration is only allowed for DeliveryStreamType KinesisStreamAsSource.");
  }
  if (!req.extended_s3_destination_configuration)
    return invalid(
        "Exactly one destination configuration is supported for a Firehose (rill: "
        "ExtendedS3DestinationConfiguration).");
  auto cfg = compile(req, m.options);
  if (!cfg) return cfg.error();

  std::lock_guard lock(m.mu);
  if (m.shut) return error(error_code::resource_not_found_exception, "The firehose is shut down.");
  if (m.streams.count(name))
    return error(error_code::resource_in_use_exception,
                 fmt::format("Firehose {} under accountId {} already exists", name, m.options.account_id));
  if (static_cast<std::int32_t>(m.streams.size()) >= m.options.delivery_stream_limit)
    return error(
        error_code::limit_exceeded_exception,
        fmt::format("You have already consumed your firehose quota of {} hoses.", m.options.delivery_stream_limit));
  auto s = std::make_unique<stream>();
  s->gen = m.next_gen++;
  s->name = name;
  s->arn = fmt::format("arn:aws:firehose:{}:{}:deliverystream/{}", m.options.region, m.options.account_id, name);
  s->type = type;
  s->created = m.now();
  s->cfg = std::move(*cfg);
  s->source_cfg = req.kinesis_stream_source_configuration;
  s->tags = req.tags;
  auto& ref = *s;
  m.by_gen[s->gen] = s.get();
  m.streams.emplace(name, std::move(s));
  if (m.options.create_delay.count() == 0) {
    m.activate(ref);
  } else {
    ref.status = "CREATING";
    m.schedule(ref, m.now() + m.options.create_delay, [&m](stream& st) { m.activate(st); });
  }
  return create_delivery_stream_result{ref.arn};
}

result<void> local_firehose::delete_delivery_stream(const delete_delivery_stream_request& req) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  auto* s = m.shut ? nullptr : m.find(req.delivery_stream_name);
  if (!s)
    return error(error_code::resource_not_found_exception, fmt::format("Firehose {} under account {} not found.",
                                                                       req.delivery_stream_name, m.options.account_id));
  if (s->status == "CREATING" && !req.allow_force_delete)
    return error(error_code::resource_in_use_exception,
                 fmt::format("Firehose {} is CREATING; retry when it is ACTIVE or use AllowForceDelete.", s->name));
  if (s->status == "ACTIVE") m.drain(*s);
  for (auto& [pid, b] : s->partitions) m.cancel(b.timer);
  m.cancel(s->stage1_timer);
  m.cancel(s->backup_buffer.timer);
  m.cancel(s->poll_timer);
  if (m.options.metrics) m.options.metrics->remove_dimension({"DeliveryStreamName", s->name});
  // A new stream of the same name starts afresh (at LATEST), as on AWS.
  if (s->source_cfg && !m.options.checkpoint_directory.empty())
    (void)m.fs->remove((m.options.checkpoint_directory / (s->name + ".checkpoint")).string());
  m.by_gen.erase(s->gen);
  m.streams.erase(s->name);
  return {};
}

result<describe_delivery_stream_result> local_firehose::describe_delivery_stream(
    const describe_delivery_stream_request& req) {
  auto& m = *impl_;
  if (req.limit && (*req.limit < 1 || *req.limit > 10000)) return validation_range("limit", *req.limit, 1, 10000);
  std::lock_guard lock(m.mu);
  auto* s = m.shut ? nullptr : m.find(req.delivery_stream_name);
  if (!s)
    return error(error_code::resource_not_found_exception, fmt::format("Firehose {} under account {} not found.",
                                                                       req.delivery_stream_name, m.options.account_id));
  describe_delivery_stream_result out;
  auto& d = out.delivery_stream_description;
  d.delivery_stream_name = s->name;
  d.delivery_stream_arn = s->arn;
  d.delivery_stream_status = s->status;
  d.delivery_stream_type = s->type;
  d.version_id = "1";
  d.create_timestamp = s->created;
  if (s->source_cfg) {
    kinesis_stream_source_description k{s->source_cfg->kinesis_stream_arn, s->source_cfg->role_arn, std::nullopt};
    if (s->source) k.delivery_start_timestamp = s->source->start_timestamp();
    d.source = source_description{k};
  }
  const bool skip =
      req.exclusive_start_destination_id && *req.exclusive_start_destination_id >= "destinationId-000000000001";
  if (!skip) {
    auto c = s->cfg.described;
    const auto& t = s->cfg.main;
    c.compression_format = std::string(to_string(t.comp));
    c.buffering_hints = buffering_hints{
        static_cast<std::int32_t>(t.size_bytes / mib),
        static_cast<std::int32_t>(std::chrono::duration_cast<std::chrono::seconds>(t.interval).count())};
    if (!c.s3_backup_mode) c.s3_backup_mode = "Disabled";
    if (!c.prefix) c.prefix = "";
    if (!c.file_extension) c.file_extension = "";
    if (!c.custom_time_zone) c.custom_time_zone = "UTC";
    if (c.s3_backup_configuration && s->cfg.backup_target) {
      const auto& b = *s->cfg.backup_target;
      c.s3_backup_configuration->compression_format = std::string(to_string(b.comp));
      c.s3_backup_configuration->buffering_hints = buffering_hints{
          static_cast<std::int32_t>(b.size_bytes / mib),
          static_cast<std::int32_t>(std::chrono::duration_cast<std::chrono::seconds>(b.interval).count())};
    }
    d.destinations.push_back({"destinationId-000000000001", std::move(c)});
  }
  return out;
}

result<list_delivery_streams_result> local_firehose::list_delivery_streams(const list_delivery_streams_request& req) {
  auto& m = *impl_;
  if (req.limit && (*req.limit < 1 || *req.limit > 10000)) return validation_range("limit", *req.limit, 1, 10000);
  if (req.delivery_stream_type) {
    const auto& t = *req.delivery_stream_type;
    if (t != "DirectPut" && t != "KinesisStreamAsSource" && t != "MSKAsSource" && t != "DatabaseAsSource")
      return validation_enum(t, "deliveryStreamType",
                             "DirectPut, KinesisStreamAsSource, MSKAsSource, DatabaseAsSource");
  }
  if (req.exclusive_start_delivery_stream_name &&
      (req.exclusive_start_delivery_stream_name->empty() || req.exclusive_start_delivery_stream_name->size() > 64))
    return validation_length("exclusiveStartDeliveryStreamName", 1, 64);
  std::lock_guard lock(m.mu);
  list_delivery_streams_result out;
  const std::size_t limit = static_cast<std::size_t>(req.limit.value_or(10));
  for (const auto& [name, s] : m.streams) {
    if (req.exclusive_start_delivery_stream_name && name <= *req.exclusive_start_delivery_stream_name) continue;
    if (req.delivery_stream_type && s->type != *req.delivery_stream_type) continue;
    if (out.delivery_stream_names.size() == limit) {
      out.has_more_delivery_streams = true;
      break;
    }
    out.delivery_stream_names.push_back(name);
  }
  return out;
}

result<delivery::put_record_result> local_firehose::put_record(const delivery::put_record_request& req) {
  auto& m = *impl_;
  if (req.record.data.size() > max_record_bytes)
    return validation(
        fmt::format("1 validation error detected: Value at 'record.data' failed to satisfy constraint: "
                    "Member must have length less than or equal to {}",
                    max_record_bytes));
  std::lock_guard lock(m.mu);
  auto s = m.find_active(req.delivery_stream_name);
  if (!s) return s.error();
  auto& st = **s;
  if (st.source_cfg)
    return error(error_code::invalid_source_exception,
                 fmt::format("This operation is not permitted on KinesisStreamAsSource delivery stream type."));
  const auto t = m.now();
  auto id = m.next_record_id(st);
  m.accept(st, req.record.data, t, st.cfg.lambda ? id : std::string(), std::nullopt, 0);
  const auto bytes = static_cast<double>(req.record.data.size());
  m.metric(st, "IncomingBytes", bytes, "Bytes");
  m.metric(st, "IncomingRecords", 1, "Count");
  m.metric(st, "IncomingPutRequests", 1, "Count");
  m.metric(st, "PutRecord.Bytes", bytes, "Bytes");
  m.metric(st, "PutRecord.Requests", 1, "Count");
  m.finish_operation(st);
  return delivery::put_record_result{std::move(id), false};
}

result<delivery::put_record_batch_result> local_firehose::put_record_batch(
    const delivery::put_record_batch_request& req) {
  auto& m = *impl_;
  if (req.records.empty() || req.records.size() > max_batch_records)
    return validation(
        fmt::format("1 validation error detected: Value at 'records' failed to satisfy constraint: "
                    "Member must have length between 1 and {}",
                    max_batch_records));
  for (std::size_t i = 0; i < req.records.size(); ++i)
    if (req.records[i].data.size() > max_record_bytes)
      return validation(
          fmt::format("1 validation error detected: Value at 'records.{}.member.data' failed to "
                      "satisfy constraint: Member must have length less than or equal to {}",
                      i + 1, max_record_bytes));
  std::lock_guard lock(m.mu);
  auto s = m.find_active(req.delivery_stream_name);
  if (!s) return s.error();
  auto& st = **s;
  if (st.source_cfg)
    return error(error_code::invalid_source_exception,
                 "This operation is not permitted on KinesisStreamAsSource delivery stream type.");
  const auto t = m.now();
  delivery::put_record_batch_result out;
  out.request_responses.reserve(req.records.size());
  std::size_t total = 0;
  std::int64_t accepted = 0, accepted_bytes = 0;
  for (const auto& r : req.records) {
    total += r.data.size();
    if (total > max_batch_bytes) {
      // What AWS does with a batch over 4 MiB: the records past the limit fail.
      ++out.failed_put_count;
      out.request_responses.push_back({std::nullopt, "ServiceUnavailableException", "Slow down."});
      continue;
    }
    auto id = m.next_record_id(st);
    m.accept(st, r.data, t, st.cfg.lambda ? id : std::string(), std::nullopt, 0);
    ++accepted;
    accepted_bytes += static_cast<std::int64_t>(r.data.size());
    out.request_responses.push_back({std::move(id), std::nullopt, std::nullopt});
  }
  m.metric(st, "IncomingBytes", static_cast<double>(accepted_bytes), "Bytes");
  m.metric(st, "IncomingRecords", static_cast<double>(accepted), "Count");
  m.metric(st, "IncomingPutRequests", 1, "Count");
  m.metric(st, "PutRecordBatch.Bytes", static_cast<double>(accepted_bytes), "Bytes");
  m.metric(st, "PutRecordBatch.Records", static_cast<double>(accepted), "Count");
  m.metric(st, "PutRecordBatch.Requests", 1, "Count");
  if (out.failed_put_count) m.metric(st, "ThrottledRecords", out.failed_put_count, "Count");
  m.finish_operation(st);
  return out;
}

result<void> local_firehose::flush(const std::string& delivery_stream_name) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  auto* s = m.shut ? nullptr : m.find(delivery_stream_name);
  if (!s)
    return error(error_code::resource_not_found_exception,
                 fmt::format("Firehose {} under account {} not found.", delivery_stream_name, m.options.account_id));
  m.flush_all(*s);
  return {};
}

result<delivery_stream_statistics> local_firehose::statistics(const std::string& delivery_stream_name) const {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  auto it = m.streams.find(delivery_stream_name);
  if (it == m.streams.end())
    return error(error_code::resource_not_found_exception,
                 fmt::format("Firehose {} under account {} not found.", delivery_stream_name, m.options.account_id));
  return it->second->stats;
}

result<void> local_firehose::shutdown() {
  auto& m = *impl_;
  std::int64_t lost = 0;
  {
    std::lock_guard lock(m.mu);
    if (m.shut) return {};
    for (auto& [name, s] : m.streams)
      if (s->status == "ACTIVE") lost += m.drain(*s);
    for (auto& [name, s] : m.streams) {
      for (auto& [pid, b] : s->partitions) m.cancel(b.timer);
      m.cancel(s->stage1_timer);
      m.cancel(s->backup_buffer.timer);
      m.cancel(s->poll_timer);
    }
    m.shut = true;
  }
  m.sched->shutdown();
  if (lost)
    return error(error_code::internal_failure,
                 fmt::format("{} records could not be delivered to the destination or the backup.", lost));
  return {};
}

}  // namespace rill
