// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <tuple>

#include "rill/clock.hpp"
#include "rill/metrics.hpp"

namespace rill {
namespace {

struct minute_stat {
  std::int64_t minute = 0;
  double sum = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  std::int64_t count = 0;
};

struct series_data {
  std::string unit;
  std::deque<minute_stat> minutes;
};

using series_key = std::tuple<std::string, std::string, std::vector<metric_dimension>>;

std::int64_t minute_index(timestamp t) {
  return std::chrono::floor<std::chrono::minutes>(t).time_since_epoch().count();
}

std::vector<metric_dimension> sorted(std::span<const metric_dimension> dims) {
  std::vector<metric_dimension> out(dims.begin(), dims.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::string iso8601(timestamp t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const std::time_t tt = secs.time_since_epoch().count();
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

struct metrics_registry::impl {
  std::shared_ptr<const rill::clock> clock;
  metrics_options options;
  mutable std::mutex mu;
  // The series are held by pointer so that metric_series handles keep theirs
  // (a removed one is detached: still writable, no longer listed).
  std::map<series_key, std::shared_ptr<series_data>> all;  // guarded by mu

  [[nodiscard]] std::int64_t keep_minutes() const {
    return std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::minutes>(options.window).count());
  }
  /// The series of `key`, made with `unit` if new. Caller holds mu.
  const std::shared_ptr<series_data>& find_or_add(series_key&& key, std::string_view unit) {
    auto [it, inserted] = all.try_emplace(std::move(key));
    if (inserted) {
      it->second = std::make_shared<series_data>();
      it->second->unit = std::string(unit);
    }
    return it->second;
  }
  /// Adds a sample to the minute `minute` of `s`. Caller holds mu.
  void add(series_data& s, std::int64_t minute, double value) const {
    if (s.minutes.empty() || s.minutes.back().minute < minute) {
      s.minutes.push_back({.minute = minute});
      const std::int64_t keep = keep_minutes();
      while (s.minutes.front().minute <= minute - keep) s.minutes.pop_front();
    }
    minute_stat* m = &s.minutes.back();
    for (auto r = s.minutes.rbegin(); r != s.minutes.rend(); ++r) {
      if (r->minute == minute) {
        m = &*r;
        break;
      }
    }
    m->sum += value;
    m->min = std::min(m->min, value);
    m->max = std::max(m->max, value);
    ++m->count;
  }
};

struct metric_series::state {
  std::shared_ptr<metrics_registry::impl> registry;
  std::shared_ptr<series_data> target;
};

void metric_series::put(double value) const {
  if (!state_) return;
  auto& r = *state_->registry;
  if (!r.options.enabled) return;
  const std::int64_t minute = minute_index(r.clock->now());
  std::lock_guard lock(r.mu);
  r.add(*state_->target, minute, value);
}

metrics_registry::metrics_registry(std::shared_ptr<const rill::clock> clock, metrics_options options)
    : impl_(std::make_shared<impl>()) {
  impl_->clock = std::move(clock);
  impl_->options = options;
}

metrics_registry::~metrics_registry() = default;

void metrics_registry::put(std::string_view metric_namespace, std::string_view metric_name,
                           std::span<const metric_dimension> dimensions, double value, std::string_view unit) {
  if (!impl_->options.enabled) return;
  const std::int64_t minute = minute_index(impl_->clock->now());
  series_key key{std::string(metric_namespace), std::string(metric_name), sorted(dimensions)};
  std::lock_guard lock(impl_->mu);
  impl_->add(*impl_->find_or_add(std::move(key), unit), minute, value);
}

metric_series metrics_registry::series(std::string_view metric_namespace, std::string_view metric_name,
                                       std::span<const metric_dimension> dimensions, std::string_view unit) {
  series_key key{std::string(metric_namespace), std::string(metric_name), sorted(dimensions)};
  auto st = std::make_shared<metric_series::state>();
  st->registry = impl_;
  {
    std::lock_guard lock(impl_->mu);
    st->target = impl_->find_or_add(std::move(key), unit);
  }
  metric_series out;
  out.state_ = std::move(st);
  return out;
}

get_metric_statistics_result metrics_registry::get(std::string_view metric_namespace, std::string_view metric_name,
                                                   std::span<const metric_dimension> dimensions, timestamp start_time,
                                                   timestamp end_time) const {
  get_metric_statistics_result out;
  out.label = std::string(metric_name);
  series_key key{std::string(metric_namespace), std::string(metric_name), sorted(dimensions)};
  std::lock_guard lock(impl_->mu);
  auto it = impl_->all.find(key);
  if (it == impl_->all.end()) return out;
  out.unit = it->second->unit;
  for (const auto& m : it->second->minutes) {
    const timestamp start{std::chrono::minutes(m.minute)};
    if (start < start_time || start >= end_time || m.count == 0) continue;
    out.datapoints.push_back({start, m.sum, m.min, m.max, m.count});
  }
  return out;
}

std::string metrics_registry::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  std::lock_guard lock(impl_->mu);
  for (const auto& [key, sp] : impl_->all) {
    const series_data& s = *sp;
    nlohmann::json dims = nlohmann::json::array();
    for (const auto& d : std::get<2>(key)) dims.push_back({{"Name", d.name}, {"Value", d.value}});
    nlohmann::json points = nlohmann::json::array();
    for (const auto& m : s.minutes) {
      if (m.count == 0) continue;
      points.push_back({{"Timestamp", iso8601(timestamp{std::chrono::minutes(m.minute)})},
                        {"Sum", m.sum},
                        {"Minimum", m.min},
                        {"Maximum", m.max},
                        {"SampleCount", m.count},
                        {"Average", m.sum / static_cast<double>(m.count)}});
    }
    if (points.empty()) continue;
    out.push_back({{"Namespace", std::get<0>(key)},
                   {"MetricName", std::get<1>(key)},
                   {"Dimensions", std::move(dims)},
                   {"Unit", s.unit},
                   {"Datapoints", std::move(points)}});
  }
  return out.dump();
}

void metrics_registry::remove_dimension(const metric_dimension& dimension) {
  std::lock_guard lock(impl_->mu);
  std::erase_if(impl_->all, [&](const auto& kv) {
    const auto& dims = std::get<2>(kv.first);
    return std::find(dims.begin(), dims.end(), dimension) != dims.end();
  });
}

}  // namespace rill
