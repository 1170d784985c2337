// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Retention: the retention period of a stream and the trim of expired
// records and shards.
#include <fmt/format.h>

#include "rill/logging.hpp"
#include "streams/engine_impl.hpp"
#include "streams/engine_shared.hpp"

namespace rill {

using detail::seconds_of;
using detail::shard_state;
using detail::stream_state;
using detail::validation;

namespace {

constexpr std::int32_t kMinRetentionHours = 24;
constexpr std::int32_t kMaxRetentionHours = 8760;

}  // namespace

// --- retention ---------------------------------------------------------------

void engine::impl::trim_expired() {
  const timestamp t = now();
  std::vector<std::shared_ptr<stream_state>> all;
  {
    std::shared_lock lock(streams_mu);
    all.reserve(streams.size());
    for (auto& [n, s] : streams) all.push_back(s);
  }
  for (auto& s : all) {
    // Records: the stream lock shared (puts and reads go on), each shard's
    // lock exclusive only while its own log is trimmed.
    bool shards_expired = false;
    {
      std::shared_lock lock(s->mu);
      const timestamp horizon = s->horizon(t);
      for (std::size_t i = s->released_prefix; i < s->shards.size(); ++i) {
        shard_state* sh = s->shards[i].get();
        if (!sh) continue;
        if (sh->expired(horizon)) {
          shards_expired = true;
          continue;
        }
        std::unique_lock sl(sh->mu);
        if (sh->log->start_offset() == sh->log->end_offset()) continue;  // nothing stored
        sh->log->trim_before(horizon + duration(1));
      }
    }
    release_metrics(*s, t);
    if (!shards_expired) continue;
    // Expired shards leave the stream: that needs the stream lock exclusive,
    // taken only when there are some.
    std::vector<std::shared_ptr<shard_state>> gone;
    {
      std::unique_lock lock(s->mu);
      const timestamp horizon = s->horizon(t);
      for (std::size_t i = s->released_prefix; i < s->shards.size(); ++i) {
        auto& sh = s->shards[i];
        if (sh && sh->expired(horizon)) gone.push_back(std::move(sh));
      }
      while (s->released_prefix < s->shards.size() && !s->shards[s->released_prefix]) ++s->released_prefix;
      if (!gone.empty()) persist_locked(*s);  // the manifest first, then the files
    }
    for (auto& sh : gone) storage->remove_log({s->name, s->uid, sh->id});
  }
}

void engine::impl::release_metrics(stream_state& s, timestamp t) {
  // Datapoints outside the window go, and a shard's series with them once it
  // has none left or its shard has been released: per-shard series do not
  // outlive their shards and the window.
  const std::int64_t minute = detail::minute_of(t);
  const std::int64_t keep = keep_minutes();
  std::shared_lock lock(s.mu);
  std::lock_guard metrics_lock(s.metrics.mu);
  s.metrics.stream.prune(minute, keep);
  for (auto it = s.metrics.shards.begin(); it != s.metrics.shards.end();) {
    it->second.prune(minute, keep);
    const bool released = it->first >= s.shards.size() || !s.shards[it->first];
    if (it->second.empty() || released) {
      it = s.metrics.shards.erase(it);
    } else {
      ++it;
    }
  }
}

void engine::impl::schedule_trim() {
  if (opt.trim_interval <= duration::zero()) return;
  sched->call_at(now() + opt.trim_interval, [this] {
    trim_expired();
    schedule_trim();
  });
}

result<void> engine::impl::change_retention(const update_retention_period_request& req, bool increase) {
  // The model's minimum (1) is a ValidationException before any semantic
  // check, combined with the stream name's own errors (model order).
  if (req.retention_period_hours < 1) {
    validation v;
    v.value_at_least(req.retention_period_hours, "retentionPeriodHours", 1);
    validate_ref(v, req.stream_name, req.stream_arn);  // the stream name last, as AWS lists it
    return v.error();
  }
  auto call = begin_control(increase ? "IncreaseStreamRetentionPeriod" : "DecreaseStreamRetentionPeriod",
                            req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  const std::int32_t h = req.retention_period_hours;
  if (h < kMinRetentionHours) {
    return detail::invalid_argument(
        fmt::format("Minimum allowed retention period is {} hours. Requested retention period ({} hours) is too short.",
                    kMinRetentionHours, h));
  }
  if (h > kMaxRetentionHours) {
    return detail::invalid_argument(
        fmt::format("Maximum allowed retention period is {} hours. Requested retention period ({} hours) is too long.",
                    kMaxRetentionHours, h));
  }
  std::unique_lock lock(st.mu);
  if (increase && h < st.retention_hours) {
    return detail::invalid_argument(
        fmt::format("Requested retention period ({} hours) for stream {} can not be shorter than existing retention "
                    "period ({} hours). Use DecreaseRetentionPeriod API.",
                    h, st.name, st.retention_hours));
  }
  if (!increase && h > st.retention_hours) {
    return detail::invalid_argument(
        fmt::format("Requested retention period ({} hours) for stream {} can not be longer than existing retention "
                    "period ({} hours). Use IncreaseRetentionPeriod API.",
                    h, st.name, st.retention_hours));
  }
  const auto& cp = opt.control_plane;
  if (cp.enabled && cp.max_retention_changes_per_day > 0) {
    if (st.retention_changes.count(now(), std::chrono::hours(24)) >=
            static_cast<std::size_t>(cp.max_retention_changes_per_day) &&
        enforce("retention changes per 24 hours", st.name)) {
      return error(error_code::limit_exceeded_exception,
                   fmt::format("Exceeded the limit of {} retention period changes per rolling 24 hours for stream {} "
                               "under account {}.",
                               cp.max_retention_changes_per_day, st.name, opt.account_id));
    }
    st.retention_changes.add(now());
  }
  // What has expired under the old period stays expired: an increase does not
  // make expired data readable again, even before the trimmer releases it.
  st.expired_through = st.horizon(now());
  st.retention_hours = h;
  return {};
}

result<void> engine::increase_stream_retention_period(const update_retention_period_request& req) {
  return impl_->change_retention(req, true);
}

result<void> engine::decrease_stream_retention_period(const update_retention_period_request& req) {
  return impl_->change_retention(req, false);
}

}  // namespace rill
