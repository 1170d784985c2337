// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "server/operations.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <unordered_map>

namespace rill::wire {

// ---------------------------------------------------------------------------
// reader

namespace {

std::string lower_first(std::string_view key) {
  std::string s(key);
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

// The Java class AWS's Coral front end names for a JSON value of the wrong type.
std::string java_class(const json& v) {
  switch (v.type()) {
    case json::value_t::boolean: return "java.lang.Boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "java.lang.Long";
    case json::value_t::number_float: return "java.lang.Double";
    case json::value_t::string: return "java.lang.String";
    case json::value_t::binary: return "java.nio.HeapByteBuffer";
    default: return "java.lang.Object";
  }
}

// Structures and lists in a scalar's place get their own texts.
std::optional<std::string> container_misplaced(const json& v) {
  if (v.is_object()) return "Start of structure or map found where not expected.";
  if (v.is_array()) return "Start of list found where not expected";
  return std::nullopt;
}

}  // namespace

const json* reader::get(std::string_view key) {
  if (st_->type_error) return nullptr;
  auto it = obj_->find(key);
  if (it == obj_->end() || it->is_null()) return nullptr;
  return &*it;
}

std::string reader::member(std::string_view key) const { return path_ + lower_first(key); }

void reader::type_error(std::string message) {
  if (!st_->type_error) st_->type_error = std::move(message);
}

std::optional<std::string> reader::str(std::string_view key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (auto m = container_misplaced(*v)) {
    type_error(*m);
  } else {
    type_error("class " + java_class(*v) + " can not be converted to an String");
  }
  return std::nullopt;
}

std::optional<std::int32_t> reader::i32(std::string_view key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned()) {
      auto u = v->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
        type_error("Numeric value (" + std::to_string(u) + ") out of range of int");
        return std::nullopt;
      }
      return static_cast<std::int32_t>(u);
    }
    auto i = v->get<std::int64_t>();
    if (i < std::numeric_limits<std::int32_t>::min() || i > std::numeric_limits<std::int32_t>::max()) {
      type_error("Numeric value (" + std::to_string(i) + ") out of range of int");
      return std::nullopt;
    }
    return static_cast<std::int32_t>(i);
  }
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (std::isfinite(d) && d >= std::numeric_limits<std::int32_t>::min() &&
        d <= std::numeric_limits<std::int32_t>::max()) {
      return static_cast<std::int32_t>(d);  // Coral truncates
    }
    type_error("Numeric value out of range of int");
    return std::nullopt;
  }
  if (auto m = container_misplaced(*v)) {
    type_error(*m);
  } else {
    type_error("class " + java_class(*v) + " can not be converted to an Integer");
  }
  return std::nullopt;
}

std::optional<bool> reader::boolean(std::string_view key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (v->is_boolean()) return v->get<bool>();
  if (auto m = container_misplaced(*v)) {
    type_error(*m);
  } else {
    type_error("class " + java_class(*v) + " can not be converted to an Boolean");
  }
  return std::nullopt;
}

std::optional<timestamp> reader::time(std::string_view key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (v->is_number()) {
    double d = v->get<double>();
    // JSON: epoch seconds (fraction allowed). CBOR: tag 1 + integer epoch milliseconds
    // (how the AWS SDKs write it); a floating-point CBOR value is taken as seconds.
    double ms = (format_ == body_format::cbor && v->is_number_integer()) ? d : d * 1000.0;
    if (!std::isfinite(ms) || std::fabs(ms) > 9.0e15) {
      type_error("Numeric value out of range of a timestamp");
      return std::nullopt;
    }
    return timestamp(duration(std::llround(ms)));
  }
  if (auto m = container_misplaced(*v)) {
    type_error(*m);
  } else {
    type_error("class " + java_class(*v) + " can not be converted to milliseconds since epoch");
  }
  return std::nullopt;
}

std::optional<std::string_view> reader::blob(std::string_view key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (format_ == body_format::cbor && v->is_binary()) {
    const auto& b = v->get_binary();
    return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
  }
  if (v->is_string()) {
    auto decoded = base64_decode(v->get_ref<const std::string&>());
    if (!decoded) {
      type_error(decoded.error().message());
      return std::nullopt;
    }
    st_->blobs.push_back(std::move(*decoded));
    return std::string_view(st_->blobs.back());
  }
  if (auto m = container_misplaced(*v)) {
    type_error(*m);
  } else {
    type_error("class " + java_class(*v) + " can not be converted to a Blob");
  }
  return std::nullopt;
}

const json* reader::structure(std::string_view key) {
  const json* v = get(key);
  if (!v) return nullptr;
  if (v->is_object()) return v;
  type_error(v->is_array() ? "Start of list found where not expected" : "Unexpected value type in payload");
  return nullptr;
}

const json* reader::list(std::string_view key) {
  const json* v = get(key);
  if (!v) return nullptr;
  if (v->is_array()) return v;
  type_error(v->is_object() ? "Start of structure or map found where not expected." : "Expected list or null");
  return nullptr;
}

const json* reader::map(std::string_view key) {
  const json* v = get(key);
  if (!v) return nullptr;
  if (v->is_object()) return v;
  type_error(v->is_array() ? "Start of list found where not expected" : "Expected map or null");
  return nullptr;
}

reader reader::nested(const json& object, std::string path) const {
  reader r(object, format_, *st_);
  r.path_ = path_ + std::move(path);
  return r;
}

void reader::require(std::string_view key, bool present) {
  if (!present && !st_->type_error) {
    validation("Value null at '" + member(key) + "' failed to satisfy constraint: Member must not be null");
  }
}

void reader::bad_enum(std::string_view key, const std::string& value, std::string_view allowed) {
  validation("Value '" + value + "' at '" + member(key) +
             "' failed to satisfy constraint: Member must satisfy enum value set: [" + std::string(allowed) + "]");
}

error reader::to_error() const {
  if (st_->type_error) return error(error_code::validation_exception, *st_->type_error);
  const auto& v = st_->validation;
  std::string msg = std::to_string(v.size()) + " validation error" + (v.size() == 1 ? "" : "s") + " detected: ";
  for (std::size_t i = 0; i < v.size() && i < 10; ++i) {
    if (i) msg += "; ";
    msg += v[i];
  }
  return error(error_code::validation_exception, std::move(msg));
}

// ---------------------------------------------------------------------------
// Encoders of the shared shapes

namespace {

template <class E, std::size_t N>
std::optional<E> enum_member(reader& in, std::string_view key, const E (&values)[N]) {
  auto s = in.str(key);
  if (!s) return std::nullopt;
  for (E v : values) {
    if (to_string(v) == *s) return v;
  }
  std::string allowed;
  for (E v : values) {
    if (!allowed.empty()) allowed += ", ";
    allowed += to_string(v);
  }
  in.bad_enum(key, *s, allowed);
  return std::nullopt;
}

constexpr stream_mode stream_modes[] = {stream_mode::provisioned, stream_mode::on_demand};
// In AWS's printed order (the engine's kShardIteratorTypeSet).
constexpr shard_iterator_type iterator_types[] = {
    shard_iterator_type::after_sequence_number, shard_iterator_type::latest, shard_iterator_type::at_timestamp,
    shard_iterator_type::at_sequence_number, shard_iterator_type::trim_horizon};
constexpr shard_filter_type filter_types[] = {shard_filter_type::after_shard_id,    shard_filter_type::at_trim_horizon,
                                              shard_filter_type::from_trim_horizon, shard_filter_type::at_latest,
                                              shard_filter_type::at_timestamp,      shard_filter_type::from_timestamp};
constexpr scaling_type scaling_types[] = {scaling_type::uniform_scaling};

void stream_target(reader& in, std::optional<std::string>& name, std::optional<std::string>& arn) {
  name = in.str("StreamName");
  arn = in.str("StreamARN");
}

std::optional<stream_mode_details> mode_details(reader& in, std::string_view key) {
  const json* s = in.structure(key);
  if (!s) return std::nullopt;
  reader sub = in.nested(*s, "streamModeDetails.");
  auto mode = enum_member(sub, "StreamMode", stream_modes);
  sub.require("StreamMode", mode.has_value() || sub.failed());
  return stream_mode_details{.stream_mode = mode.value_or(stream_mode::provisioned)};
}

json mode_json(const stream_mode_details& d) { return json{{"StreamMode", to_string(d.stream_mode)}}; }

json hash_range_json(const hash_key_range& r) {
  return json{{"StartingHashKey", r.starting_hash_key.to_string()}, {"EndingHashKey", r.ending_hash_key.to_string()}};
}

json shard_json(const shard& s) {
  json j = json::object();
  j["ShardId"] = s.shard_id.to_string();
  if (s.parent_shard_id) j["ParentShardId"] = s.parent_shard_id->to_string();
  if (s.adjacent_parent_shard_id) j["AdjacentParentShardId"] = s.adjacent_parent_shard_id->to_string();
  j["HashKeyRange"] = hash_range_json(s.hash_key_range);
  json seq = json{{"StartingSequenceNumber", s.sequence_number_range.starting_sequence_number.to_string()}};
  if (s.sequence_number_range.ending_sequence_number) {
    seq["EndingSequenceNumber"] = s.sequence_number_range.ending_sequence_number->to_string();
  }
  j["SequenceNumberRange"] = std::move(seq);
  return j;
}

json shards_json(const std::vector<shard>& shards) {
  json a = json::array();
  for (const auto& s : shards) a.push_back(shard_json(s));
  return a;
}

json monitoring_json(const std::vector<enhanced_metrics>& m) {
  json a = json::array();
  for (const auto& e : m) a.push_back(json{{"ShardLevelMetrics", e.shard_level_metrics}});
  return a;
}

std::map<std::string, std::string> tag_map(reader& in, std::string_view key) {
  std::map<std::string, std::string> tags;
  const json* m = in.map(key);
  if (!m) return tags;
  for (const auto& [k, v] : m->items()) {
    if (!v.is_string()) {
      in.type_error(v.is_null()
                        ? "Unexpected value type in payload"
                        : (container_misplaced(v) ? *container_misplaced(v)
                                                  : "class " + java_class(v) + " can not be converted to an String"));
      break;
    }
    tags[k] = v.get<std::string>();
  }
  return tags;
}

std::vector<std::string> string_list(reader& in, std::string_view key) {
  std::vector<std::string> out;
  const json* l = in.list(key);
  if (!l) return out;
  for (const auto& v : *l) {
    if (!v.is_string()) {
      auto m = container_misplaced(v);
      in.type_error(m ? *m : "class " + java_class(v) + " can not be converted to an String");
      break;
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

// Operations

/// The answer of an operation whose success has no fields: its error, or an empty body.
op_result no_output(const result<void>& res) {
  if (!res) return res.error();
  return op_output{};
}

op_result create_stream(kinesis& k, reader& in) {
  create_stream_request r;
  auto name = in.str("StreamName");
  r.shard_count = in.i32("ShardCount");
  r.stream_mode_details = mode_details(in, "StreamModeDetails");
  r.tags = tag_map(in, "Tags");
  r.max_record_size_in_kib = in.i32("MaxRecordSizeInKiB");
  in.require("StreamName", name.has_value());
  if (in.failed()) return in.to_error();
  r.stream_name = std::move(*name);
  return no_output(k.create_stream(r));
}

op_result delete_stream(kinesis& k, reader& in) {
  delete_stream_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  r.enforce_consumer_deletion = in.boolean("EnforceConsumerDeletion").value_or(false);
  if (in.failed()) return in.to_error();
  return no_output(k.delete_stream(r));
}

op_result list_streams(kinesis& k, reader& in) {
  list_streams_request r;
  r.limit = in.i32("Limit");
  r.exclusive_start_stream_name = in.str("ExclusiveStartStreamName");
  r.next_token = in.str("NextToken");
  if (in.failed()) return in.to_error();
  auto res = k.list_streams(r);
  if (!res) return res.error();
  json out = json::object();
  out["StreamNames"] = res->stream_names;
  out["HasMoreStreams"] = res->has_more_streams;
  if (res->next_token) out["NextToken"] = *res->next_token;
  json sums = json::array();
  for (const auto& s : res->stream_summaries) {
    sums.push_back(json{{"StreamName", s.stream_name},
                        {"StreamARN", s.stream_arn},
                        {"StreamStatus", to_string(s.stream_status)},
                        {"StreamModeDetails", mode_json(s.stream_mode_details)},
                        {"StreamCreationTimestamp", timestamp_value(s.stream_creation_timestamp)}});
  }
  out["StreamSummaries"] = std::move(sums);
  return op_output(std::move(out));
}

op_result describe_stream(kinesis& k, reader& in) {
  describe_stream_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  r.limit = in.i32("Limit");
  r.exclusive_start_shard_id = in.str("ExclusiveStartShardId");
  if (in.failed()) return in.to_error();
  auto res = k.describe_stream(r);
  if (!res) return res.error();
  const auto& d = res->stream_description;
  json desc = json::object();
  desc["StreamName"] = d.stream_name;
  desc["StreamARN"] = d.stream_arn;
  desc["StreamStatus"] = to_string(d.stream_status);
  desc["StreamModeDetails"] = mode_json(d.stream_mode_details);
  desc["Shards"] = shards_json(d.shards);
  desc["HasMoreShards"] = d.has_more_shards;
  desc["RetentionPeriodHours"] = d.retention_period_hours;
  desc["StreamCreationTimestamp"] = timestamp_value(d.stream_creation_timestamp);
  desc["EnhancedMonitoring"] = monitoring_json(d.enhanced_monitoring);
  desc["EncryptionType"] = to_string(d.encryption_type);
  if (d.key_id) desc["KeyId"] = *d.key_id;
  desc["MaxRecordSizeInKiB"] = d.max_record_size_in_kib;
  return op_output(json{{"StreamDescription", std::move(desc)}});
}

op_result describe_stream_summary(kinesis& k, reader& in) {
  describe_stream_summary_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  r.stream_id = in.str("StreamId");
  if (in.failed()) return in.to_error();
  auto res = k.describe_stream_summary(r);
  if (!res) return res.error();
  const auto& d = res->stream_description_summary;
  json desc = json::object();
  desc["StreamName"] = d.stream_name;
  desc["StreamARN"] = d.stream_arn;
  desc["StreamStatus"] = to_string(d.stream_status);
  desc["StreamModeDetails"] = mode_json(d.stream_mode_details);
  desc["RetentionPeriodHours"] = d.retention_period_hours;
  desc["StreamCreationTimestamp"] = timestamp_value(d.stream_creation_timestamp);
  desc["EnhancedMonitoring"] = monitoring_json(d.enhanced_monitoring);
  desc["EncryptionType"] = to_string(d.encryption_type);
  if (d.key_id) desc["KeyId"] = *d.key_id;
  desc["OpenShardCount"] = d.open_shard_count;
  desc["ConsumerCount"] = d.consumer_count;
  desc["MaxRecordSizeInKiB"] = d.max_record_size_in_kib;
  return op_output(json{{"StreamDescriptionSummary", std::move(desc)}});
}

op_result list_shards(kinesis& k, reader& in) {
  list_shards_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  r.next_token = in.str("NextToken");
  r.exclusive_start_shard_id = in.str("ExclusiveStartShardId");
  r.max_results = in.i32("MaxResults");
  r.stream_creation_timestamp = in.time("StreamCreationTimestamp");
  if (const json* f = in.structure("ShardFilter")) {
    reader sub = in.nested(*f, "shardFilter.");
    shard_filter filter;
    auto type = enum_member(sub, "Type", filter_types);
    sub.require("Type", type.has_value() || sub.failed());
    filter.type = type.value_or(shard_filter_type::from_trim_horizon);
    filter.shard_id = sub.str("ShardId");
    filter.timestamp = sub.time("Timestamp");
    r.shard_filter = filter;
  }
  if (in.failed()) return in.to_error();
  auto res = k.list_shards(r);
  if (!res) return res.error();
  json out = json::object();
  out["Shards"] = shards_json(res->shards);
  if (res->next_token) out["NextToken"] = *res->next_token;
  return op_output(std::move(out));
}

template <result<void> (kinesis::*Fn)(const update_retention_period_request&)>
op_result retention(kinesis& k, reader& in) {
  update_retention_period_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  auto hours = in.i32("RetentionPeriodHours");
  in.require("RetentionPeriodHours", hours.has_value());
  if (in.failed()) return in.to_error();
  r.retention_period_hours = *hours;
  if (auto res = (k.*Fn)(r); !res) return res.error();
  return op_output{};
}

op_result add_tags(kinesis& k, reader& in) {
  add_tags_to_stream_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  bool present = in.map("Tags") != nullptr;
  r.tags = tag_map(in, "Tags");
  in.require("Tags", present);
  if (in.failed()) return in.to_error();
  return no_output(k.add_tags_to_stream(r));
}

op_result remove_tags(kinesis& k, reader& in) {
  remove_tags_from_stream_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  bool present = in.list("TagKeys") != nullptr;
  r.tag_keys = string_list(in, "TagKeys");
  in.require("TagKeys", present);
  if (in.failed()) return in.to_error();
  return no_output(k.remove_tags_from_stream(r));
}

op_result list_tags(kinesis& k, reader& in) {
  list_tags_for_stream_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  r.exclusive_start_tag_key = in.str("ExclusiveStartTagKey");
  r.limit = in.i32("Limit");
  if (in.failed()) return in.to_error();
  auto res = k.list_tags_for_stream(r);
  if (!res) return res.error();
  json tags = json::array();
  for (const auto& t : res->tags) tags.push_back(json{{"Key", t.key}, {"Value", t.value}});
  return op_output(json{{"Tags", std::move(tags)}, {"HasMoreTags", res->has_more_tags}});
}

op_result split_shard(kinesis& k, reader& in) {
  split_shard_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  auto shard = in.str("ShardToSplit");
  auto key = in.str("NewStartingHashKey");
  in.require("ShardToSplit", shard.has_value());
  in.require("NewStartingHashKey", key.has_value());
  if (in.failed()) return in.to_error();
  r.shard_to_split = std::move(*shard);
  r.new_starting_hash_key = std::move(*key);
  return no_output(k.split_shard(r));
}

op_result merge_shards(kinesis& k, reader& in) {
  merge_shards_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  auto a = in.str("ShardToMerge");
  auto b = in.str("AdjacentShardToMerge");
  in.require("ShardToMerge", a.has_value());
  in.require("AdjacentShardToMerge", b.has_value());
  if (in.failed()) return in.to_error();
  r.shard_to_merge = std::move(*a);
  r.adjacent_shard_to_merge = std::move(*b);
  return no_output(k.merge_shards(r));
}

op_result update_shard_count(kinesis& k, reader& in) {
  update_shard_count_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  auto target = in.i32("TargetShardCount");
  auto scaling = enum_member(in, "ScalingType", scaling_types);
  in.require("TargetShardCount", target.has_value());
  in.require("ScalingType", scaling.has_value() || in.failed());
  if (in.failed()) return in.to_error();
  r.target_shard_count = *target;
  r.scaling_type = *scaling;
  auto res = k.update_shard_count(r);
  if (!res) return res.error();
  return op_output(json{{"StreamName", res->stream_name},
                        {"StreamARN", res->stream_arn},
                        {"CurrentShardCount", res->current_shard_count},
                        {"TargetShardCount", res->target_shard_count}});
}

op_result update_stream_mode(kinesis& k, reader& in) {
  update_stream_mode_request r;
  auto arn = in.str("StreamARN");
  auto details = mode_details(in, "StreamModeDetails");
  in.require("StreamARN", arn.has_value());
  in.require("StreamModeDetails", details.has_value() || in.failed());
  if (in.failed()) return in.to_error();
  r.stream_arn = std::move(*arn);
  r.stream_mode_details = *details;
  return no_output(k.update_stream_mode(r));
}

template <result<enhanced_monitoring_result> (kinesis::*Fn)(const enhanced_monitoring_request&)>
op_result monitoring(kinesis& k, reader& in) {
  enhanced_monitoring_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  bool present = in.list("ShardLevelMetrics") != nullptr;
  r.shard_level_metrics = string_list(in, "ShardLevelMetrics");
  in.require("ShardLevelMetrics", present);
  if (in.failed()) return in.to_error();
  auto res = (k.*Fn)(r);
  if (!res) return res.error();
  return op_output(json{{"StreamName", res->stream_name},
                        {"StreamARN", res->stream_arn},
                        {"CurrentShardLevelMetrics", res->current_shard_level_metrics},
                        {"DesiredShardLevelMetrics", res->desired_shard_level_metrics}});
}

op_result describe_limits(kinesis& k, reader& in) {
  if (in.failed()) return in.to_error();
  auto res = k.describe_limits();
  if (!res) return res.error();
  return op_output(json{{"ShardLimit", res->shard_limit},
                        {"OpenShardCount", res->open_shard_count},
                        {"OnDemandStreamCount", res->on_demand_stream_count},
                        {"OnDemandStreamCountLimit", res->on_demand_stream_count_limit}});
}

op_result put_record(kinesis& k, reader& in) {
  put_record_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  auto data = in.blob("Data");
  auto key = in.str("PartitionKey");
  auto ehk = in.str("ExplicitHashKey");
  auto sfo = in.str("SequenceNumberForOrdering");
  r.stream_id = in.str("StreamId");
  in.require("Data", data.has_value());
  in.require("PartitionKey", key.has_value());
  if (in.failed()) return in.to_error();
  r.data = *data;
  r.partition_key = *key;
  if (ehk) r.explicit_hash_key = std::string_view(*ehk);
  if (sfo) r.sequence_number_for_ordering = std::string_view(*sfo);
  auto res = k.put_record(r);
  if (!res) return res.error();
  return op_output(json{{"ShardId", res->shard_id.to_string()},
                        {"SequenceNumber", res->sequence_number.to_string()},
                        {"EncryptionType", to_string(res->encryption_type)}});
}

// --- Large records, ARN tagging, resource policies -------------------------------

op_result update_max_record_size(kinesis& k, reader& in) {
  update_max_record_size_request r;
  auto arn = in.str("StreamARN");
  r.stream_id = in.str("StreamId");
  auto size = in.i32("MaxRecordSizeInKiB");
  in.require("StreamARN", arn.has_value());
  in.require("MaxRecordSizeInKiB", size.has_value());
  if (in.failed()) return in.to_error();
  r.stream_arn = std::move(*arn);
  r.max_record_size_in_kib = *size;
  return no_output(k.update_max_record_size(r));
}

op_result tag_resource(kinesis& k, reader& in) {
  tag_resource_request r;
  auto arn = in.str("ResourceARN");
  bool present = in.map("Tags") != nullptr;
  r.tags = tag_map(in, "Tags");
  r.stream_id = in.str("StreamId");
  in.require("ResourceARN", arn.has_value());
  in.require("Tags", present);
  if (in.failed()) return in.to_error();
  r.resource_arn = std::move(*arn);
  return no_output(k.tag_resource(r));
}

op_result untag_resource(kinesis& k, reader& in) {
  untag_resource_request r;
  auto arn = in.str("ResourceARN");
  bool present = in.list("TagKeys") != nullptr;
  r.tag_keys = string_list(in, "TagKeys");
  r.stream_id = in.str("StreamId");
  in.require("ResourceARN", arn.has_value());
  in.require("TagKeys", present);
  if (in.failed()) return in.to_error();
  r.resource_arn = std::move(*arn);
  return no_output(k.untag_resource(r));
}

op_result list_tags_for_resource(kinesis& k, reader& in) {
  list_tags_for_resource_request r;
  auto arn = in.str("ResourceARN");
  r.stream_id = in.str("StreamId");
  in.require("ResourceARN", arn.has_value());
  if (in.failed()) return in.to_error();
  r.resource_arn = std::move(*arn);
  auto res = k.list_tags_for_resource(r);
  if (!res) return res.error();
  json tags = json::array();
  for (const auto& t : res->tags) tags.push_back(json{{"Key", t.key}, {"Value", t.value}});
  return op_output(json{{"Tags", std::move(tags)}});
}

op_result put_resource_policy(kinesis& k, reader& in) {
  put_resource_policy_request r;
  auto arn = in.str("ResourceARN");
  auto policy = in.str("Policy");
  in.require("ResourceARN", arn.has_value());
  in.require("Policy", policy.has_value());
  if (in.failed()) return in.to_error();
  r.resource_arn = std::move(*arn);
  r.policy = std::move(*policy);
  return no_output(k.put_resource_policy(r));
}

op_result get_resource_policy(kinesis& k, reader& in) {
  get_resource_policy_request r;
  auto arn = in.str("ResourceARN");
  in.require("ResourceARN", arn.has_value());
  if (in.failed()) return in.to_error();
  r.resource_arn = std::move(*arn);
  auto res = k.get_resource_policy(r);
  if (!res) return res.error();
  return op_output(json{{"Policy", res->policy}});
}

op_result delete_resource_policy(kinesis& k, reader& in) {
  delete_resource_policy_request r;
  auto arn = in.str("ResourceARN");
  in.require("ResourceARN", arn.has_value());
  if (in.failed()) return in.to_error();
  r.resource_arn = std::move(*arn);
  return no_output(k.delete_resource_policy(r));
}

// --- Enhanced fan-out ---------------------------------------------------------

json consumer_json(const consumer& c) {
  return json{{"ConsumerName", c.consumer_name},
              {"ConsumerARN", c.consumer_arn},
              {"ConsumerStatus", to_string(c.consumer_status)},
              {"ConsumerCreationTimestamp", timestamp_value(c.consumer_creation_timestamp)}};
}

op_result register_consumer(kinesis& k, reader& in) {
  register_stream_consumer_request r;
  auto arn = in.str("StreamARN");
  auto name = in.str("ConsumerName");
  in.require("StreamARN", arn.has_value());
  in.require("ConsumerName", name.has_value());
  if (in.failed()) return in.to_error();
  r.stream_arn = std::move(*arn);
  r.consumer_name = std::move(*name);
  auto res = k.register_stream_consumer(r);
  if (!res) return res.error();
  return op_output(json{{"Consumer", consumer_json(res->consumer)}});
}

void consumer_target(reader& in, describe_stream_consumer_request& r) {
  r.stream_arn = in.str("StreamARN");
  r.consumer_name = in.str("ConsumerName");
  r.consumer_arn = in.str("ConsumerARN");
}

op_result describe_consumer(kinesis& k, reader& in) {
  describe_stream_consumer_request r;
  consumer_target(in, r);
  if (in.failed()) return in.to_error();
  auto res = k.describe_stream_consumer(r);
  if (!res) return res.error();
  const auto& d = res->consumer_description;
  return op_output(
      json{{"ConsumerDescription", json{{"ConsumerName", d.consumer_name},
                                        {"ConsumerARN", d.consumer_arn},
                                        {"ConsumerStatus", to_string(d.consumer_status)},
                                        {"ConsumerCreationTimestamp", timestamp_value(d.consumer_creation_timestamp)},
                                        {"StreamARN", d.stream_arn}}}});
}

op_result deregister_consumer(kinesis& k, reader& in) {
  deregister_stream_consumer_request r;
  consumer_target(in, r);
  if (in.failed()) return in.to_error();
  return no_output(k.deregister_stream_consumer(r));
}

op_result list_consumers(kinesis& k, reader& in) {
  list_stream_consumers_request r;
  r.stream_arn = in.str("StreamARN");
  r.next_token = in.str("NextToken");
  r.max_results = in.i32("MaxResults");
  r.stream_creation_timestamp = in.time("StreamCreationTimestamp");
  if (in.failed()) return in.to_error();
  auto res = k.list_stream_consumers(r);
  if (!res) return res.error();
  json list = json::array();
  for (const auto& c : res->consumers) list.push_back(consumer_json(c));
  json out = json{{"Consumers", std::move(list)}};
  if (res->next_token) out["NextToken"] = *res->next_token;
  return op_output(std::move(out));
}

op_result subscribe_to_shard(kinesis& k, reader& in) {
  subscribe_to_shard_request r;
  auto arn = in.str("ConsumerARN");
  auto shard = in.str("ShardId");
  const json* pos = in.structure("StartingPosition");
  if (pos) {
    reader sub = in.nested(*pos, "startingPosition.");
    auto type = enum_member(sub, "Type", iterator_types);
    sub.require("Type", type.has_value() || sub.failed());
    r.starting_position.type = type.value_or(shard_iterator_type::latest);
    r.starting_position.sequence_number = sub.str("SequenceNumber");
    r.starting_position.timestamp = sub.time("Timestamp");
  }
  in.require("ConsumerARN", arn.has_value());
  in.require("ShardId", shard.has_value());
  in.require("StartingPosition", pos != nullptr);
  if (in.failed()) return in.to_error();
  r.consumer_arn = std::move(*arn);
  r.shard_id = std::move(*shard);
  auto pipe = event_pipe::subscribe(k, std::move(r), in.format());
  if (!pipe) return pipe.error();
  return op_output::streaming(std::move(*pipe));
}

// ---------------------------------------------------------------------------
// Direct writers of the large results (no tree), and the PutRecords fast path.

std::string write_put_records_result(const put_records_result& res, body_format f) {
  std::string out;
  out.reserve(64 + res.records.size() * 112);  // an entry is 111 bytes with its comma (56-digit numbers)
  if (f == body_format::json) {
    out += "{\"FailedRecordCount\":";
    out += std::to_string(res.failed_record_count);
    out += ",\"Records\":[";
    bool first = true;
    sequence_number_writer seq;
    for (const auto& e : res.records) {
      if (!first) out.push_back(',');
      first = false;
      if (e.ok()) {
        // One entry into a stack buffer, then one append (no snprintf, no
        // temporary strings).
        static constexpr std::string_view a = "{\"ShardId\":\"";
        static constexpr std::string_view b = "\",\"SequenceNumber\":\"";
        char buf[a.size() + 20 + b.size() + max_sequence_number_digits + 2];
        char* p = std::copy(a.begin(), a.end(), buf);
        p = write_shard_id(e.shard_id, p);
        p = std::copy(b.begin(), b.end(), p);
        p = seq.write(e.sequence_number, p);
        *p++ = '"';
        *p++ = '}';
        out.append(buf, static_cast<std::size_t>(p - buf));
      } else {
        out += "{\"ErrorCode\":";
        append_json_string(to_string(*e.error_code), out);
        out += ",\"ErrorMessage\":";
        append_json_string(e.error_message, out);
        out.push_back('}');
      }
    }
    out += "],\"EncryptionType\":";
    append_json_string(to_string(res.encryption_type), out);
    out.push_back('}');
    return out;
  }
  cbor_head(5, 3, out);
  cbor_text("FailedRecordCount", out);
  cbor_head(0, static_cast<std::uint64_t>(res.failed_record_count), out);
  cbor_text("Records", out);
  cbor_head(4, res.records.size(), out);
  sequence_number_writer seq;
  for (const auto& e : res.records) {
    cbor_head(5, 2, out);
    if (e.ok()) {
      char buf[max_sequence_number_digits];
      cbor_text("ShardId", out);
      cbor_text(std::string_view(buf, static_cast<std::size_t>(write_shard_id(e.shard_id, buf) - buf)), out);
      cbor_text("SequenceNumber", out);
      cbor_text(std::string_view(buf, static_cast<std::size_t>(seq.write(e.sequence_number, buf) - buf)), out);
    } else {
      cbor_text("ErrorCode", out);
      cbor_text(to_string(*e.error_code), out);
      cbor_text("ErrorMessage", out);
      cbor_text(e.error_message, out);
    }
  }
  cbor_text("EncryptionType", out);
  cbor_text(to_string(res.encryption_type), out);
  return out;
}

void append_hash_range(const hash_key_range& r, body_format f, std::string& out) {
  if (f == body_format::json) {
    out += "{\"StartingHashKey\":\"" + r.starting_hash_key.to_string() + "\",\"EndingHashKey\":\"" +
           r.ending_hash_key.to_string() + "\"}";
  } else {
    cbor_head(5, 2, out);
    cbor_text("StartingHashKey", out);
    cbor_text(r.starting_hash_key.to_string(), out);
    cbor_text("EndingHashKey", out);
    cbor_text(r.ending_hash_key.to_string(), out);
  }
}

std::string write_get_records_result(const get_records_result& res, body_format f) {
  std::string out;
  std::size_t bytes = 0;
  for (const auto& r : res.records) bytes += r.data.size() + r.partition_key.size();
  out.reserve(128 + res.records.size() * 150 + bytes * 4 / 3);
  const bool json = f == body_format::json;
  const bool children = !res.child_shards.empty();
  if (json) {
    out += "{\"Records\":[";
  } else {
    cbor_head(5, 2 + (res.next_shard_iterator ? 1 : 0) + (children ? 1 : 0), out);
    cbor_text("Records", out);
    cbor_head(4, res.records.size(), out);
  }
  bool first = true;
  sequence_number_writer seq;
  for (const auto& r : res.records) {
    const bool encrypted = r.encryption_type != encryption_type::none;
    if (json) {
      if (!first) out.push_back(',');
      first = false;
      out += "{\"SequenceNumber\":\"";
      char buf[max_sequence_number_digits];
      out.append(buf, static_cast<std::size_t>(seq.write(r.sequence_number, buf) - buf));
      out += "\",\"ApproximateArrivalTimestamp\":";
      append_epoch_seconds(r.approximate_arrival_timestamp.time_since_epoch().count(), out);
      out += ",\"Data\":\"";
      base64_encode(r.data, out);
      out += "\",\"PartitionKey\":";
      append_json_string(r.partition_key, out);
      if (encrypted) {
        out += ",\"EncryptionType\":";
        append_json_string(to_string(r.encryption_type), out);
      }
      out.push_back('}');
    } else {
      cbor_head(5, encrypted ? 5 : 4, out);
      cbor_text("SequenceNumber", out);
      char buf[max_sequence_number_digits];
      cbor_text(std::string_view(buf, static_cast<std::size_t>(seq.write(r.sequence_number, buf) - buf)), out);
      cbor_text("ApproximateArrivalTimestamp", out);
      cbor_head(6, 1, out);
      auto ms = r.approximate_arrival_timestamp.time_since_epoch().count();
      if (ms >= 0) {
        cbor_head(0, static_cast<std::uint64_t>(ms), out);
      } else {
        cbor_head(1, static_cast<std::uint64_t>(-(ms + 1)), out);
      }
      cbor_text("Data", out);
      cbor_head(2, r.data.size(), out);
      out.append(r.data);
      cbor_text("PartitionKey", out);
      cbor_text(r.partition_key, out);
      if (encrypted) {
        cbor_text("EncryptionType", out);
        cbor_text(to_string(r.encryption_type), out);
      }
    }
  }
  if (json) {
    out += "]";
    if (res.next_shard_iterator) {
      out += ",\"NextShardIterator\":";
      append_json_string(*res.next_shard_iterator, out);
    }
    out += ",\"MillisBehindLatest\":" + std::to_string(res.millis_behind_latest);
  } else {
    if (res.next_shard_iterator) {
      cbor_text("NextShardIterator", out);
      cbor_text(*res.next_shard_iterator, out);
    }
    cbor_text("MillisBehindLatest", out);
    cbor_head(0, static_cast<std::uint64_t>(std::max<std::int64_t>(0, res.millis_behind_latest)), out);
  }
  if (children) {
    if (json) {
      out += ",\"ChildShards\":[";
    } else {
      cbor_text("ChildShards", out);
      cbor_head(4, res.child_shards.size(), out);
    }
    bool firstc = true;
    for (const auto& c : res.child_shards) {
      if (json) {
        if (!firstc) out.push_back(',');
        firstc = false;
        out += "{\"ShardId\":\"" + c.shard_id.to_string() + "\",\"ParentShards\":[";
        for (std::size_t i = 0; i < c.parent_shards.size(); ++i) {
          if (i) out.push_back(',');
          out.push_back('"');
          out += c.parent_shards[i].to_string();
          out.push_back('"');
        }
        out += "],\"HashKeyRange\":";
        append_hash_range(c.hash_key_range, f, out);
        out.push_back('}');
      } else {
        cbor_head(5, 3, out);
        cbor_text("ShardId", out);
        cbor_text(c.shard_id.to_string(), out);
        cbor_text("ParentShards", out);
        cbor_head(4, c.parent_shards.size(), out);
        for (const auto& p : c.parent_shards) cbor_text(p.to_string(), out);
        cbor_text("HashKeyRange", out);
        append_hash_range(c.hash_key_range, f, out);
      }
    }
    if (json) out.push_back(']');
  }
  if (json) out.push_back('}');
  return out;
}

// A scanner for the one JSON shape PutRecords takes, without a tree. It accepts
// only what it can answer exactly (no escapes, no nulls, no unknown members, a
// valid base64 Data and both required members); anything else goes to the
// generic path, which gives AWS's errors. Data is decoded as it is met, into one
// arena sized from the body (every blob's bytes ≤ 3/4 of its characters), so a
// request costs no allocation per record.
class put_records_scanner {
 public:
  put_records_scanner(std::string_view in, char* arena) : p_(in.data()), end_(in.data() + in.size()), arena_(arena) {}

  bool scan(put_records_request& req) {
    if (!lit('{')) return false;
    bool records = false;
    if (peek('}')) return false;
    do {
      std::string_view key;
      if (!string(key) || !lit(':')) return false;
      if (key == "StreamName" || key == "StreamARN") {
        std::string_view v;
        if (!string(v)) return false;
        (key == "StreamName" ? req.stream_name : req.stream_arn) = std::string(v);
      } else if (key == "Records") {
        if (records || !lit('[')) return false;
        records = true;
        if (peek(']')) return false;  // an empty list is a validation error: generic path
        do {
          if (!entry(req)) return false;
        } while (lit(','));
        if (!lit(']')) return false;
      } else {
        return false;
      }
    } while (lit(','));
    if (!lit('}')) return false;
    ws();
    return records && p_ == end_;
  }

 private:
  void ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool lit(char c) {
    ws();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool peek(char c) {
    ws();
    if (p_ != end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool string(std::string_view& out) {
    if (!lit('"')) return false;
    const char* start = p_;
    while (p_ != end_ && *p_ != '"') {
      auto c = static_cast<unsigned char>(*p_);
      if (c == '\\' || c < 0x20 || c >= 0x80) return false;  // escapes, controls, non-ASCII: generic path
      ++p_;
    }
    if (p_ == end_) return false;
    out = std::string_view(start, static_cast<std::size_t>(p_ - start));
    ++p_;
    return true;
  }
  // A member name of an entry and its colon: 0 Data, 1 PartitionKey, 2
  // ExplicitHashKey, 3 anything else, -1 not a name. The three names, written as
  // SDKs write them (no space before the colon), are matched as one
  // fixed-size comparison each; anything else is read as a string.
  enum member { data_member, key_member, hash_key_member, other_member, no_member = -1 };
  template <std::size_t N>
  bool literal(const char (&text)[N]) {
    constexpr std::size_t n = N - 1;
    if (static_cast<std::size_t>(end_ - p_) < n || std::memcmp(p_, text, n) != 0) return false;
    p_ += n;
    return true;
  }
  member member_key() {
    ws();
    if (literal("\"Data\":")) return data_member;
    if (literal("\"PartitionKey\":")) return key_member;
    if (literal("\"ExplicitHashKey\":")) return hash_key_member;
    std::string_view k;
    if (!string(k) || !lit(':')) return no_member;
    return k == "Data"              ? data_member
           : k == "PartitionKey"    ? key_member
           : k == "ExplicitHashKey" ? hash_key_member
                                    : other_member;
  }
  // A Data string: up to the next quote (memchr), then the strict decoder,
  // whose alphabet has no backslash, control or non-ASCII character — so a
  // string the decoder accepts had no escapes either.
  bool blob(std::string_view& out) {
    if (!lit('"')) return false;
    const void* q = std::memchr(p_, '"', static_cast<std::size_t>(end_ - p_));
    if (!q) return false;
    const char* close = static_cast<const char*>(q);
    auto n = base64_decode_to(std::string_view(p_, static_cast<std::size_t>(close - p_)), arena_);
    if (!n) return false;
    out = std::string_view(arena_, *n);
    arena_ += *n;
    p_ = close + 1;
    return true;
  }
  bool entry(put_records_request& req) {
    if (!lit('{')) return false;
    std::optional<std::string_view> data, key, ehk;
    do {
      std::string_view v;
      const member m = member_key();
      if (m == data_member && !data) {
        if (!blob(v)) return false;
        data = v;
        continue;
      }
      if (m == no_member || m == other_member || !string(v)) return false;
      if (m == key_member && !key) {
        key = v;
      } else if (m == hash_key_member && !ehk) {
        ehk = v;
      } else {
        return false;
      }
    } while (lit(','));
    if (!lit('}') || !data || !key) return false;
    put_records_request_entry e;
    e.data = *data;          // a view into the arena
    e.partition_key = *key;  // views into the body, which outlives the call
    if (ehk) e.explicit_hash_key = *ehk;
    req.records.push_back(e);
    return true;
  }

  const char* p_;
  const char* end_;
  char* arena_;
};

// Per-thread buffers of the fast path, reused from request to request: the
// decoded-blob arena and the entry list. A thread keeps at most
// keep_scratch_bytes of arena between requests (a larger one is freed).
struct put_records_scratch {
  static constexpr std::size_t keep_scratch_bytes = 1u << 20;
  std::unique_ptr<char[]> arena;
  std::size_t capacity = 0;
  std::vector<put_records_request_entry> records;
  bool busy = false;
};

std::optional<op_result> put_records_fast(kinesis& k, std::string_view body, body_format f) {
  if (f != body_format::json) return std::nullopt;
  thread_local put_records_scratch tls;
  put_records_scratch local;  // only if this thread is already inside (a kinesis calling back)
  put_records_scratch& s = tls.busy ? local : tls;
  s.busy = true;
  const std::size_t room = base64_decode_room(body.size());
  if (s.capacity < room) {
    s.arena.reset(new char[room]);
    s.capacity = room;
  }
  put_records_request r;
  r.records = std::move(s.records);
  r.records.clear();
  if (r.records.capacity() < 512) r.records.reserve(512);
  std::optional<op_result> out;
  if (put_records_scanner(body, s.arena.get()).scan(r)) {
    auto res = k.put_records(r);
    out = res ? op_result(op_output::raw_body(write_put_records_result(*res, f))) : op_result(res.error());
  }
  s.records = std::move(r.records);
  if (s.capacity > put_records_scratch::keep_scratch_bytes) {
    s.arena.reset();
    s.capacity = 0;
  }
  if (s.records.capacity() > 4096) s.records = {};
  s.busy = false;
  return out;
}

op_result put_records(kinesis& k, reader& in) {
  put_records_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  r.stream_id = in.str("StreamId");
  const json* records = in.list("Records");
  in.require("Records", records != nullptr);
  // Partition keys and hash keys are held here so the request can view them.
  std::vector<std::string> keys;
  if (records) {
    keys.reserve(records->size() * 2);
    r.records.reserve(records->size());
    std::size_t i = 0;
    for (const auto& e : *records) {
      ++i;
      if (!e.is_object()) {
        in.type_error(e.is_array() ? "Start of list found where not expected" : "Unexpected value type in payload");
        break;
      }
      reader sub = in.nested(e, "records." + std::to_string(i) + ".member.");
      auto data = sub.blob("Data");
      auto key = sub.str("PartitionKey");
      auto ehk = sub.str("ExplicitHashKey");
      sub.require("Data", data.has_value());
      sub.require("PartitionKey", key.has_value());
      if (in.type_failed()) break;
      put_records_request_entry entry;
      entry.data = data.value_or(std::string_view{});
      keys.push_back(key.value_or(std::string{}));
      entry.partition_key = keys.back();
      if (ehk) {
        keys.push_back(std::move(*ehk));
        entry.explicit_hash_key = std::string_view(keys.back());
      }
      r.records.push_back(entry);
    }
  }
  if (in.failed()) return in.to_error();
  auto res = k.put_records(r);
  if (!res) return res.error();
  return op_output::raw_body(write_put_records_result(*res, in.format()));
}

op_result get_shard_iterator(kinesis& k, reader& in) {
  get_shard_iterator_request r;
  stream_target(in, r.stream_name, r.stream_arn);
  auto shard = in.str("ShardId");
  auto type = enum_member(in, "ShardIteratorType", iterator_types);
  r.starting_sequence_number = in.str("StartingSequenceNumber");
  r.timestamp = in.time("Timestamp");
  r.stream_id = in.str("StreamId");
  in.require("ShardId", shard.has_value());
  if (!type && !in.failed()) in.require("ShardIteratorType", false);
  if (in.failed()) return in.to_error();
  r.shard_id = std::move(*shard);
  r.shard_iterator_type = *type;
  auto res = k.get_shard_iterator(r);
  if (!res) return res.error();
  return op_output(json{{"ShardIterator", res->shard_iterator}});
}

op_result get_records(kinesis& k, reader& in) {
  get_records_request r;
  auto it = in.str("ShardIterator");
  r.limit = in.i32("Limit");
  r.stream_arn = in.str("StreamARN");
  r.stream_id = in.str("StreamId");
  in.require("ShardIterator", it.has_value());
  if (in.failed()) return in.to_error();
  r.shard_iterator = std::move(*it);
  auto res = k.get_records(r);
  if (!res) return res.error();
  return op_output::raw_body(write_get_records_result(*res, in.format()));
}

// --- Firehose_20150804 ----------------------------------------------------------

op_result firehose_put_record(firehose& f, reader& in) {
  delivery::put_record_request r;
  auto name = in.str("DeliveryStreamName");
  const json* rec = in.structure("Record");
  std::optional<std::string_view> data;
  if (rec) {
    reader sub = in.nested(*rec, "record.");
    data = sub.blob("Data");
    sub.require("Data", data.has_value());
  }
  in.require("DeliveryStreamName", name.has_value());
  in.require("Record", rec != nullptr);
  if (in.failed()) return in.to_error();
  r.delivery_stream_name = std::move(*name);
  r.record.data = *data;
  auto res = f.put_record(r);
  if (!res) return res.error();
  return op_output(json{{"RecordId", res->record_id}, {"Encrypted", res->encrypted}});
}

op_result firehose_put_record_batch(firehose& f, reader& in) {
  delivery::put_record_batch_request r;
  auto name = in.str("DeliveryStreamName");
  const json* records = in.list("Records");
  in.require("DeliveryStreamName", name.has_value());
  in.require("Records", records != nullptr);
  if (records) {
    std::size_t i = 0;
    for (const auto& e : *records) {
      ++i;
      if (!e.is_object()) {
        in.type_error(e.is_array() ? "Start of list found where not expected" : "Unexpected value type in payload");
        break;
      }
      reader sub = in.nested(e, "records." + std::to_string(i) + ".member.");
      auto data = sub.blob("Data");
      sub.require("Data", data.has_value());
      r.records.push_back({.data = data.value_or(std::string_view{})});
    }
  }
  if (in.failed()) return in.to_error();
  r.delivery_stream_name = std::move(*name);
  auto res = f.put_record_batch(r);
  if (!res) return res.error();
  json entries = json::array();
  for (const auto& e : res->request_responses) {
    json j = json::object();
    if (e.record_id) j["RecordId"] = *e.record_id;
    if (e.error_code) j["ErrorCode"] = *e.error_code;
    if (e.error_message) j["ErrorMessage"] = *e.error_message;
    entries.push_back(std::move(j));
  }
  return op_output(json{{"FailedPutCount", res->failed_put_count},
                        {"Encrypted", res->encrypted},
                        {"RequestResponses", std::move(entries)}});
}

op_result firehose_list(firehose& f, reader& in) {
  delivery::list_delivery_streams_request r;
  r.limit = in.i32("Limit");
  r.delivery_stream_type = in.str("DeliveryStreamType");
  r.exclusive_start_delivery_stream_name = in.str("ExclusiveStartDeliveryStreamName");
  if (in.failed()) return in.to_error();
  auto res = f.list_delivery_streams(r);
  if (!res) return res.error();
  return op_output(json{{"DeliveryStreamNames", res->delivery_stream_names},
                        {"HasMoreDeliveryStreams", res->has_more_delivery_streams}});
}

op_result firehose_delete(firehose& f, reader& in) {
  delivery::delete_delivery_stream_request r;
  auto name = in.str("DeliveryStreamName");
  r.allow_force_delete = in.boolean("AllowForceDelete").value_or(false);
  in.require("DeliveryStreamName", name.has_value());
  if (in.failed()) return in.to_error();
  r.delivery_stream_name = std::move(*name);
  if (auto res = f.delete_delivery_stream(r); !res) return res.error();
  return op_output(json::object());
}

// CreateDeliveryStream's configuration shapes.

std::optional<delivery::buffering_hints> fh_buffering(reader& in, std::string_view key, const std::string& path) {
  const json* j = in.structure(key);
  if (!j) return std::nullopt;
  reader sub = in.nested(*j, path);
  return delivery::buffering_hints{.size_in_mbs = sub.i32("SizeInMBs"),
                                   .interval_in_seconds = sub.i32("IntervalInSeconds")};
}

std::optional<delivery::s3_destination_configuration> fh_s3(reader& in, std::string_view key, const std::string& path) {
  const json* j = in.structure(key);
  if (!j) return std::nullopt;
  reader sub = in.nested(*j, path);
  delivery::s3_destination_configuration c;
  auto role = sub.str("RoleARN");
  auto bucket = sub.str("BucketARN");
  sub.require("RoleARN", role.has_value());
  sub.require("BucketARN", bucket.has_value());
  c.role_arn = role.value_or("");
  c.bucket_arn = bucket.value_or("");
  c.prefix = sub.str("Prefix");
  c.error_output_prefix = sub.str("ErrorOutputPrefix");
  c.buffering_hints = fh_buffering(sub, "BufferingHints", "bufferingHints.");
  c.compression_format = sub.str("CompressionFormat");
  return c;
}

std::optional<delivery::extended_s3_destination_configuration> fh_extended_s3(reader& in, std::string_view key) {
  const json* j = in.structure(key);
  if (!j) return std::nullopt;
  reader sub = in.nested(*j, "extendedS3DestinationConfiguration.");
  delivery::extended_s3_destination_configuration c;
  auto role = sub.str("RoleARN");
  auto bucket = sub.str("BucketARN");
  sub.require("RoleARN", role.has_value());
  sub.require("BucketARN", bucket.has_value());
  c.role_arn = role.value_or("");
  c.bucket_arn = bucket.value_or("");
  c.prefix = sub.str("Prefix");
  c.error_output_prefix = sub.str("ErrorOutputPrefix");
  c.buffering_hints = fh_buffering(sub, "BufferingHints", "bufferingHints.");
  c.compression_format = sub.str("CompressionFormat");
  if (const json* pc = sub.structure("ProcessingConfiguration")) {
    reader p = sub.nested(*pc, "processingConfiguration.");
    delivery::processing_configuration cfg;
    cfg.enabled = p.boolean("Enabled");
    if (const json* list = p.list("Processors")) {
      for (const auto& e : *list) {
        if (!e.is_object()) {
          p.type_error("Unexpected value type in payload");
          break;
        }
        reader pr = p.nested(e, "processors.member.");
        delivery::processor proc;
        auto type = pr.str("Type");
        pr.require("Type", type.has_value());
        proc.type = type.value_or("");
        if (const json* params = pr.list("Parameters")) {
          for (const auto& q : *params) {
            if (!q.is_object()) {
              pr.type_error("Unexpected value type in payload");
              break;
            }
            reader pp = pr.nested(q, "parameters.member.");
            auto name = pp.str("ParameterName");
            auto value = pp.str("ParameterValue");
            pp.require("ParameterName", name.has_value());
            pp.require("ParameterValue", value.has_value());
            proc.parameters.push_back({.parameter_name = name.value_or(""), .parameter_value = value.value_or("")});
          }
        }
        cfg.processors.push_back(std::move(proc));
      }
    }
    c.processing_configuration = std::move(cfg);
  }
  c.s3_backup_mode = sub.str("S3BackupMode");
  c.s3_backup_configuration = fh_s3(sub, "S3BackupConfiguration", "s3BackupConfiguration.");
  if (const json* dp = sub.structure("DynamicPartitioningConfiguration")) {
    reader d = sub.nested(*dp, "dynamicPartitioningConfiguration.");
    delivery::dynamic_partitioning_configuration cfg;
    cfg.enabled = d.boolean("Enabled");
    if (const json* ro = d.structure("RetryOptions")) {
      reader r = d.nested(*ro, "retryOptions.");
      cfg.retry_options = delivery::retry_options{.duration_in_seconds = r.i32("DurationInSeconds")};
    }
    c.dynamic_partitioning_configuration = cfg;
  }
  c.file_extension = sub.str("FileExtension");
  c.custom_time_zone = sub.str("CustomTimeZone");
  return c;
}

json fh_buffering_json(const std::optional<delivery::buffering_hints>& h) {
  json j = json::object();
  if (h && h->size_in_mbs) j["SizeInMBs"] = *h->size_in_mbs;
  if (h && h->interval_in_seconds) j["IntervalInSeconds"] = *h->interval_in_seconds;
  return j;
}

json fh_s3_json(const delivery::s3_destination_configuration& c) {
  json j = json{{"RoleARN", c.role_arn},
                {"BucketARN", c.bucket_arn},
                {"BufferingHints", fh_buffering_json(c.buffering_hints)},
                {"CompressionFormat", c.compression_format.value_or("UNCOMPRESSED")},
                {"EncryptionConfiguration", json{{"NoEncryptionConfig", "NoEncryption"}}}};
  if (c.prefix) j["Prefix"] = *c.prefix;
  if (c.error_output_prefix) j["ErrorOutputPrefix"] = *c.error_output_prefix;
  return j;
}

json fh_extended_s3_json(const delivery::extended_s3_destination_configuration& c) {
  json j = json{{"RoleARN", c.role_arn},
                {"BucketARN", c.bucket_arn},
                {"BufferingHints", fh_buffering_json(c.buffering_hints)},
                {"CompressionFormat", c.compression_format.value_or("UNCOMPRESSED")},
                {"EncryptionConfiguration", json{{"NoEncryptionConfig", "NoEncryption"}}}};
  if (c.prefix) j["Prefix"] = *c.prefix;
  if (c.error_output_prefix) j["ErrorOutputPrefix"] = *c.error_output_prefix;
  if (c.processing_configuration) {
    json procs = json::array();
    for (const auto& p : c.processing_configuration->processors) {
      json params = json::array();
      for (const auto& q : p.parameters) {
        params.push_back(json{{"ParameterName", q.parameter_name}, {"ParameterValue", q.parameter_value}});
      }
      procs.push_back(json{{"Type", p.type}, {"Parameters", std::move(params)}});
    }
    json pc = json{{"Processors", std::move(procs)}};
    if (c.processing_configuration->enabled) pc["Enabled"] = *c.processing_configuration->enabled;
    j["ProcessingConfiguration"] = std::move(pc);
  }
  if (c.s3_backup_mode) j["S3BackupMode"] = *c.s3_backup_mode;
  if (c.s3_backup_configuration) j["S3BackupDescription"] = fh_s3_json(*c.s3_backup_configuration);
  if (c.dynamic_partitioning_configuration) {
    json dp = json::object();
    if (c.dynamic_partitioning_configuration->enabled) dp["Enabled"] = *c.dynamic_partitioning_configuration->enabled;
    if (const auto& ro = c.dynamic_partitioning_configuration->retry_options; ro && ro->duration_in_seconds) {
      dp["RetryOptions"] = json{{"DurationInSeconds", *ro->duration_in_seconds}};
    }
    j["DynamicPartitioningConfiguration"] = std::move(dp);
  }
  if (c.file_extension) j["FileExtension"] = *c.file_extension;
  if (c.custom_time_zone) j["CustomTimeZone"] = *c.custom_time_zone;
  return j;
}

op_result firehose_create(firehose& f, reader& in) {
  delivery::create_delivery_stream_request r;
  auto name = in.str("DeliveryStreamName");
  r.delivery_stream_type = in.str("DeliveryStreamType");
  if (const json* src = in.structure("KinesisStreamSourceConfiguration")) {
    reader sub = in.nested(*src, "kinesisStreamSourceConfiguration.");
    auto arn = sub.str("KinesisStreamARN");
    auto role = sub.str("RoleARN");
    sub.require("KinesisStreamARN", arn.has_value());
    sub.require("RoleARN", role.has_value());
    r.kinesis_stream_source_configuration = delivery::kinesis_stream_source_configuration{
        .kinesis_stream_arn = arn.value_or(""), .role_arn = role.value_or("")};
  }
  r.extended_s3_destination_configuration = fh_extended_s3(in, "ExtendedS3DestinationConfiguration");
  if (!r.extended_s3_destination_configuration) {
    // The deprecated S3DestinationConfiguration is the extended one without its extensions.
    if (auto plain = fh_s3(in, "S3DestinationConfiguration", "s3DestinationConfiguration.")) {
      delivery::extended_s3_destination_configuration c;
      c.role_arn = plain->role_arn;
      c.bucket_arn = plain->bucket_arn;
      c.prefix = plain->prefix;
      c.error_output_prefix = plain->error_output_prefix;
      c.buffering_hints = plain->buffering_hints;
      c.compression_format = plain->compression_format;
      r.extended_s3_destination_configuration = std::move(c);
    }
  }
  if (const json* tags = in.list("Tags")) {
    for (const auto& t : *tags) {
      if (!t.is_object()) {
        in.type_error("Unexpected value type in payload");
        break;
      }
      reader sub = in.nested(t, "tags.member.");
      auto key = sub.str("Key");
      sub.require("Key", key.has_value());
      r.tags[key.value_or("")] = sub.str("Value").value_or("");
    }
  }
  in.require("DeliveryStreamName", name.has_value());
  if (in.failed()) return in.to_error();
  r.delivery_stream_name = std::move(*name);
  auto res = f.create_delivery_stream(r);
  if (!res) return res.error();
  return op_output(json{{"DeliveryStreamARN", res->delivery_stream_arn}});
}

op_result firehose_describe(firehose& f, reader& in) {
  delivery::describe_delivery_stream_request r;
  auto name = in.str("DeliveryStreamName");
  r.limit = in.i32("Limit");
  r.exclusive_start_destination_id = in.str("ExclusiveStartDestinationId");
  in.require("DeliveryStreamName", name.has_value());
  if (in.failed()) return in.to_error();
  r.delivery_stream_name = std::move(*name);
  auto res = f.describe_delivery_stream(r);
  if (!res) return res.error();
  const auto& d = res->delivery_stream_description;
  json desc = json{{"DeliveryStreamName", d.delivery_stream_name},
                   {"DeliveryStreamARN", d.delivery_stream_arn},
                   {"DeliveryStreamStatus", d.delivery_stream_status},
                   {"DeliveryStreamType", d.delivery_stream_type},
                   {"VersionId", d.version_id},
                   {"HasMoreDestinations", d.has_more_destinations}};
  if (d.create_timestamp) desc["CreateTimestamp"] = timestamp_value(*d.create_timestamp);
  if (d.last_update_timestamp) desc["LastUpdateTimestamp"] = timestamp_value(*d.last_update_timestamp);
  if (d.source && d.source->kinesis_stream_source_description) {
    const auto& k = *d.source->kinesis_stream_source_description;
    json ks = json{{"KinesisStreamARN", k.kinesis_stream_arn}, {"RoleARN", k.role_arn}};
    if (k.delivery_start_timestamp) ks["DeliveryStartTimestamp"] = timestamp_value(*k.delivery_start_timestamp);
    desc["Source"] = json{{"KinesisStreamSourceDescription", std::move(ks)}};
  }
  json dests = json::array();
  for (const auto& dd : d.destinations) {
    json j = json{{"DestinationId", dd.destination_id}};
    if (dd.extended_s3_destination_description) {
      j["ExtendedS3DestinationDescription"] = fh_extended_s3_json(*dd.extended_s3_destination_description);
      // AWS also gives the plain S3 view of the same destination.
      json plain = fh_extended_s3_json(*dd.extended_s3_destination_description);
      for (const char* k : {"ProcessingConfiguration", "S3BackupMode", "S3BackupDescription",
                            "DynamicPartitioningConfiguration", "FileExtension", "CustomTimeZone"}) {
        plain.erase(k);
      }
      j["S3DestinationDescription"] = std::move(plain);
    }
    dests.push_back(std::move(j));
  }
  desc["Destinations"] = std::move(dests);
  return op_output(json{{"DeliveryStreamDescription", std::move(desc)}});
}

const std::vector<operation> firehose_table = {
    {"CreateDeliveryStream", nullptr, false, nullptr, &firehose_create},
    {"DeleteDeliveryStream", nullptr, false, nullptr, &firehose_delete},
    {"DescribeDeliveryStream", nullptr, false, nullptr, &firehose_describe},
    {"ListDeliveryStreams", nullptr, false, nullptr, &firehose_list},
    {"PutRecord", nullptr, true, nullptr, &firehose_put_record},
    {"PutRecordBatch", nullptr, true, nullptr, &firehose_put_record_batch},
};

const std::vector<operation> table = {
    {"AddTagsToStream", &add_tags},
    {"CreateStream", &create_stream},
    {"DecreaseStreamRetentionPeriod", &retention<&kinesis::decrease_stream_retention_period>},
    {"DeleteResourcePolicy", &delete_resource_policy},
    {"DeleteStream", &delete_stream},
    {"DeregisterStreamConsumer", &deregister_consumer},
    {"DescribeLimits", &describe_limits},
    {"DescribeStream", &describe_stream},
    {"DescribeStreamConsumer", &describe_consumer},
    {"DescribeStreamSummary", &describe_stream_summary},
    {"DisableEnhancedMonitoring", &monitoring<&kinesis::disable_enhanced_monitoring>},
    {"EnableEnhancedMonitoring", &monitoring<&kinesis::enable_enhanced_monitoring>},
    {"GetRecords", &get_records},
    {"GetResourcePolicy", &get_resource_policy},
    {"GetShardIterator", &get_shard_iterator},
    {"IncreaseStreamRetentionPeriod", &retention<&kinesis::increase_stream_retention_period>},
    {"ListShards", &list_shards},
    {"ListStreamConsumers", &list_consumers},
    {"ListStreams", &list_streams},
    {"ListTagsForResource", &list_tags_for_resource},
    {"ListTagsForStream", &list_tags},
    {"MergeShards", &merge_shards},
    {"PutRecord", &put_record, true},
    {"PutRecords", &put_records, true, &put_records_fast},
    {"PutResourcePolicy", &put_resource_policy},
    {"RegisterStreamConsumer", &register_consumer},
    {"RemoveTagsFromStream", &remove_tags},
    {"SplitShard", &split_shard},
    {"SubscribeToShard", &subscribe_to_shard},
    {"TagResource", &tag_resource},
    {"UntagResource", &untag_resource},
    {"UpdateMaxRecordSize", &update_max_record_size},
    {"UpdateShardCount", &update_shard_count},
    {"UpdateStreamMode", &update_stream_mode},
};

}  // namespace

const operation* find_kinesis_operation(std::string_view name) {
  static const std::unordered_map<std::string_view, const operation*> index = [] {
    std::unordered_map<std::string_view, const operation*> m;
    for (const auto& op : table) m.emplace(op.name, &op);
    return m;
  }();
  auto it = index.find(name);
  return it == index.end() ? nullptr : it->second;
}

const operation* find_firehose_operation(std::string_view name) {
  for (const auto& op : firehose_table) {
    if (op.name == name) return &op;
  }
  return nullptr;
}

const std::vector<operation>& kinesis_operations() { return table; }

}  // namespace rill::wire
