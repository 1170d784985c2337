// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The fault injector behind engine::set_fault_plan(). Decisions are made in
// call order under one mutex, with one random sequence per rule, so a given
// seed and call order always give the same faults.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include "rill/faults.hpp"

namespace rill::detail {

class fault_injector {
 public:
  struct call_outcome {
    std::optional<error_code> fail;  // the whole call fails
    duration delay{0};
  };

  /// `now`: the engine's time, when rules with active_for start.
  void install(fault_plan plan, timestamp now);
  /// Cheap check before asking anything else.
  [[nodiscard]] bool active() const noexcept { return active_.load(std::memory_order_acquire); }
  /// Whole-call faults for `op` on `stream` (empty for calls with no stream).
  call_outcome on_call(std::string_view op, std::string_view stream, timestamp now);
  /// Per-entry faults of PutRecords, for entry after entry.
  std::optional<error_code> on_entry(std::string_view stream, timestamp now);
  /// expire_iterators rules: true if GetRecords on `stream` with an iterator
  /// issued at `issued` fails with ExpiredIteratorException.
  bool expire_iterator(std::string_view stream, timestamp issued, timestamp now);

 private:
  struct rule_state {
    fault_rule rule;
    std::mt19937_64 rng;
    std::uint64_t seen = 0;
    timestamp started{};
    [[nodiscard]] bool live(timestamp now) const {
      return rule.active_for <= duration::zero() || now - started < rule.active_for;
    }
  };
  bool hit(rule_state& r);

  std::atomic<bool> active_{false};
  std::mutex mu_;
  std::vector<rule_state> rules_;  // guarded by mu_
};

}  // namespace rill::detail
