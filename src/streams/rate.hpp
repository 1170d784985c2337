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
#include <limits>

#include "rill/types.hpp"

namespace rill::detail {

class token_bucket {
 public:
  token_bucket() = default;
  /// Rates or capacities above this are unlimited: a bucket that never refuses
  /// (so INT64_MAX, or any rate too large for thousandths, means "no limit").
  static constexpr std::int64_t kUnlimited = std::numeric_limits<std::int64_t>::max() / 4000;

  /// `per_second` tokens each second, holding at most `capacity`; starts full.
  /// Both must be ≥ 1.
  token_bucket(std::int64_t per_second, std::int64_t capacity, timestamp now)
      : unlimited_(per_second > kUnlimited || capacity > kUnlimited),
        rate_(unlimited_ ? 0 : per_second),
        capacity_milli_(unlimited_ ? 0 : capacity * 1000),
        milli_(capacity_milli_),
        last_ms_(ms(now)) {}

  /// Takes n tokens if there are that many.
  bool try_take(std::int64_t n, timestamp now) {
    if (unlimited_) return true;
    refill(now);
    if (milli_ < milli(n)) return false;
    milli_ -= milli(n);
    return true;
  }
  /// True if taking n tokens would succeed.
  bool has(std::int64_t n, timestamp now) {
    if (unlimited_) return true;
    refill(now);
    return milli_ >= milli(n);
  }
  /// True if the bucket is full (a request larger than the whole bucket is
  /// admitted when it is, and leaves it in debt).
  bool full(timestamp now) {
    if (unlimited_) return true;
    refill(now);
    return milli_ >= capacity_milli_;
  }
  /// The most tokens the bucket holds.
  [[nodiscard]] std::int64_t capacity() const noexcept {
    return unlimited_ ? std::numeric_limits<std::int64_t>::max() : capacity_milli_ / 1000;
  }
  /// True while the balance is above zero (a debt blocks until repaid).
  bool positive(timestamp now) {
    if (unlimited_) return true;
    refill(now);
    return milli_ > 0;
  }
  /// Takes n tokens, going into debt if there are fewer.
  void take(std::int64_t n, timestamp now) {
    if (unlimited_) return;
    refill(now);
    // A debt deeper than the thousandths can count is clamped (it is repaid
    // long after any test or process cares).
    milli_ = milli_ - std::min(milli(n), milli_ + std::numeric_limits<std::int64_t>::max() / 2);
  }

 private:
  static std::int64_t ms(timestamp t) { return t.time_since_epoch().count(); }
  // n tokens in thousandths, saturating.
  static std::int64_t milli(std::int64_t n) {
    std::int64_t m = 0;
    return __builtin_mul_overflow(n, std::int64_t{1000}, &m) ? std::numeric_limits<std::int64_t>::max() : m;
  }
  void refill(timestamp now) {
    const std::int64_t t = ms(now);
    if (t <= last_ms_) return;
    std::int64_t elapsed = 0;
    if (__builtin_sub_overflow(t, last_ms_, &elapsed)) elapsed = std::numeric_limits<std::int64_t>::max();
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

  bool unlimited_ = false;
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
