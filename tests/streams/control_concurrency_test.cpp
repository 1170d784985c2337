// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// No control-plane call blocks another stream: while UpdateShardCount of one
// stream is in the middle of its per-shard work (held there by a storage that
// parks the creation of that stream's new shard logs), calls on other streams,
// control plane and data plane, complete, and so do reads and writes of the
// stream being rescaled. The shard quota counts what the change in flight will
// open. Label "concurrency" (CI runs it under ThreadSanitizer too).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "builder.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

// A memory storage that, once armed, parks every create_log of stream
// `parked` until release(): the resharding thread stops inside make_shard.
class gate_storage final : public storage {
 public:
  explicit gate_storage(std::string parked) : parked_(std::move(parked)) {}

  result<std::unique_ptr<shard_log>> create_log(const shard_log_key& key) override {
    if (key.stream_name == parked_) {
      std::unique_lock lock(mu_);
      if (armed_) {
        ++waiting_;
        cv_.notify_all();
        cv_.wait(lock, [&] { return !armed_; });
      }
    }
    return inner_->create_log(key);
  }
  void remove_log(const shard_log_key& key) override { inner_->remove_log(key); }

  void arm() {
    std::lock_guard lock(mu_);
    armed_ = true;
  }
  /// Waits until a create_log is parked (false after `timeout`).
  bool wait_parked(std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return waiting_ > 0; });
  }
  void release() {
    std::lock_guard lock(mu_);
    armed_ = false;
    cv_.notify_all();
  }

 private:
  std::shared_ptr<storage> inner_ = make_memory_storage();
  std::string parked_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  int waiting_ = 0;
};

struct rescale_fixture {
  std::shared_ptr<gate_storage> gate = std::make_shared<gate_storage>("big");
  std::unique_ptr<test_engine> e;
  std::vector<std::future<void>> pending;  // calls that did not finish in time

  explicit rescale_fixture(engine_options opt = {}) {
    opt.storage = gate;
    opt.shard_limit = 100;
    e = std::make_unique<test_engine>(opt);
    value_or_throw(e->engine->create_stream({.stream_name = "big", .shard_count = 8}), "create_stream");
    value_or_throw(e->engine->create_stream({.stream_name = "other", .shard_count = 2}), "create_stream");
    gate->arm();
  }
  ~rescale_fixture() {
    gate->release();  // whatever still waits for the rescale can finish now
    pending.clear();
  }

  // Runs `fn` on another thread and reports whether it finished within the
  // timeout. A call that waits for the parked rescale does not finish before
  // release(); it is kept in `pending` and joined after the release.
  template <class Fn>
  bool finishes(Fn fn, std::chrono::seconds timeout = 20s) {
    auto f = std::async(std::launch::async, std::move(fn));
    const bool ready = f.wait_for(timeout) == std::future_status::ready;
    if (!ready) pending.push_back(std::move(f));
    return ready;
  }
};

void expect_other_streams_go_on(rescale_fixture& f) {
  engine& e = *f.e->engine;
  EXPECT_TRUE(f.finishes([&e] { RILL_EXPECT_OK(e.create_stream({.stream_name = "fresh", .shard_count = 1})); }))
      << "create_stream of an unrelated stream waited for the rescale";
  EXPECT_TRUE(f.finishes([&e] {
    RILL_EXPECT_OK(e.put_record({.stream_name = "other", .data = "d", .partition_key = "k"}));
  })) << "put_record to another stream waited for the rescale";
  EXPECT_TRUE(f.finishes([&e] {
    RILL_EXPECT_OK(e.add_tags_to_stream({.stream_name = "other", .tags = {{"team", "a"}}}));
    RILL_EXPECT_OK(e.update_shard_count({.stream_name = "other", .target_shard_count = 4}));
    RILL_EXPECT_OK(e.describe_limits());
    RILL_EXPECT_OK(e.delete_stream({.stream_name = "fresh"}));
  })) << "a control call on another stream waited for the rescale";
  // The stream being rescaled still takes writes and reads.
  EXPECT_TRUE(f.finishes([&e] {
    RILL_EXPECT_OK(e.put_record({.stream_name = "big", .data = "d", .partition_key = "k"}));
    RILL_EXPECT_OK(e.describe_stream_summary({.stream_name = "big"}));
  })) << "the rescaled stream's data path waited for the new shards";
}

TEST(ControlConcurrency, UpdateShardCountBlocksNoOtherStream) {
  rescale_fixture f;
  engine& e = **f.e;
  auto rescale = std::async(std::launch::async,
                            [&] { return e.update_shard_count({.stream_name = "big", .target_shard_count = 16}); });
  ASSERT_TRUE(f.gate->wait_parked(20s)) << "the rescale never made a shard log";
  expect_other_streams_go_on(f);
  f.gate->release();
  auto r = rescale.get();
  RILL_ASSERT_OK(r);
  auto sum = e.describe_stream_summary({.stream_name = "big"});
  RILL_ASSERT_OK(sum);
  EXPECT_EQ(sum->stream_description_summary.open_shard_count, 16);
  auto limits = e.describe_limits();
  RILL_ASSERT_OK(limits);
  EXPECT_EQ(limits->open_shard_count, 16 + 4);  // big and other; fresh was deleted
}

// The same with an UPDATING period: the change runs as a scheduled task,
// inside manual_clock::advance() on another thread.
TEST(ControlConcurrency, ScheduledRescaleBlocksNoOtherStream) {
  engine_options opt;
  opt.update_stream_delay = 1s;
  rescale_fixture f(opt);
  engine& e = **f.e;
  RILL_ASSERT_OK(e.update_shard_count({.stream_name = "big", .target_shard_count = 16}));
  auto advancing = std::async(std::launch::async, [&] { f.e->advance(2s); });
  ASSERT_TRUE(f.gate->wait_parked(20s)) << "the scheduled rescale never made a shard log";
  expect_other_streams_go_on(f);
  f.gate->release();
  advancing.get();
  f.e->advance(2s);  // other's own UPDATING period
  auto sum = e.describe_stream_summary({.stream_name = "big"});
  RILL_ASSERT_OK(sum);
  EXPECT_EQ(sum->stream_description_summary.open_shard_count, 16);
  EXPECT_EQ(sum->stream_description_summary.stream_status, stream_status::active);
}

// While a rescale is in flight, the shards it will open are spoken for: a
// create_stream that would need them is refused, and once the rescale is
// applied the count is exact again.
TEST(ControlConcurrency, ShardsOfARescaleInFlightCountAgainstTheQuota) {
  bool refused = false;  // before f: a call still running when f goes writes them
  bool fits = false;
  rescale_fixture f;
  engine& e = **f.e;
  // 8 + 2 open of 100; doubling big reserves 8 more while in flight.
  auto rescale = std::async(std::launch::async,
                            [&] { return e.update_shard_count({.stream_name = "big", .target_shard_count = 16}); });
  ASSERT_TRUE(f.gate->wait_parked(20s));
  EXPECT_TRUE(f.finishes([&] {
    RILL_EXPECT_KINESIS_ERROR(e.create_stream({.stream_name = "x", .shard_count = 85}),
                              error_code::limit_exceeded_exception);
    refused = true;
    RILL_EXPECT_OK(e.create_stream({.stream_name = "y", .shard_count = 82}));  // 10 + 8 reserved + 82 = 100
    fits = true;
  }));
  f.gate->release();
  RILL_ASSERT_OK(rescale.get());
  EXPECT_TRUE(refused);
  EXPECT_TRUE(fits);
  auto limits = e.describe_limits();
  RILL_ASSERT_OK(limits);
  EXPECT_EQ(limits->open_shard_count, 16 + 2 + 82);
  RILL_EXPECT_KINESIS_ERROR(e.create_stream({.stream_name = "z", .shard_count = 1}),
                            error_code::limit_exceeded_exception);
}

}  // namespace
}  // namespace rill::testing
