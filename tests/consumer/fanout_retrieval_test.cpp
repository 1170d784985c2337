// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The KCL scheduler with enhanced fan-out retrieval (SubscribeToShard), on
// rill::engine and a manual clock: registration under the application name,
// delivery across the 5-minute subscription life (resubscribing from the
// continuation sequence number), the end of a shard with its children, a
// failover where the new owner's subscription takes over the old one
// (ResourceInUseException), and a consumer CREATING for a while.
#include <gtest/gtest.h>

#include <atomic>

#include "consumer/kcl_harness.hpp"

namespace rill::kcl {
namespace {

using namespace std::chrono_literals;
using testing::journal;
using testing::pausable_clock;
using testing::processor_options;
using testing::recording_processor;

constexpr const char* stream = "clicks";

class KclFanOutTest : public ::testing::Test {
 protected:
  void make_engine(engine_options o = {}) {
    clock_ = std::make_shared<manual_clock>();
    o.clock = clock_;
    engine_ = std::make_unique<engine>(std::move(o));
    store_ = make_memory_lease_store();
  }
  void SetUp() override { make_engine(); }
  void make_stream(int shards) { ASSERT_TRUE(engine_->create_stream({.stream_name = stream, .shard_count = shards})); }

  struct handle {
    std::shared_ptr<pausable_clock> clock;
    std::unique_ptr<scheduler> s;
  };
  handle start(const std::string& worker, fan_out_config fc = {}) {
    handle h;
    h.clock = std::make_shared<pausable_clock>(clock_);
    config c;
    c.application_name = "clickstats";
    c.stream_name = stream;
    c.worker_identifier = worker;
    c.kinesis = engine_.get();
    c.lease_store = store_;
    c.clock = h.clock;
    auto pc = h.clock;
    c.shard_record_processor_factory = [this, worker, pc] {
      return std::make_unique<recording_processor>(j_, worker, pc, store_, popts_);
    };
    c.retrieval = retrieval_ ? retrieval_ : make_fan_out_retrieval_factory(std::move(fc));
    c.failover_time_millis = 10s;
    auto s = scheduler::create(std::move(c));
    EXPECT_TRUE(s) << s.error();
    h.s = std::move(*s);
    h.s->start();
    return h;
  }
  std::vector<std::string> put(int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      const std::string id = "r" + std::to_string(put_count_++);
      const std::string pk = "user-" + std::to_string(put_count_ * 7919 % 1000);
      EXPECT_TRUE(engine_->put_record({.stream_name = stream, .data = id, .partition_key = pk}));
      ids.push_back(id);
    }
    return ids;
  }
  std::map<std::string, int> counts() const {
    std::map<std::string, int> out;
    for (const auto& d : j_.deliveries) ++out[d.data];
    return out;
  }
  std::string stream_arn() {
    return engine_->describe_stream_summary({.stream_name = stream})->stream_description_summary.stream_arn;
  }

  std::shared_ptr<manual_clock> clock_;
  std::unique_ptr<engine> engine_;
  std::shared_ptr<lease_store> store_;
  journal j_;
  processor_options popts_{};
  int put_count_ = 0;
  std::shared_ptr<retrieval_factory> retrieval_;  // null: fan-out with the given config
};

// Counts the scheduler's calls of get_next_batch, forwarding everything.
class counting_factory final : public retrieval_factory {
 public:
  explicit counting_factory(std::shared_ptr<retrieval_factory> inner) : inner_(std::move(inner)) {}
  std::unique_ptr<record_retrieval> create(rill::kinesis& k, const retrieval_start& s) override {
    return std::make_unique<counted>(inner_->create(k, s), calls);
  }
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);

 private:
  class counted final : public record_retrieval {
   public:
    counted(std::unique_ptr<record_retrieval> r, std::shared_ptr<std::atomic<int>> n)
        : r_(std::move(r)), n_(std::move(n)) {}
    result<get_records_result> get_next_batch() override {
      ++*n_;
      return r_->get_next_batch();
    }
    std::optional<duration> next_call_delay(bool had) const override { return r_->next_call_delay(had); }
    bool set_ready_callback(std::function<void()> f) override { return r_->set_ready_callback(std::move(f)); }

   private:
    std::unique_ptr<record_retrieval> r_;
    std::shared_ptr<std::atomic<int>> n_;
  };
  std::shared_ptr<retrieval_factory> inner_;
};

TEST_F(KclFanOutTest, RegistersTheApplicationAndDeliversAcrossSubscriptionLifetimes) {
  make_stream(2);
  auto ids = put(100);
  auto w = start("w1");
  clock_->advance(2s);
  auto c = engine_->describe_stream_consumer({.stream_arn = stream_arn(), .consumer_name = "clickstats"});
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->consumer_description.consumer_status, consumer_status::active);
  EXPECT_EQ(counts().size(), 100u);
  // Twelve minutes of traffic: every subscription ends after five and is
  // renewed from its continuation, without a gap or a repeat.
  for (int minute = 0; minute < 12; ++minute) {
    auto more = put(20);
    ids.insert(ids.end(), more.begin(), more.end());
    clock_->advance(1min);
  }
  auto got = counts();
  for (const auto& id : ids) EXPECT_EQ(got[id], 1) << id;
  EXPECT_EQ(got.size(), ids.size());
  EXPECT_EQ(j_.incarnations.size(), 2u);  // one tenure per shard: resubscribing is not a new tenure
  // Checkpointed at the tip of each shard.
  for (const auto& [shard, tip] : testing::tips(*engine_, stream))
    EXPECT_EQ((**store_->get_lease(shard)).checkpoint, tip);
}

// Push, not poll: a put reaches process_records in the same instant of the
// manual clock (0 ticks; inside the run_due() after the put), and an idle
// subscription costs no calls (heartbeats only move the continuation).
TEST_F(KclFanOutTest, APutIsProcessedInTheSameTickAndIdleIsNotPolled) {
  make_stream(1);
  auto counting = std::make_shared<counting_factory>(make_fan_out_retrieval_factory());
  retrieval_ = counting;
  auto w = start("w1");
  clock_->advance(2s);
  ASSERT_EQ(w.s->shards().size(), 1u);
  for (int round = 0; round < 5; ++round) {
    const int before = counting->calls->load();
    clock_->advance(std::chrono::milliseconds(60'000 + 137 * round));  // idle: heartbeats, no calls
    EXPECT_LE(counting->calls->load() - before, 1) << "an idle subscription was polled";
    const timestamp t = clock_->now();
    const auto ids = put(3);
    clock_->run_due();  // no time passes
    ASSERT_EQ(counts().size(), static_cast<std::size_t>(3 * (round + 1)));
    for (std::size_t i = j_.deliveries.size() - 3; i < j_.deliveries.size(); ++i) {
      EXPECT_EQ(j_.deliveries[i].at, t);
      EXPECT_EQ(j_.deliveries[i].data, ids[i - (j_.deliveries.size() - 3)]);
    }
  }
  // 5 minutes passed: the subscription was renewed from its continuation, nothing repeated.
  for (const auto& [id, n] : counts()) EXPECT_EQ(n, 1) << id;
}

// An event that comes while a failed batch waits for its redelivery is not
// forgotten: after the redelivery the consumer looks at the queue again.
TEST_F(KclFanOutTest, EventsDuringARedeliveryBackoffAreProcessed) {
  make_stream(1);
  auto w = start("w1");
  clock_->advance(2s);
  j_.throws_left["shardId-000000000000"] = 1;
  auto ids = put(3);
  clock_->run_due();  // delivered, thrown: redelivery after the backoff (500 ms)
  clock_->advance(100ms);
  auto more = put(2);      // arrives during the backoff
  clock_->advance(600ms);  // the redelivery, then the queued event
  ids.insert(ids.end(), more.begin(), more.end());
  auto got = counts();
  for (const auto& id : ids) EXPECT_EQ(got[id], 1) << id;
}

// Back-pressure: with the processor not calling, at most max_pending_events
// events wait in the retrieval; the rest stays in the shard and comes later
// (here by cancelling and renewing the subscription, as rill::subscription has
// no pause() on this branch), every record exactly once and in order.
TEST_F(KclFanOutTest, AtMostMaxPendingEventsWaitForTheProcessor) {
  make_stream(1);
  auto ids = put(400);
  auto factory = make_fan_out_retrieval_factory({.max_pending_events = 3});
  retrieval_start st;
  st.application_name = "clickstats";
  st.stream_name = stream;
  st.shard_id = "shardId-000000000000";
  st.position = extended_sequence_number::trim_horizon();
  st.max_records = 10;  // events of at most 10 records: 40 events
  st.clock = clock_;
  auto r = factory->create(*engine_, st);
  int signals = 0;
  ASSERT_TRUE(r->set_ready_callback([&] { ++signals; }));
  std::vector<std::string> got;
  int subscriptions_waited = 0;
  int full_queues = 0;
  while (got.size() < ids.size()) {
    auto b = r->get_next_batch();
    if (!b) {  // the 5 s rule of SubscribeToShard after a cancel
      ASSERT_EQ(b.error().code(), error_code::resource_in_use_exception) << b.error();
      ++subscriptions_waited;
      clock_->advance(1s);
      continue;
    }
    if (b->records.empty()) {
      ASSERT_EQ(r->next_call_delay(false), record_retrieval::until_ready);
      clock_->advance(1s);  // delivery runs: at most 3 events are taken from the shard
      int queued = 0;
      while (r->next_call_delay(true) == duration{0} || queued == 0) {
        auto q = r->get_next_batch();
        if (!q || q->records.empty()) break;
        ++queued;
        EXPECT_LE(q->records.size(), 10u);
        for (const auto& rec : q->records) got.emplace_back(rec.data);
      }
      EXPECT_LE(queued, 3);
      if (queued == 3) ++full_queues;
      continue;
    }
    for (const auto& rec : b->records) got.emplace_back(rec.data);
  }
  EXPECT_EQ(got, ids);
  EXPECT_GT(signals, 0);
  EXPECT_GT(full_queues, 0);  // the bound was hit: delivery stopped at 3 events and resumed
  // The subscription has pause()/resume(): back-pressure pauses it instead of
  // cancelling, so no resubscription (and no 5 s ResourceInUse wait) is needed.
  EXPECT_EQ(subscriptions_waited, 0);
}

TEST_F(KclFanOutTest, AShardEndsWithItsChildrenAndTheyFollow) {
  make_stream(1);
  auto ids = put(50);
  auto w = start("w1");
  clock_->advance(2s);
  ASSERT_TRUE(engine_->split_shard({.stream_name = stream,
                                    .shard_to_split = "shardId-000000000000",
                                    .new_starting_hash_key = "170141183460469231731687303715884105728"}));
  auto more = put(50);
  ids.insert(ids.end(), more.begin(), more.end());
  clock_->advance(30s);
  auto got = counts();
  for (const auto& id : ids) EXPECT_EQ(got[id], 1) << id;
  EXPECT_TRUE((**store_->get_lease("shardId-000000000000")).checkpoint.is_shard_end());
  for (const auto& inc : j_.incarnations)
    for (const auto& cp : inc.parent_checkpoints) EXPECT_TRUE(cp.is_shard_end()) << inc.shard;
  EXPECT_EQ(j_.incarnations.size(), 3u);
}

TEST_F(KclFanOutTest, ANewOwnerTakesTheSubscriptionOverAfterAFailover) {
  make_stream(1);
  auto a = start("a");
  auto ids = put(30);
  clock_->advance(2s);
  ASSERT_EQ(counts().size(), 30u);
  a.clock->pause();  // a zombie: stops renewing, its subscription stays open
  auto b = start("b");
  auto more = put(30);
  ids.insert(ids.end(), more.begin(), more.end());
  clock_->advance(45s);  // the lease expires, b takes it and subscribes (taking a's pipe over)
  a.clock->resume();     // a comes back: fenced, gets lease_lost, processes nothing more
  auto last = put(30);
  ids.insert(ids.end(), last.begin(), last.end());
  clock_->advance(30s);
  auto got = counts();
  for (const auto& id : ids) EXPECT_GE(got[id], 1) << id;
  for (const auto& d : j_.deliveries) {
    if (j_.incarnations[static_cast<std::size_t>(d.incarnation)].worker == "a") {
      EXPECT_LT(d.at, clock_->now() - 70s);
    }
  }
  EXPECT_EQ(b.s->shards().size(), 1u);
  EXPECT_TRUE(a.s->shards().empty());
  EXPECT_TRUE(j_.incarnations.front().lease_lost);
}

TEST_F(KclFanOutTest, WaitsWhileTheConsumerIsCreating) {
  engine_options o;
  o.fanout.register_consumer_delay = 3s;
  make_engine(o);
  make_stream(1);
  auto ids = put(10);
  auto w = start("w1");
  clock_->advance(1s);
  EXPECT_TRUE(counts().empty());  // CREATING: the retrieval backs off
  clock_->advance(10s);
  EXPECT_EQ(counts().size(), 10u);
}

TEST_F(KclFanOutTest, UsesAConsumerRegisteredBeforehand) {
  make_stream(1);
  auto reg = engine_->register_stream_consumer({.stream_arn = stream_arn(), .consumer_name = "mine"});
  ASSERT_TRUE(reg) << reg.error();
  auto ids = put(10);
  auto w = start("w1", {.consumer_arn = reg->consumer.consumer_arn});
  clock_->advance(2s);
  EXPECT_EQ(counts().size(), 10u);
  auto list = engine_->list_stream_consumers({.stream_arn = stream_arn()});
  ASSERT_TRUE(list);
  EXPECT_EQ(list->consumers.size(), 1u);  // no consumer named after the application
}

}  // namespace
}  // namespace rill::kcl
