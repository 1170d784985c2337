// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Token buckets and rolling windows on the engine's clock. Integer arithmetic
// in thousandths of a token, so the boundary cases are exact: a bucket of 1000
// tokens per second admits exactly 1000 takes at one instant, refuses the
// 1001st, and admits one more each millisecond after.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>

#include "rill/types.hpp"

namespace rill::detail {

class token_bucket {
 public:
  token_bucket() = default;
  /// `per_second` tokens each second, holding at most `capacity`; starts full.
  token_bucket(std::int64_t per_second, std::int64_t capacity, timestamp now)
      : rate_(per_second), capacity_milli_(capacity * 1000), milli_(capacity * 1000), last_ms_(ms(now)) {}

  /// Takes n tokens if there are that many.
  bool try_take(std::int64_t n, timestamp now) {
    refill(now);
    if (milli_ < n * 1000) return false;
    milli_ -= n * 1000;
    return true;
  }
  /// True if taking n tokens would succeed.
  bool has(std::int64_t n, timestamp now) {
    refill(now);
    return milli_ >= n * 1000;
  }
  /// True while the balance is above zero (a debt blocks until repaid).
  bool positive(timestamp now) {
    refill(now);
    return milli_ > 0;
  }
  /// Takes n tokens, going into debt if there are fewer.
  void take(std::int64_t n, timestamp now) {
    refill(now);
    milli_ -= n * 1000;
  }

 private:
  static std::int64_t ms(timestamp t) { return t.time_since_epoch().count(); }
  void refill(timestamp now) {
    const std::int64_t t = ms(now);
    if (t <= last_ms_) return;
    const std::int64_t elapsed = t - last_ms_;
    last_ms_ = t;
    const std::int64_t missing = capacity_milli_ - milli_;
    if (missing <= 0) return;
    // elapsed * rate may overflow for long idle periods: saturate first.
    if (rate_ > 0 && elapsed >= missing / rate_ + 1) {
      milli_ = capacity_milli_;
    } else {
      milli_ = std::min(capacity_milli_, milli_ + elapsed * rate_);
    }
  }

  std::int64_t rate_ = 0;  // tokens per second = thousandths per millisecond
  std::int64_t capacity_milli_ = 0;
  std::int64_t milli_ = 0;
  std::int64_t last_ms_ = 0;
};

/// Events in a rolling window: "at most N per 24 hours".
class rolling_window {
 public:
  /// Events in (now - window, now].
  std::size_t count(timestamp now, duration window) {
    while (!events_.empty() && events_.front() <= now - window) events_.pop_front();
    return events_.size();
  }
  void add(timestamp now) { events_.push_back(now); }
  /// When the oldest event in the window leaves it.
  [[nodiscard]] timestamp next_free(duration window) const { return events_.front() + window; }

 private:
  std::deque<timestamp> events_;
};

}  // namespace rill::detail
