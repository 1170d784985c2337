// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Test helpers: an engine on a manual clock, and a stream builder that makes a
// stream of N shards, splits, merges, puts and reads in a line each.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "rill/engine.hpp"

namespace rill::testing {

/// Fails the current test with the error's name and message if `r` failed.
#define RILL_ASSERT_OK(expr)                                         \
  do {                                                               \
    auto&& rill_r_ = (expr);                                         \
    ASSERT_TRUE(rill_r_.ok()) << #expr << " -> " << rill_r_.error(); \
  } while (0)

#define RILL_EXPECT_ERROR(expr, code_)                                         \
  do {                                                                         \
    auto&& rill_r_ = (expr);                                                   \
    ASSERT_FALSE(rill_r_.ok()) << #expr << " succeeded; expected " << (code_); \
    EXPECT_EQ(rill_r_.error().code(), (code_)) << rill_r_.error();             \
  } while (0)

/// An engine on a manual clock. Options can be adjusted before first use.
struct test_engine {
  explicit test_engine(engine_options opt = {}) : clock(std::make_shared<manual_clock>()) {
    opt.clock = clock;
    engine = std::make_unique<rill::engine>(std::move(opt));
  }
  rill::engine* operator->() { return engine.get(); }
  rill::engine& operator*() { return *engine; }

  std::shared_ptr<manual_clock> clock;
  std::unique_ptr<rill::engine> engine;
};

/// A stream with shorthands for the calls a test makes over and over.
class stream_builder {
 public:
  stream_builder(rill::engine& e, std::string name, int shards) : e_(e), name_(std::move(name)) {
    auto r = e_.create_stream({.stream_name = name_, .shard_count = shards});
    if (!r) throw std::runtime_error(r.error().to_string());
  }

  const std::string& name() const { return name_; }

  put_record_result put(std::string_view key, std::string_view data) {
    auto r = e_.put_record({.stream_name = name_, .data = data, .partition_key = key});
    if (!r) throw std::runtime_error(r.error().to_string());
    return *r;
  }

  put_record_result put_hash(hash_key h, std::string_view data) {
    std::string text = h.to_string();
    auto r = e_.put_record({.stream_name = name_, .data = data, .partition_key = "k", .explicit_hash_key = text});
    if (!r) throw std::runtime_error(r.error().to_string());
    return *r;
  }

  std::vector<shard> shards() {
    auto r = e_.list_shards({.stream_name = name_});
    if (!r) throw std::runtime_error(r.error().to_string());
    return r->shards;
  }

  std::vector<shard> open_shards() {
    std::vector<shard> out;
    for (auto& s : shards()) {
      if (!s.sequence_number_range.ending_sequence_number) out.push_back(s);
    }
    return out;
  }

  void split(shard_id id, hash_key at) {
    auto r = e_.split_shard(
        {.stream_name = name_, .shard_to_split = id.to_string(), .new_starting_hash_key = at.to_string()});
    if (!r) throw std::runtime_error(r.error().to_string());
  }

  /// Splits a shard at the middle of its range.
  void split_middle(const shard& s) {
    auto lo = s.hash_key_range.starting_hash_key.value();
    auto hi = s.hash_key_range.ending_hash_key.value();
    split(s.shard_id, hash_key(lo + (hi - lo) / 2 + 1));
  }

  void merge(shard_id a, shard_id b) {
    auto r = e_.merge_shards(
        {.stream_name = name_, .shard_to_merge = a.to_string(), .adjacent_shard_to_merge = b.to_string()});
    if (!r) throw std::runtime_error(r.error().to_string());
  }

  std::string iterator(shard_id id, shard_iterator_type type = shard_iterator_type::trim_horizon,
                       std::optional<std::string> seq = std::nullopt, std::optional<timestamp> at = std::nullopt) {
    auto r = e_.get_shard_iterator({.stream_name = name_,
                                    .shard_id = id.to_string(),
                                    .shard_iterator_type = type,
                                    .starting_sequence_number = std::move(seq),
                                    .timestamp = at});
    if (!r) throw std::runtime_error(r.error().to_string());
    return r->shard_iterator;
  }

  /// Every record of a shard from TRIM_HORIZON to its current end (or its end, if closed).
  std::vector<std::string> read_all(shard_id id) {
    std::vector<std::string> out;
    std::optional<std::string> it = iterator(id);
    while (it) {
      auto r = e_.get_records({.shard_iterator = *it});
      if (!r) throw std::runtime_error(r.error().to_string());
      for (auto& rec : r->records) out.emplace_back(rec.data);
      if (r->records.empty()) break;
      it = r->next_shard_iterator;
    }
    return out;
  }

 private:
  rill::engine& e_;
  std::string name_;
};

}  // namespace rill::testing
