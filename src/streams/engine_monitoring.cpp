// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Enhanced monitoring and the engine's metrics: Enable/DisableEnhancedMonitoring,
// GetMetricStatistics and the metrics JSON dump.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "rill/logging.hpp"
#include "streams/engine_impl.hpp"
#include "streams/engine_shared.hpp"

namespace rill {

using detail::list_repr;
using detail::seconds_of;
using detail::shard_state;
using detail::stream_state;
using detail::validation;

result<enhanced_monitoring_result> engine::impl::change_monitoring(const enhanced_monitoring_request& req,
                                                                   bool enable) {
  auto& d = *this;
  validation v;
  if (req.shard_level_metrics.empty()) v.length_at_least(list_repr(req.shard_level_metrics), "shardLevelMetrics", 1);
  if (req.shard_level_metrics.size() > 7) v.length_at_most(list_repr(req.shard_level_metrics), "shardLevelMetrics", 7);
  for (const auto& m : req.shard_level_metrics) {
    if (m != "ALL" && !detail::shard_metric_named(m)) {
      v.fail(list_repr(req.shard_level_metrics), "shardLevelMetrics",
             "Member must satisfy constraint: [Member must satisfy enum value set: [IncomingBytes, OutgoingRecords, "
             "IteratorAgeMilliseconds, IncomingRecords, ReadProvisionedThroughputExceeded, "
             "WriteProvisionedThroughputExceeded, OutgoingBytes, ALL]]");
      break;
    }
  }
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
  if (!v.ok()) return v.error();
  auto call = d.begin_control(enable ? "EnableEnhancedMonitoring" : "DisableEnhancedMonitoring", req.stream_name,
                              req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  std::unique_lock lock(st.mu);
  if (st.status != stream_status::active) return detail::stream_not_active(d.at(st.name), st.status);
  enhanced_monitoring_result out;
  out.stream_name = st.name;
  out.stream_arn = st.arn;
  out.current_shard_level_metrics.assign(st.shard_level_metrics.begin(), st.shard_level_metrics.end());
  for (const auto& m : req.shard_level_metrics) {
    if (m == "ALL") {
      for (std::size_t i = 0; i < detail::kShardMetrics; ++i) {
        const std::string_view name = detail::info(static_cast<detail::shard_metric>(i)).name;
        if (enable) {
          st.shard_level_metrics.emplace(name);
        } else {
          st.shard_level_metrics.erase(std::string(name));
        }
      }
    } else if (enable) {
      st.shard_level_metrics.insert(m);
    } else {
      st.shard_level_metrics.erase(m);
    }
  }
  out.desired_shard_level_metrics.assign(st.shard_level_metrics.begin(), st.shard_level_metrics.end());
  st.shard_metric_mask = 0;
  for (const auto& name : st.shard_level_metrics) {
    if (auto m = detail::shard_metric_named(name)) st.shard_metric_mask |= 1U << static_cast<unsigned>(*m);
  }
  return out;
}

result<enhanced_monitoring_result> engine::enable_enhanced_monitoring(const enhanced_monitoring_request& req) {
  return impl_->change_monitoring(req, true);
}

result<enhanced_monitoring_result> engine::disable_enhanced_monitoring(const enhanced_monitoring_request& req) {
  return impl_->change_monitoring(req, false);
}

result<get_metric_statistics_result> engine::get_metric_statistics(const get_metric_statistics_request& req) const {
  auto& d = *impl_;
  auto s = d.find(req.stream_name);
  if (!s) return s.error();
  const stream_state& st = **s;
  get_metric_statistics_result out;
  out.label = req.metric_name;
  if (req.shard_id) {
    auto m = detail::shard_metric_named(req.metric_name);
    if (!m) {
      return detail::invalid_argument(fmt::format("{} is not a shard-level Kinesis metric.", req.metric_name));
    }
    auto id = shard_id::parse(*req.shard_id);
    if (!id) return detail::shard_not_found(d.at(st.name), *req.shard_id);
    out.unit = std::string(detail::info(*m).unit);
    std::lock_guard lock(st.metrics.mu);
    auto it = st.metrics.shards.find(id->index());
    if (it != st.metrics.shards.end()) {
      it->second.collect(static_cast<std::size_t>(*m), req.start_time, req.end_time, out.datapoints);
    }
    return out;
  }
  auto m = detail::stream_metric_named(req.metric_name);
  if (!m) return detail::invalid_argument(fmt::format("{} is not a stream-level Kinesis metric.", req.metric_name));
  out.unit = std::string(detail::info(*m).unit);
  std::lock_guard lock(st.metrics.mu);
  st.metrics.stream.collect(static_cast<std::size_t>(*m), req.start_time, req.end_time, out.datapoints);
  return out;
}

namespace {

nlohmann::json datapoints_json(const std::vector<metric_datapoint>& points) {
  auto arr = nlohmann::json::array();
  for (const auto& p : points) {
    arr.push_back({{"Timestamp", detail::iso8601(p.timestamp)},
                   {"Sum", p.sum},
                   {"Minimum", p.minimum},
                   {"Maximum", p.maximum},
                   {"SampleCount", p.sample_count},
                   {"Average", p.average()}});
  }
  return arr;
}

}  // namespace

std::string engine::metrics_json() const {
  auto& d = *impl_;
  nlohmann::json metrics = nlohmann::json::array();
  std::vector<std::shared_ptr<stream_state>> all;
  {
    std::shared_lock lock(d.streams_mu);
    for (auto& [n, s] : d.streams) all.push_back(s);
  }
  const timestamp from = timestamp::min();
  const timestamp to = timestamp::max();
  for (const auto& s : all) {
    d.release_metrics(*s, d.now());  // nothing outside the window, no series of released shards
    std::lock_guard lock(s->metrics.mu);
    for (std::size_t m = 0; m < detail::kStreamMetrics; ++m) {
      std::vector<metric_datapoint> points;
      s->metrics.stream.collect(m, from, to, points);
      if (points.empty()) continue;
      const auto& inf = detail::info(static_cast<detail::stream_metric>(m));
      metrics.push_back({{"MetricName", inf.name},
                         {"Dimensions", {{{"Name", "StreamName"}, {"Value", s->name}}}},
                         {"Unit", inf.unit},
                         {"Datapoints", datapoints_json(points)}});
    }
    std::vector<std::uint32_t> shard_ids;
    for (const auto& [id, series] : s->metrics.shards) shard_ids.push_back(id);
    std::sort(shard_ids.begin(), shard_ids.end());
    for (auto id : shard_ids) {
      const auto& series = s->metrics.shards.at(id);
      for (std::size_t m = 0; m < detail::kShardMetrics; ++m) {
        std::vector<metric_datapoint> points;
        series.collect(m, from, to, points);
        if (points.empty()) continue;
        const auto& inf = detail::info(static_cast<detail::shard_metric>(m));
        metrics.push_back({{"MetricName", inf.name},
                           {"Dimensions",
                            {{{"Name", "StreamName"}, {"Value", s->name}},
                             {{"Name", "ShardId"}, {"Value", shard_id(id).to_string()}}}},
                           {"Unit", inf.unit},
                           {"Datapoints", datapoints_json(points)}});
      }
    }
  }
  // The components' metrics (producer, consumer, delivery, server), each with its namespace.
  return nlohmann::json{
      {"Namespace", "AWS/Kinesis"}, {"Metrics", metrics}, {"Components", nlohmann::json::parse(d.registry->to_json())}}
      .dump(2);
}

}  // namespace rill
