// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// producer_configuration: the KPL's ranges (KinesisProducerConfiguration.java,
// KPL 1.0.7) and its properties-file format.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "rill/producer.hpp"

namespace rill {
namespace {

constexpr std::uint64_t max_i64 = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

error bad(std::string message) { return error(error_code::invalid_argument_exception, std::move(message)); }

result<void> in_range(std::string_view key, std::uint64_t v, std::uint64_t lo, std::uint64_t hi) {
  if (v < lo || v > hi) return bad(fmt::format("{} must be between {} and {}, got {}", key, lo, hi, v));
  return {};
}

result<void> one_of(std::string_view key, const std::string& v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed)
    if (v == a) return {};
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return bad(fmt::format("{} must be one of {}, got \"{}\"", key, list, v));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Keys of the KPL that configure the connection to AWS (or the Java wrapper):
// meaningless for a rill::kinesis, accepted so that existing files load.
const std::set<std::string, std::less<>>& ignored_keys() {
  static const std::set<std::string, std::less<>> keys = {"CloudwatchEndpoint",
                                                          "CloudwatchPort",
                                                          "KinesisEndpoint",
                                                          "KinesisPort",
                                                          "Region",
                                                          "VerifyCertificate",
                                                          "ProxyHost",
                                                          "ProxyPort",
                                                          "ProxyUserName",
                                                          "ProxyPassword",
                                                          "CaCertPath",
                                                          "StsEndpoint",
                                                          "StsPort",
                                                          "CredentialsRefreshDelay",
                                                          "EnableCoreDumps",
                                                          "NativeExecutable",
                                                          "TempDirectory",
                                                          "ThreadingModel",
                                                          "ThreadPoolSize",
                                                          "UserRecordTimeoutInMillis",
                                                          "EnableOldestFutureTracker",
                                                          "ReturnUserRecordOnFailure",
                                                          "AwsAccessKeyId",
                                                          "AwsSecretAccessKey",
                                                          "LogFile"};
  return keys;
}

}  // namespace

result<void> producer_configuration::validate() const {
  for (auto r : {
           in_range("AggregationMaxCount", aggregation_max_count, 1, max_i64),
           in_range("AggregationMaxSize", aggregation_max_size, 64, 10485760),
           in_range("CollectionMaxCount", collection_max_count, 1, 500),
           in_range("CollectionMaxSize", collection_max_size, 52224, max_i64),
           in_range("RecordMaxBufferedTime", record_max_buffered_time, 0, max_i64),
           in_range("RecordTtl", record_ttl, 100, max_i64),
           in_range("RateLimit", rate_limit, 1, max_i64),
           in_range("MaxConnections", max_connections, 1, 256),
           in_range("MinConnections", min_connections, 1, 16),
           in_range("RequestTimeout", request_timeout, 100, 600000),
           in_range("ConnectTimeout", connect_timeout, 100, 300000),
           in_range("MaxUserRecordSize", max_user_record_size, 64, 10485760),
           in_range("MetricsUploadDelay", metrics_upload_delay, 1, 60000),
           one_of("MetricsLevel", metrics_level, {"none", "summary", "detailed"}),
           one_of("MetricsGranularity", metrics_granularity, {"global", "stream", "shard"}),
           one_of("LogLevel", log_level, {"info", "warning", "error"}),
           in_range("max_outstanding_records", max_outstanding_records, 1, max_i64),
           in_range("max_outstanding_bytes", max_outstanding_bytes, 1, max_i64),
           in_range("retry_backoff_max", retry_backoff_max, retry_backoff_base, max_i64),
       }) {
    if (!r.ok()) return r;
  }
  if (metrics_namespace.empty() || metrics_namespace.size() > 255 || metrics_namespace.starts_with("AWS/"))
    return bad(fmt::format("MetricsNamespace must match (?!AWS/).{{1,255}}, got \"{}\"", metrics_namespace));
  return {};
}

result<producer_configuration> producer_configuration::from_properties(std::string_view text) {
  producer_configuration c;
  using setter = std::function<result<void>(producer_configuration&, std::string_view)>;
  auto u64 = [](std::uint64_t producer_configuration::*field) -> setter {
    return [field](producer_configuration& c, std::string_view v) -> result<void> {
      std::uint64_t x = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
      if (ec != std::errc() || p != v.data() + v.size()) return bad("not an unsigned integer");
      c.*field = x;
      return {};
    };
  };
  auto boolean = [](bool producer_configuration::*field) -> setter {
    return [field](producer_configuration& c, std::string_view v) -> result<void> {
      std::string lower(v);
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (lower == "true") {
        c.*field = true;
      } else if (lower == "false") {
        c.*field = false;
      } else {
        return bad("not true or false");
      }
      return {};
    };
  };
  auto text_field = [](std::string producer_configuration::*field) -> setter {
    return [field](producer_configuration& c, std::string_view v) -> result<void> {
      c.*field = std::string(v);
      return {};
    };
  };
  static const std::map<std::string, setter, std::less<>> setters = {
      {"AggregationEnabled", boolean(&producer_configuration::aggregation_enabled)},
      {"AggregationMaxCount", u64(&producer_configuration::aggregation_max_count)},
      {"AggregationMaxSize", u64(&producer_configuration::aggregation_max_size)},
      {"CollectionMaxCount", u64(&producer_configuration::collection_max_count)},
      {"CollectionMaxSize", u64(&producer_configuration::collection_max_size)},
      {"RecordMaxBufferedTime", u64(&producer_configuration::record_max_buffered_time)},
      {"RecordTtl", u64(&producer_configuration::record_ttl)},
      {"FailIfThrottled", boolean(&producer_configuration::fail_if_throttled)},
      {"RateLimit", u64(&producer_configuration::rate_limit)},
      {"MaxConnections", u64(&producer_configuration::max_connections)},
      {"MinConnections", u64(&producer_configuration::min_connections)},
      {"RequestTimeout", u64(&producer_configuration::request_timeout)},
      {"ConnectTimeout", u64(&producer_configuration::connect_timeout)},
      {"MaxUserRecordSize", u64(&producer_configuration::max_user_record_size)},
      {"MetricsLevel", text_field(&producer_configuration::metrics_level)},
      {"MetricsGranularity", text_field(&producer_configuration::metrics_granularity)},
      {"MetricsNamespace", text_field(&producer_configuration::metrics_namespace)},
      {"MetricsUploadDelay", u64(&producer_configuration::metrics_upload_delay)},
      {"LogLevel", text_field(&producer_configuration::log_level)},
  };
  std::size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    line = trim(line);
    if (line.empty() || line.front() == '#' || line.front() == '!') continue;
    auto sep = line.find_first_of("=:");
    if (sep == std::string_view::npos)
      return bad(fmt::format("line {}: expected Key = Value, got \"{}\"", line_no, line));
    std::string_view key = trim(line.substr(0, sep));
    std::string_view value = trim(line.substr(sep + 1));
    if (auto it = setters.find(key); it != setters.end()) {
      if (auto r = it->second(c, value); !r)
        return bad(fmt::format("line {}: {} = \"{}\": {}", line_no, key, value, r.error().message()));
    } else if (!ignored_keys().contains(key)) {
      return bad(fmt::format("line {}: unknown key \"{}\"", line_no, key));
    }
  }
  if (auto v = c.validate(); !v) return v.error();
  return c;
}

}  // namespace rill
