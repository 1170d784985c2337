// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "rill/autoscaling.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "rill/logging.hpp"
#include "streams/messages.hpp"

namespace rill {

struct autoscaler::impl {
  impl(engine& e, autoscaling_policy p) : e(e), policy(std::move(p)) {}

  engine& e;
  const autoscaling_policy policy;
  std::unique_ptr<scheduler> sched;
  std::mutex run_mu;  // one evaluation at a time
  mutable std::mutex mu;
  std::vector<scaling_decision> decisions;  // guarded by mu
  timestamp last_change{};                  // guarded by run_mu
  timestamp last_scale_out{};               // guarded by run_mu (also set by a refused call)

  void evaluate();
  void schedule() {
    sched->call_at(e.clock().now() + policy.evaluation_interval, [this] {
      evaluate();
      schedule();
    });
  }
  double sum_of(std::string_view metric, timestamp from, timestamp to) const {
    auto r = e.get_metric_statistics(
        {.stream_name = policy.stream_name, .metric_name = std::string(metric), .start_time = from, .end_time = to});
    if (!r) return 0;
    double total = 0;
    for (const auto& p : r->datapoints) total += p.sum;
    return total;
  }
};

void autoscaler::impl::evaluate() {
  std::lock_guard run(run_mu);
  const timestamp now = e.clock().now();
  auto summary = e.describe_stream_summary({.stream_name = policy.stream_name});
  if (!summary) return;
  const auto& sum = summary->stream_description_summary;
  if (sum.stream_status != stream_status::active || sum.stream_mode_details.stream_mode != stream_mode::provisioned) {
    return;
  }
  const std::int32_t open = sum.open_shard_count;
  if (open < 1) return;

  // Whole minutes before the current one.
  const auto minutes =
      std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::minutes>(policy.evaluation_period).count());
  const timestamp to = std::chrono::floor<std::chrono::minutes>(now);
  const timestamp from = to - std::chrono::minutes(minutes);
  const double seconds = static_cast<double>(minutes) * 60.0;
  // Offered load: what was stored plus what throttling refused. A refused
  // record's size is not recorded, so it counts as an average stored one.
  const double stored_records = sum_of("IncomingRecords", from, to);
  const double refused_records = sum_of("WriteProvisionedThroughputExceeded", from, to);
  const double stored_bytes = sum_of("IncomingBytes", from, to);
  const double average_size = stored_records > 0 ? stored_bytes / stored_records : 0;
  const double bytes_rate = (stored_bytes + refused_records * average_size) / seconds;
  const double records_rate = (stored_records + refused_records) / seconds;
  const double utilization =
      std::max(bytes_rate / (static_cast<double>(open) * static_cast<double>(policy.shard_write_bytes_per_second)),
               records_rate / (static_cast<double>(open) * static_cast<double>(policy.shard_write_records_per_second)));

  auto desired =
      static_cast<std::int32_t>(std::ceil(static_cast<double>(open) * utilization / policy.target_utilization));
  if (utilization > policy.target_utilization) {
    desired = std::max(desired,
                       open + static_cast<std::int32_t>(std::ceil(static_cast<double>(open) * policy.scale_out_step)));
  }
  desired = std::clamp(desired, policy.min_shards, policy.max_shards);
  desired = std::clamp(desired, (open + 1) / 2, 2 * open);  // what one UpdateShardCount may do
  const bool out =
      desired > open && utilization > policy.target_utilization && now - last_scale_out >= policy.scale_out_cooldown;
  const bool in =
      desired < open && utilization < policy.scale_in_utilization && now - last_change >= policy.scale_in_cooldown;
  if (!out && !in) return;

  auto r = e.update_shard_count({.stream_name = policy.stream_name, .target_shard_count = desired});
  scaling_decision d{now, open, desired, utilization, r ? std::string() : r.error().to_string()};
  if (r) {
    last_change = now;
    if (out) last_scale_out = now;
    logger()->info("autoscaler: stream {} {} -> {} shards at utilization {:.2f}", policy.stream_name, open, desired,
                   utilization);
  } else {
    last_scale_out = now;  // back off for a cooldown before asking again
    logger()->warn("autoscaler: stream {}: UpdateShardCount to {} failed: {}", policy.stream_name, desired, d.error);
  }
  std::lock_guard lock(mu);
  decisions.push_back(std::move(d));
}

result<std::unique_ptr<autoscaler>> autoscaler::start(engine& e, autoscaling_policy policy) {
  detail::validation v;
  if (!(policy.target_utilization > 0 && policy.target_utilization <= 1)) {
    v.fail(fmt::format("{}", policy.target_utilization), "targetUtilization", "Member must be in (0, 1]");
  }
  if (!(policy.scale_in_utilization >= 0 && policy.scale_in_utilization < policy.target_utilization)) {
    v.fail(fmt::format("{}", policy.scale_in_utilization), "scaleInUtilization",
           "Member must be at least 0 and below targetUtilization");
  }
  if (!(policy.scale_out_step >= 0)) {
    v.fail(fmt::format("{}", policy.scale_out_step), "scaleOutStep", "Member must be at least 0");
  }
  if (policy.min_shards < 1) v.value_at_least(policy.min_shards, "minShards", 1);
  if (policy.max_shards < policy.min_shards) v.value_at_least(policy.max_shards, "maxShards", policy.min_shards);
  if (policy.evaluation_interval <= duration::zero()) {
    v.fail(fmt::format("{}ms", policy.evaluation_interval.count()), "evaluationInterval", "Member must be positive");
  }
  if (policy.shard_write_bytes_per_second < 1)
    v.value_at_least(policy.shard_write_bytes_per_second, "shardWriteBytesPerSecond", 1);
  if (policy.shard_write_records_per_second < 1) {
    v.value_at_least(policy.shard_write_records_per_second, "shardWriteRecordsPerSecond", 1);
  }
  if (!v.ok()) return v.error();
  if (!e.options().metrics.enabled) {
    return detail::invalid_argument("The autoscaler reads the stream's metrics: make the engine with metrics enabled.");
  }
  auto summary = e.describe_stream_summary({.stream_name = policy.stream_name});
  if (!summary) return summary.error();
  if (summary->stream_description_summary.stream_mode_details.stream_mode != stream_mode::provisioned) {
    return detail::invalid_argument(fmt::format(
        "Stream {} is ON_DEMAND: Kinesis scales it; an autoscaler is for PROVISIONED streams.", policy.stream_name));
  }
  auto p = std::make_unique<impl>(e, std::move(policy));
  p->last_change = e.clock().now();
  p->last_scale_out = e.clock().now() - p->policy.scale_out_cooldown;
  p->sched = e.clock().make_scheduler();
  p->schedule();
  return std::unique_ptr<autoscaler>(new autoscaler(std::move(p)));
}

autoscaler::autoscaler(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

autoscaler::~autoscaler() { impl_->sched->shutdown(); }

void autoscaler::evaluate_now() { impl_->evaluate(); }

std::vector<scaling_decision> autoscaler::history() const {
  std::lock_guard lock(impl_->mu);
  return impl_->decisions;
}

}  // namespace rill
