// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Limits: the shard and on-demand quotas, DescribeLimits, the admission of a
// call (control-plane rates and injected faults) and per-stream throughput.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>

#include "common/scheduler_context.hpp"
#include "rill/logging.hpp"
#include "streams/engine_impl.hpp"
#include "streams/engine_shared.hpp"

namespace rill {

using detail::seconds_of;
using detail::shard_state;
using detail::stream_state;
using detail::validation;

// --- report, don't enforce ------------------------------------------------------

bool engine::impl::enforce(std::string_view limit, std::string_view stream) {
  if (!report_limits) return true;
  const metric_dimension dims[] = {{"Limit", std::string(limit)}, {"StreamName", std::string(stream)}};
  registry->put("rill/Limits", "WouldBeThrottled", dims, 1, "Count");
  const std::int64_t minute = detail::minute_of(now());
  std::string key = fmt::format("{}/{}", limit, stream);
  bool log = false;
  {
    std::lock_guard lock(report_mu);
    auto it = report_logged.find(key);
    if (it == report_logged.end()) {
      report_logged.emplace(std::move(key), minute);
      log = true;
    } else if (it->second != minute) {
      it->second = minute;
      log = true;
    }
  }
  if (log) {
    logger()->warn("limits (report only): AWS would have refused a call on stream '{}': {} (logged once a minute)",
                   stream, limit);
  }
  return false;
}

// --- quotas ------------------------------------------------------------------

std::int64_t engine::impl::open_shard_total() const { return open_shards_total; }

std::int32_t engine::impl::on_demand_stream_total() const { return on_demand_streams; }

void engine::impl::recount(const std::shared_ptr<stream_state>& sp) {
  // status, mode, initial_shards and open change only under the stream's
  // control_mu, held here (with control_mu).
  stream_state& s = *sp;
  if (s.removed || s.status == stream_status::deleting) reserve_shards(s, 0);  // a pending change is dropped
  const bool on_demand = !s.removed && s.mode == stream_mode::on_demand;
  const bool creating = !s.removed && s.status == stream_status::creating;
  std::int64_t open = 0;
  if (!s.removed && !on_demand) open = creating ? s.initial_shards : static_cast<std::int64_t>(s.open.size());
  open_shards_total += open - s.counted_open_shards;
  s.counted_open_shards = open;
  if (on_demand != s.counted_on_demand) {
    on_demand_streams += on_demand ? 1 : -1;
    if (on_demand) {
      on_demand_set[s.uid] = sp;
    } else {
      on_demand_set.erase(s.uid);
    }
    s.counted_on_demand = on_demand;
  }
  if (creating != s.counted_creating) {
    creating_streams += creating ? 1 : -1;
    s.counted_creating = creating;
  }
}

result<void> engine::impl::check_on_demand_quota() const {
  const std::int32_t current = on_demand_stream_total();
  if (current < opt.on_demand_stream_count_limit) return {};
  return error(error_code::limit_exceeded_exception,
               fmt::format("This request would exceed the on-demand stream limit for the account {} in {}. Current "
                           "on-demand stream count: {}. Limit: {}.",
                           opt.account_id, opt.region, current, opt.on_demand_stream_count_limit));
}

result<describe_limits_result> engine::describe_limits() {
  auto& d = *impl_;
  if (auto admitted = d.enter("DescribeLimits", ""); !admitted) return admitted.error();
  std::lock_guard control(d.control_mu);
  describe_limits_result out;
  out.shard_limit = d.opt.shard_limit;
  out.open_shard_count = static_cast<std::int32_t>(d.open_shard_total());
  out.on_demand_stream_count_limit = d.opt.on_demand_stream_count_limit;
  out.on_demand_stream_count = d.on_demand_stream_total();
  return out;
}

// --- call prologue: control-plane rates and injected faults -----------------

result<void> engine::impl::enter(std::string_view op, std::string_view stream) {
  const auto& cp = opt.control_plane;
  if (cp.enabled) {
    auto rate = cp.operations_per_second.find(op);
    if (rate != cp.operations_per_second.end()) {
      const timestamp t = now();
      std::lock_guard lock(control_rate_mu);
      auto bucket = control_rates.find(op);
      if (bucket == control_rates.end()) {
        const std::int64_t r = std::max<std::int32_t>(1, rate->second);
        bucket = control_rates.emplace(std::string(op), detail::token_bucket(r, r, t)).first;
      }
      if (!bucket->second.try_take(1, t) && enforce(fmt::format("{} rate", op), stream)) {
        return error(error_code::limit_exceeded_exception,
                     stream.empty()
                         ? fmt::format("Rate exceeded for account {}.", opt.account_id)
                         : fmt::format("Rate exceeded for stream {} under account {}.", stream, opt.account_id));
      }
    }
  }
  if (!faults.active()) return {};
  auto outcome = faults.on_call(op, stream, now());
  if (outcome.delay > duration::zero()) delay(op, stream, outcome.delay);
  if (outcome.fail) {
    logger()->debug("fault plan: failing {} on {} with {}", op, stream, to_string(*outcome.fail));
    if (*outcome.fail == error_code::provisioned_throughput_exceeded_exception) {
      return error(*outcome.fail, fmt::format("Rate exceeded for stream {} under account {}.", stream, opt.account_id));
    }
    if (*outcome.fail == error_code::internal_failure) return detail::internal_failure("Internal Service Failure");
    return error(*outcome.fail, fmt::format("Injected {} for {} on stream {}.", to_string(*outcome.fail), op, stream));
  }
  return {};
}

void engine::impl::delay(std::string_view op, std::string_view stream, duration d) {
  // Never wait where waiting cannot end or would stall others: on a manual
  // clock (time moves only when the test calls advance(), which a blocked
  // single-threaded test never does) and inside a scheduled task (the task
  // would wait on the clock that runs it). The delay is then recorded (counted
  // and logged) and the call goes on at once.
  if (manual || detail::in_scheduled_task()) {
    faults_delays_skipped.fetch_add(1, std::memory_order_relaxed);
    logger()->debug("fault plan: {} on {}: delay of {} ms recorded, not waited ({})", op, stream, d.count(),
                    manual ? "manual clock" : "scheduled task");
    return;
  }
  logger()->debug("fault plan: delaying {} on {} by {} ms", op, stream, d.count());
  wait_until(now() + d);
}

void engine::impl::wait_until(timestamp t) {
  if (now() >= t) return;
  struct waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };
  auto w = std::make_shared<waiter>();
  sched->call_at(t, [w] {
    std::lock_guard lock(w->mu);
    w->done = true;
    w->cv.notify_all();
  });
  std::unique_lock lock(w->mu);
  w->cv.wait(lock, [&] { return w->done; });
}

// --- extensions --------------------------------------------------------------

result<void> engine::set_stream_throughput(const std::string& stream_name, const throughput_limits& limits) {
  auto& d = *impl_;
  validation v;
  auto check = [&](std::int64_t value, std::string_view member) {
    if (value < 1) v.value_at_least(value, member, 1);
  };
  check(limits.write_bytes_per_second, "writeBytesPerSecond");
  check(limits.write_records_per_second, "writeRecordsPerSecond");
  check(limits.read_calls_per_second, "readCallsPerSecond");
  check(limits.read_bytes_per_second, "readBytesPerSecond");
  check(limits.large_read_bytes, "largeReadBytes");
  check(limits.get_shard_iterator_per_second, "getShardIteratorPerSecond");
  if (!v.ok()) return v.error();
  auto found = d.find(stream_name);
  if (!found) return found.error();
  // The stream's control lock: make_shard arms new shards with st.limits.
  std::lock_guard stream_control((*found)->control_mu);
  auto s = d.find(stream_name);
  if (!s) return s.error();
  if (*s != *found) return detail::stream_not_found(d.at(stream_name));  // replaced meanwhile
  auto& st = **s;
  std::unique_lock lock(st.mu);
  st.limits = limits;
  const timestamp t = d.now();
  for (auto& sh : st.shards) {
    if (!sh) continue;
    std::unique_lock sl(sh->mu);
    sh->arm(limits, t);
  }
  d.persist_locked(st);
  return {};
}

}  // namespace rill
