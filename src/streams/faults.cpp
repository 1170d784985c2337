// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "streams/faults.hpp"

#include <algorithm>

namespace rill::detail {
namespace {

bool matches(const fault_rule& r, std::string_view op, std::string_view stream) {
  if (r.operation != "*" && r.operation != op) return false;
  return !r.stream_name || *r.stream_name == stream;
}

}  // namespace

void fault_injector::install(fault_plan plan, timestamp now) {
  std::lock_guard lock(mu_);
  rules_.clear();
  for (std::size_t i = 0; i < plan.rules.size(); ++i) {
    // One independent sequence per rule, derived from the plan's seed.
    rules_.push_back({std::move(plan.rules[i]), std::mt19937_64(plan.seed * 0x9E3779B97F4A7C15ULL + i + 1), 0, now});
  }
  active_.store(!rules_.empty(), std::memory_order_release);
}

bool fault_injector::hit(rule_state& r) {
  const std::uint64_t ordinal = ++r.seen;
  if (!r.rule.schedule.empty()) {
    return std::find(r.rule.schedule.begin(), r.rule.schedule.end(), ordinal) != r.rule.schedule.end();
  }
  // 53 random bits as a double in [0, 1): the same on every platform.
  const double u = static_cast<double>(r.rng() >> 11) * 0x1.0p-53;
  return u < r.rule.probability;
}

fault_injector::call_outcome fault_injector::on_call(std::string_view op, std::string_view stream, timestamp now) {
  call_outcome out;
  std::lock_guard lock(mu_);
  for (auto& r : rules_) {
    if (!matches(r.rule, op, stream) || !r.live(now)) continue;
    if (r.rule.action == fault_action::expire_iterators) continue;  // decided by expire_iterator()
    const bool entry_rule = op == "PutRecords" && r.rule.action == fault_action::fail && r.rule.per_entry;
    if (entry_rule) continue;  // decided entry by entry
    if (!hit(r)) continue;
    if (r.rule.action == fault_action::delay) {
      out.delay += r.rule.latency;
    } else if (!out.fail) {
      out.fail = r.rule.error;
    }
  }
  return out;
}

std::optional<error_code> fault_injector::on_entry(std::string_view stream, timestamp now) {
  std::optional<error_code> out;
  std::lock_guard lock(mu_);
  for (auto& r : rules_) {
    if (!matches(r.rule, "PutRecords", stream) || r.rule.action != fault_action::fail || !r.rule.per_entry ||
        !r.live(now)) {
      continue;
    }
    if (hit(r) && !out) out = r.rule.error;
  }
  return out;
}

bool fault_injector::expire_iterator(std::string_view stream, timestamp issued, timestamp now) {
  bool out = false;
  std::lock_guard lock(mu_);
  for (auto& r : rules_) {
    if (r.rule.action != fault_action::expire_iterators || !matches(r.rule, "GetRecords", stream) || !r.live(now)) {
      continue;
    }
    // Only iterators issued before the action began; they do not count as
    // matching calls otherwise (the schedule counts the affected calls).
    if (issued >= r.started) continue;
    if (hit(r)) out = true;
  }
  return out;
}

}  // namespace rill::detail
