// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Test support for code that uses rill, with GoogleTest (installed with the
// library; the including project links GTest itself, rill does not).
//
//   #include <rill/testing.hpp>
//
//   TEST(MyProducer, RetriesThrottledRecords) {
//     rill::testing::test_engine e;                          // engine on a manual clock
//     rill::testing::stream_builder s(*e, "clicks", 2);      // a stream of 2 shards
//     s.split_in_half(rill::shard_id(0));                     // 3 open shards now
//     ASSERT_OK(e->put_record({.stream_name = "clicks", .data = "x", .partition_key = "k"}));
//     EXPECT_KINESIS_ERROR(e->delete_stream({.stream_name = "nope"}),
//                          rill::error_code::resource_not_found_exception);
//     e.advance(std::chrono::hours(25));                     // past retention
//   }
//
// Assertions (each evaluates its expression once; the failure message carries
// the expression and the error's name and message):
//   ASSERT_OK(expr) / EXPECT_OK(expr)                  the rill::result succeeded
//   ASSERT_KINESIS_ERROR(expr, code) / EXPECT_KINESIS_ERROR(expr, code)
//                                                      it failed with that error_code
// Link the CMake target rill::testing (it brings rill::rill and rill::consumer)
// and GTest.
// The same macros exist with a RILL_ prefix; the short names are defined only
// if no other library defined them first, and not at all if
// RILL_TESTING_NO_SHORT_MACROS is defined before the include.
//
// Thread safety: test_engine and stream_builder are for the test's thread; the
// engine they wrap is thread-safe as always.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rill/clock.hpp"
#include "rill/engine.hpp"
#include "rill/kinesis.hpp"
#include "rill/reader.hpp"

#define RILL_TESTING_CHECK_OK_(expr, fail)                                                \
  do {                                                                                    \
    const auto& rill_testing_r_ = (expr);                                                 \
    if (!rill_testing_r_.ok()) fail() << #expr << " failed: " << rill_testing_r_.error(); \
  } while (0)

#define RILL_TESTING_CHECK_ERROR_(expr, code_, fail)                                                     \
  do {                                                                                                   \
    const auto& rill_testing_r_ = (expr);                                                                \
    const ::rill::error_code rill_testing_c_ = (code_);                                                  \
    if (rill_testing_r_.ok()) {                                                                          \
      fail() << #expr << " succeeded; expected " << rill_testing_c_;                                     \
    } else if (rill_testing_r_.error().code() != rill_testing_c_) {                                      \
      fail() << #expr << " failed with " << rill_testing_r_.error() << "; expected " << rill_testing_c_; \
    }                                                                                                    \
  } while (0)

/// The rill::result `expr` succeeded; otherwise a fatal failure naming the error.
#define RILL_ASSERT_OK(expr) RILL_TESTING_CHECK_OK_(expr, GTEST_FAIL)
/// The rill::result `expr` succeeded; otherwise a non-fatal failure naming the error.
#define RILL_EXPECT_OK(expr) RILL_TESTING_CHECK_OK_(expr, ADD_FAILURE)
/// `expr` failed with rill::error_code `code` (fatal otherwise).
#define RILL_ASSERT_KINESIS_ERROR(expr, code) RILL_TESTING_CHECK_ERROR_(expr, code, GTEST_FAIL)
/// `expr` failed with rill::error_code `code` (non-fatal otherwise).
#define RILL_EXPECT_KINESIS_ERROR(expr, code) RILL_TESTING_CHECK_ERROR_(expr, code, ADD_FAILURE)

#if !defined(RILL_TESTING_NO_SHORT_MACROS)
#if !defined(ASSERT_OK)
#define ASSERT_OK(expr) RILL_ASSERT_OK(expr)
#endif
#if !defined(EXPECT_OK)
#define EXPECT_OK(expr) RILL_EXPECT_OK(expr)
#endif
#if !defined(ASSERT_KINESIS_ERROR)
#define ASSERT_KINESIS_ERROR(expr, code) RILL_ASSERT_KINESIS_ERROR(expr, code)
#endif
#if !defined(EXPECT_KINESIS_ERROR)
#define EXPECT_KINESIS_ERROR(expr, code) RILL_EXPECT_KINESIS_ERROR(expr, code)
#endif
#endif

namespace rill::testing {

/// Thrown by stream_builder when a call it makes fails (GoogleTest reports an
/// exception escaping a test as a failure with this text).
class call_failed : public std::runtime_error {
 public:
  call_failed(std::string_view call, const error& e)
      : std::runtime_error(std::string(call) + ": " + e.to_string()), error_(e) {}
  [[nodiscard]] const rill::error& error() const noexcept { return error_; }

 private:
  rill::error error_;
};

/// The value of `r`, or throws call_failed naming `call`.
template <class T>
T value_or_throw(result<T> r, std::string_view call) {
  if (!r) throw call_failed(call, r.error());
  return std::move(r).value();
}
inline void value_or_throw(const result<void>& r, std::string_view call) {
  if (!r) throw call_failed(call, r.error());
}

/// An engine on a manual clock. `options.clock` is replaced by the manual clock.
struct test_engine {
  explicit test_engine(engine_options options = {}) : clock(std::make_shared<manual_clock>()) {
    options.clock = clock;
    engine = std::make_unique<rill::engine>(std::move(options));
  }
  rill::engine* operator->() { return engine.get(); }
  rill::engine& operator*() { return *engine; }
  /// Moves the manual clock forward, running what falls due (trimming, transitions).
  void advance(duration d) { clock->advance(d); }

  std::shared_ptr<manual_clock> clock;
  std::unique_ptr<rill::engine> engine;
};

/// One record for stream_builder::put_batch.
struct test_record {
  std::string partition_key{};
  std::string data{};
};

/// A stream of N shards with a line for each call a test makes over and over.
/// Works on any rill::kinesis; every method throws call_failed when its call fails.
class stream_builder {
 public:
  /// Creates the stream (PROVISIONED, `shards` shards).
  stream_builder(kinesis& k, std::string name, int shards) : k_(k), name_(std::move(name)) {
    value_or_throw(k_.create_stream({.stream_name = name_, .shard_count = shards}), "create_stream");
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] kinesis& client() const noexcept { return k_; }

  /// put_record of one record.
  put_record_result put(std::string_view key, std::string_view data) {
    return value_or_throw(k_.put_record({.stream_name = name_, .data = data, .partition_key = key}), "put_record");
  }

  /// put_record routed by an explicit hash key (partition key "k").
  put_record_result put_hash(hash_key h, std::string_view data) {
    const std::string text = h.to_string();
    return value_or_throw(
        k_.put_record({.stream_name = name_, .data = data, .partition_key = "k", .explicit_hash_key = text}),
        "put_record");
  }

  /// put_records of a batch (≤ 500); throws if any entry failed.
  put_records_result put_batch(const std::vector<test_record>& records) {
    put_records_request req{.stream_name = name_};
    req.records.reserve(records.size());
    for (const auto& r : records) req.records.push_back({.data = r.data, .partition_key = r.partition_key});
    auto out = value_or_throw(k_.put_records(req), "put_records");
    if (out.failed_record_count > 0) {
      for (const auto& e : out.records) {
        if (!e.ok()) throw call_failed("put_records", error(*e.error_code, e.error_message));
      }
    }
    return out;
  }

  /// Every shard, open and closed (list_shards, all pages).
  std::vector<shard> shards() {
    std::vector<shard> out;
    auto page = value_or_throw(k_.list_shards({.stream_name = name_}), "list_shards");
    for (;;) {
      out.insert(out.end(), page.shards.begin(), page.shards.end());
      if (!page.next_token) return out;
      page = value_or_throw(k_.list_shards({.next_token = page.next_token}), "list_shards");
    }
  }

  std::vector<shard> open_shards() {
    std::vector<shard> out;
    for (auto& s : shards()) {
      if (!s.sequence_number_range.ending_sequence_number) out.push_back(s);
    }
    return out;
  }

  /// The shard with this id (throws if absent).
  shard find(shard_id id) {
    for (auto& s : shards()) {
      if (s.shard_id == id) return s;
    }
    throw std::runtime_error("stream_builder: no shard " + id.to_string() + " in " + name_);
  }

  void split(shard_id id, hash_key at) {
    value_or_throw(
        k_.split_shard(
            {.stream_name = name_, .shard_to_split = id.to_string(), .new_starting_hash_key = at.to_string()}),
        "split_shard");
  }

  /// Splits a shard into two halves of its hash-key range.
  void split_in_half(const shard& s) {
    const auto lo = s.hash_key_range.starting_hash_key.value();
    const auto hi = s.hash_key_range.ending_hash_key.value();
    split(s.shard_id, hash_key(lo + (hi - lo) / 2 + 1));
  }
  void split_in_half(shard_id id) { split_in_half(find(id)); }
  /// Former name of split_in_half.
  void split_middle(const shard& s) { split_in_half(s); }

  void merge(shard_id a, shard_id b) {
    value_or_throw(
        k_.merge_shards(
            {.stream_name = name_, .shard_to_merge = a.to_string(), .adjacent_shard_to_merge = b.to_string()}),
        "merge_shards");
  }

  std::string iterator(shard_id id, shard_iterator_type type = shard_iterator_type::trim_horizon,
                       std::optional<std::string> seq = std::nullopt, std::optional<timestamp> at = std::nullopt) {
    return value_or_throw(k_.get_shard_iterator({.stream_name = name_,
                                                 .shard_id = id.to_string(),
                                                 .shard_iterator_type = type,
                                                 .starting_sequence_number = std::move(seq),
                                                 .timestamp = at}),
                          "get_shard_iterator")
        .shard_iterator;
  }

  /// Every record of the stream, read with a stream_reader: parents before
  /// children, open shards until caught up (each shard's records in order).
  std::vector<owned_record> read_stream() {
    stream_reader reader(k_, {.stream_name = name_});
    return value_or_throw(reader.read_all(), "stream_reader::read_all");
  }

  /// The data of every record of one shard, from TRIM_HORIZON to its current
  /// end (open shard) or its end (closed shard).
  std::vector<std::string> read_all(shard_id id) {
    std::vector<std::string> out;
    std::optional<std::string> it = iterator(id);
    while (it) {
      auto r = value_or_throw(k_.get_records({.shard_iterator = *it}), "get_records");
      for (const auto& rec : r.records) out.emplace_back(rec.data);
      if (r.records.empty() && r.millis_behind_latest == 0) break;
      it = r.next_shard_iterator;
    }
    return out;
  }

 private:
  kinesis& k_;
  std::string name_;
};

}  // namespace rill::testing
