// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// SubscribeToShard on a manual clock: push on put, continuation, heartbeats,
// 5-minute expiry, the 5 s takeover rule, shard end with child shards, exception
// events, the 2 MiB/s pipe, back-pressure, callback mode, and a seeded
// resubscribe-across-reshards property.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "rill/engine.hpp"
#include "rill/testing.hpp"
#include "seed.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::stream_builder;
using testing::test_engine;
using testing::value_or_throw;

const std::string kShard0 = "shardId-000000000000";

std::string consumer_of(test_engine& e, const std::string& stream, const std::string& name) {
  const std::string arn = value_or_throw(e->describe_stream_summary({.stream_name = stream}), "summary")
                              .stream_description_summary.stream_arn;
  return value_or_throw(e->register_stream_consumer({.stream_arn = arn, .consumer_name = name}), "register")
      .consumer.consumer_arn;
}

std::shared_ptr<subscription> subscribe(test_engine& e, const std::string& consumer, const std::string& shard,
                                        starting_position pos = {}, subscription_options opt = {}) {
  return value_or_throw(
      e->subscribe_to_shard(
          {.consumer_arn = consumer, .shard_id = shard, .starting_position = pos, .options = std::move(opt)}),
      "subscribe_to_shard");
}

/// Every event ready now.
std::vector<subscribe_to_shard_event> drain(subscription& sub) {
  std::vector<subscribe_to_shard_event> out;
  for (;;) {
    auto r = sub.try_pull();
    if (!r) ADD_FAILURE() << r.error();
    if (!r || !r->has_value()) return out;
    out.push_back(std::move(**r));
  }
}

std::vector<std::string> datas(const std::vector<subscribe_to_shard_event>& events) {
  std::vector<std::string> out;
  for (const auto& ev : events) {
    for (const auto& r : ev.records) out.emplace_back(r.data);
  }
  return out;
}

TEST(SubscribeToShard, RecordsArriveWithThePutNotByPolling) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto sub = subscribe(e, consumer_of(e, "s", "c"), kShard0);
  EXPECT_TRUE(drain(*sub).empty());
  auto p1 = s.put("k", "one");
  s.put("k", "two");
  auto events = drain(*sub);  // no time has passed
  ASSERT_EQ(datas(events), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(events.front().records.front().sequence_number, p1.sequence_number);
  EXPECT_EQ(events.back().millis_behind_latest, 0);
  ASSERT_TRUE(events.back().continuation_sequence_number.has_value());
  EXPECT_FALSE(sub->ended());
}

TEST(SubscribeToShard, StartingPositions) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto c = consumer_of(e, "s", "c");
  s.put("k", "a");
  auto b = s.put("k", "b");
  e.advance(2s);
  const timestamp t = e.clock->now();
  s.put("k", "c");
  EXPECT_EQ(datas(drain(*subscribe(e, c, kShard0, {.type = shard_iterator_type::trim_horizon}))),
            (std::vector<std::string>{"a", "b", "c"}));
  e.advance(5s);
  EXPECT_EQ(datas(drain(*subscribe(
                e, c, kShard0,
                {.type = shard_iterator_type::at_sequence_number, .sequence_number = b.sequence_number.to_string()}))),
            (std::vector<std::string>{"b", "c"}));
  e.advance(5s);
  EXPECT_EQ(datas(drain(*subscribe(e, c, kShard0,
                                   {.type = shard_iterator_type::after_sequence_number,
                                    .sequence_number = b.sequence_number.to_string()}))),
            (std::vector<std::string>{"c"}));
  e.advance(5s);
  EXPECT_EQ(datas(drain(*subscribe(e, c, kShard0, {.type = shard_iterator_type::at_timestamp, .timestamp = t}))),
            (std::vector<std::string>{"c"}));
  e.advance(5s);
  EXPECT_TRUE(datas(drain(*subscribe(e, c, kShard0, {.type = shard_iterator_type::latest}))).empty());
  e.advance(5s);
  EXPECT_KINESIS_ERROR(e->subscribe_to_shard({.consumer_arn = c,
                                              .shard_id = kShard0,
                                              .starting_position = {.type = shard_iterator_type::at_sequence_number}}),
                       error_code::invalid_argument_exception);
  EXPECT_KINESIS_ERROR(e->subscribe_to_shard({.consumer_arn = c, .shard_id = "shardId-000000000009"}),
                       error_code::resource_not_found_exception);
  EXPECT_KINESIS_ERROR(e->subscribe_to_shard({.consumer_arn = c + "0", .shard_id = kShard0}),
                       error_code::resource_not_found_exception);
}

TEST(SubscribeToShard, MillisBehindLatestIsReal) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto c = consumer_of(e, "s", "c");
  s.put("k", "old");
  e.advance(1500ms);
  s.put("k", "new");
  auto sub = subscribe(e, c, kShard0, {.type = shard_iterator_type::trim_horizon}, {.max_event_records = 1});
  auto first = value_or_throw(sub->try_pull(), "pull");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->records.size(), 1u);
  EXPECT_EQ(first->millis_behind_latest, 0);  // the next record arrived now
  e.advance(700ms);
  auto second = value_or_throw(sub->try_pull(), "pull");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->records.at(0).data, "new");
  EXPECT_EQ(second->millis_behind_latest, 0);
  // A lagging reader of a backlog: behind by the age of the next unread record.
  s.put("k", "x");
  e.advance(3s);
  s.put("k", "y");
  e.advance(4s);  // heartbeats
  auto lag = subscribe(e, consumer_of(e, "s", "lag"), kShard0, {.type = shard_iterator_type::trim_horizon},
                       {.max_event_records = 3});
  auto ev = value_or_throw(lag->try_pull(), "pull");
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->millis_behind_latest, 4000);  // "y" arrived 4 s ago
}

TEST(SubscribeToShard, ContinuationAdvancesWithoutDataAndResumesExactly) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto c = consumer_of(e, "s", "c");
  auto sub = subscribe(e, c, kShard0);
  s.put("k", "a");
  auto events = drain(*sub);
  ASSERT_EQ(events.size(), 1u);
  const auto cont1 = sequence_number::parse(*events[0].continuation_sequence_number);
  ASSERT_TRUE(cont1);
  EXPECT_TRUE(drain(*sub).empty());  // nothing new, no heartbeat yet
  e.advance(1s);
  auto beat = drain(*sub);
  ASSERT_EQ(beat.size(), 1u);
  EXPECT_TRUE(beat[0].records.empty());
  const auto cont2 = sequence_number::parse(*beat[0].continuation_sequence_number);
  ASSERT_TRUE(cont2);
  EXPECT_GT(*cont2, *cont1);
  s.put("k", "b");
  e.advance(10s);
  auto resumed = subscribe(
      e, c, kShard0,
      {.type = shard_iterator_type::after_sequence_number, .sequence_number = *beat[0].continuation_sequence_number});
  EXPECT_EQ(datas(drain(*resumed)), (std::vector<std::string>{"b"}));
}

TEST(SubscribeToShard, EndsAfterFiveMinutesOnTheClock) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto sub = subscribe(e, consumer_of(e, "s", "c"), kShard0);
  e.advance(5min - 1ms);
  drain(*sub);
  EXPECT_FALSE(sub->ended());
  e.advance(1ms);
  s.put("k", "late");  // stays in the shard for the next subscription
  EXPECT_TRUE(drain(*sub).empty());
  EXPECT_TRUE(sub->ended());
}

TEST(SubscribeToShard, SecondSubscriptionWithinFiveSecondsIsInUseThenTakesOver) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  const auto c = consumer_of(e, "s", "c");
  auto first = subscribe(e, c, kShard0);
  e.advance(4999ms);
  EXPECT_KINESIS_ERROR(e->subscribe_to_shard({.consumer_arn = c, .shard_id = kShard0}),
                       error_code::resource_in_use_exception);
  // Other shards and other consumers are independent.
  EXPECT_OK(e->subscribe_to_shard({.consumer_arn = c, .shard_id = "shardId-000000000001"}));
  EXPECT_OK(e->subscribe_to_shard({.consumer_arn = consumer_of(e, "s", "d"), .shard_id = kShard0}));
  drain(*first);
  EXPECT_FALSE(first->ended());
  e.advance(1ms);
  auto second = subscribe(e, c, kShard0);
  EXPECT_KINESIS_ERROR(first->try_pull(), error_code::resource_in_use_exception);
  EXPECT_TRUE(first->ended());
  EXPECT_FALSE(second->ended());
  // A subscription that has ended still counts for 5 s.
  second->cancel();
  EXPECT_KINESIS_ERROR(e->subscribe_to_shard({.consumer_arn = c, .shard_id = kShard0}),
                       error_code::resource_in_use_exception);
}

TEST(SubscribeToShard, DeregisteringEndsSubscriptionsWithResourceNotFound) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto c = consumer_of(e, "s", "c");
  auto sub = subscribe(e, c, kShard0);
  s.put("k", "a");
  ASSERT_OK(e->deregister_stream_consumer({.consumer_arn = c}));
  EXPECT_KINESIS_ERROR(sub->try_pull(), error_code::resource_not_found_exception);
  EXPECT_TRUE(sub->ended());
  auto after = sub->try_pull();
  ASSERT_OK(after);
  EXPECT_FALSE(after->has_value());
  EXPECT_KINESIS_ERROR(e->subscribe_to_shard({.consumer_arn = c, .shard_id = kShard0}),
                       error_code::resource_not_found_exception);
}

TEST(SubscribeToShard, ClosedShardEndsWithNullContinuationAndChildShards) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto c = consumer_of(e, "s", "c");
  auto sub = subscribe(e, c, kShard0);
  s.put("k", "before");
  s.split_in_half(s.find(shard_id(0)));
  auto events = drain(*sub);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(datas(events), (std::vector<std::string>{"before"}));
  const auto& last = events.back();
  EXPECT_FALSE(last.continuation_sequence_number.has_value());
  ASSERT_EQ(last.child_shards.size(), 2u);
  EXPECT_EQ(last.child_shards[0].shard_id, shard_id(1));
  EXPECT_EQ(last.child_shards[1].shard_id, shard_id(2));
  EXPECT_EQ(last.child_shards[0].parent_shards, (std::vector<shard_id>{shard_id(0)}));
  EXPECT_TRUE(sub->ended());
}

TEST(SubscribeToShard, PipeIsHeldToTwoMiBPerSecondWithLimitsOn) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  throughput_limits l;
  l.enabled = true;
  l.write_bytes_per_second = 64 << 20;
  l.write_records_per_second = 1'000'000;
  ASSERT_OK(e->set_stream_throughput("s", l));
  const std::string payload(64 * 1024 - 1, 'x');
  for (int i = 0; i < 96; ++i) s.put("k", payload);  // 6 MiB
  const auto c1 = consumer_of(e, "s", "one");
  const auto c2 = consumer_of(e, "s", "two");
  auto a = subscribe(e, c1, kShard0, {.type = shard_iterator_type::trim_horizon}, {.max_event_bytes = 256 << 10});
  auto b = subscribe(e, c2, kShard0, {.type = shard_iterator_type::trim_horizon}, {.max_event_bytes = 256 << 10});
  const auto bytes = [](const std::vector<subscribe_to_shard_event>& evs) {
    std::size_t n = 0;
    for (const auto& ev : evs) {
      for (const auto& r : ev.records) n += r.data.size() + r.partition_key.size();
    }
    return n;
  };
  const std::size_t a0 = bytes(drain(*a));
  const std::size_t b0 = bytes(drain(*b));  // its own pipe: not affected by a
  EXPECT_GE(a0, 2u << 20);
  EXPECT_LE(a0, (2u << 20) + (256u << 10));
  EXPECT_EQ(a0, b0);
  // Classic readers are unaffected by the pipes.
  auto it = value_or_throw(e->get_shard_iterator({.stream_name = "s", .shard_id = kShard0}), "it");
  EXPECT_OK(e->get_records({.shard_iterator = it.shard_iterator, .limit = 10}));
  e.advance(1s);
  const std::size_t a1 = bytes(drain(*a));
  EXPECT_GT(a1, 1u << 20);
  EXPECT_LE(a1, (2u << 20) + (256u << 10));
}

TEST(SubscribeToShard, AStalledSubscriberLosesNothingAndNeverBlocksTheWriter) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto c = consumer_of(e, "s", "c");
  auto stalled = subscribe(e, c, kShard0);
  for (int i = 0; i < 5000; ++i) s.put("k", std::to_string(i));  // nobody pulls
  auto first = value_or_throw(stalled->try_pull(), "pull");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->records.size(), 5000u);
  EXPECT_EQ(first->records.front().data, "0");
  // Stalled past its life: resubscribe from the continuation, nothing lost.
  for (int i = 5000; i < 5100; ++i) s.put("k", std::to_string(i));
  e.advance(6min);
  EXPECT_TRUE(drain(*stalled).empty() || true);
  auto resumed = subscribe(
      e, c, kShard0,
      {.type = shard_iterator_type::after_sequence_number, .sequence_number = *first->continuation_sequence_number});
  auto rest = datas(drain(*resumed));
  ASSERT_EQ(rest.size(), 100u);
  EXPECT_EQ(rest.front(), "5000");
  EXPECT_EQ(rest.back(), "5099");
}

TEST(SubscribeToShard, PullWithTimeoutOnASingleThreadedManualClockReturns) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto sub = subscribe(e, consumer_of(e, "s", "c"), kShard0);
  const timestamp t0 = e.clock->now();
  auto r = sub->pull(500ms);  // nothing arrives: time moves to the deadline, no hang
  ASSERT_OK(r);
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(e.clock->now(), t0 + 500ms);
  auto beat = sub->pull(5s);  // the heartbeat at 1 s ends the wait
  ASSERT_OK(beat);
  ASSERT_TRUE(beat->has_value());
  EXPECT_EQ(e.clock->now(), t0 + 1s);
  s.put("k", "now");
  auto got = sub->pull(5s);
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->records.at(0).data, "now");
  EXPECT_EQ(e.clock->now(), t0 + 1s);
}

TEST(SubscribeToShard, CallbackModeDeliversInsideAdvance) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  std::vector<std::string> got;
  int completed = 0;
  std::optional<error_code> failure;
  subscription_options opt;
  opt.handler = [&](result<subscribe_to_shard_event> ev) {
    if (!ev) {
      failure = ev.error().code();
      return;
    }
    for (const auto& r : ev->records) got.emplace_back(r.data);
  };
  opt.on_complete = [&] { ++completed; };
  auto sub = subscribe(e, consumer_of(e, "s", "c"), kShard0, {}, opt);
  s.put("k", "a");
  s.put("k", "b");
  EXPECT_TRUE(got.empty());  // the writer does not run the handler
  e.clock->run_due();
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
  e.advance(5min);
  EXPECT_EQ(completed, 1);
  EXPECT_FALSE(failure.has_value());
  EXPECT_TRUE(sub->ended());
}

// Dropping the last handle of a callback subscription cancels it; on the
// manual clock its on_complete is still delivered, by the next advance(), once.
TEST(SubscribeToShard, DroppingACallbackHandleStillDeliversOnCompleteInsideAdvance) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  int completed = 0;
  int events = 0;
  subscription_options opt;
  opt.handler = [&](result<subscribe_to_shard_event> ev) {
    ASSERT_TRUE(ev) << ev.error();
    ++events;
  };
  opt.on_complete = [&] { ++completed; };
  auto sub = subscribe(e, consumer_of(e, "s", "c"), kShard0, {}, opt);
  s.put("k", "a");
  e.clock->run_due();
  EXPECT_EQ(events, 1);
  sub.reset();
  EXPECT_EQ(completed, 0);  // not on the dropping thread
  e.clock->run_due();
  EXPECT_EQ(completed, 1);
  s.put("k", "b");  // nothing is delivered after the end
  e.advance(10s);
  EXPECT_EQ(completed, 1);
  EXPECT_EQ(events, 1);
}

// A handle dropped and the engine destroyed before the clock moves: the
// subscription is freed with the engine (ASan's leak check), no call after.
TEST(SubscribeToShard, DroppingACallbackHandleThenTheEngineFreesTheSubscription) {
  int completed = 0;
  {
    test_engine e;
    stream_builder s(*e, "s", 1);
    subscription_options opt;
    opt.handler = [](result<subscribe_to_shard_event>) {};
    opt.on_complete = [&] { ++completed; };
    auto sub = subscribe(e, consumer_of(e, "s", "c"), kShard0, {}, opt);
    sub.reset();
  }
  EXPECT_EQ(completed, 0);
}

// A consumer that follows the lineage by subscriptions alone — resubscribing
// from every continuation after expiry and from child shards after a shard ends —
// receives every record once, in order per shard, across splits and merges.
TEST(SubscribeToShard, ResubscribingAcrossReshardsDeliversEveryRecordOnceInOrder) {
  const std::uint64_t seed = testing::test_seed(20261130);
  std::mt19937_64 rng(seed);
  test_engine e;
  stream_builder s(*e, "s", 2);
  const auto c = consumer_of(e, "s", "c");
  std::map<shard_id, std::vector<sequence_number>> expected;  // per shard, in put order
  std::map<shard_id, std::vector<sequence_number>> got;
  struct pipe {
    std::shared_ptr<subscription> sub;
    std::optional<std::string> continuation;
    timestamp started{};
  };
  std::map<shard_id, pipe> pipes;
  std::set<shard_id> done;
  for (const auto& sh : s.open_shards())
    pipes[sh.shard_id] = {subscribe(e, c, sh.shard_id.to_string(), {.type = shard_iterator_type::trim_horizon}),
                          std::nullopt, e.clock->now()};
  int counter = 0;
  const auto pump = [&] {
    for (auto it = pipes.begin(); it != pipes.end();) {
      auto& [id, p] = *it;
      for (const auto& ev : drain(*p.sub)) {
        for (const auto& r : ev.records) got[id].push_back(r.sequence_number);
        if (ev.continuation_sequence_number) p.continuation = ev.continuation_sequence_number;
        if (!ev.continuation_sequence_number) {
          done.insert(id);
          for (const auto& child : ev.child_shards) {
            if (pipes.count(child.shard_id) || done.count(child.shard_id)) continue;
            pipes[child.shard_id] = {
                subscribe(e, c, child.shard_id.to_string(), {.type = shard_iterator_type::trim_horizon}), std::nullopt,
                e.clock->now()};
          }
        }
      }
      if (done.count(id)) {
        it = pipes.erase(it);
        continue;
      }
      if (p.sub->ended() && e.clock->now() - p.started >= 5s) {  // expired: resubscribe from the continuation
        starting_position pos{.type = shard_iterator_type::trim_horizon};
        if (p.continuation)
          pos = {.type = shard_iterator_type::after_sequence_number, .sequence_number = p.continuation};
        p.sub = subscribe(e, c, id.to_string(), pos);
        p.started = e.clock->now();
      }
      ++it;
    }
  };
  for (int step = 0; step < 60; ++step) {
    const int puts = static_cast<int>(rng() % 20);
    for (int i = 0; i < puts; ++i) {
      auto r = s.put("k" + std::to_string(rng() % 50), std::to_string(counter++));
      expected[r.shard_id].push_back(r.sequence_number);
    }
    if (step % 3 == 0) pump();
    const auto action = rng() % 10;
    const auto open = s.open_shards();
    if (action == 0 && open.size() < 6) {
      s.split_in_half(open[rng() % open.size()]);
    } else if (action == 1 && open.size() > 1) {
      const std::size_t i = rng() % (open.size() - 1);
      // open_shards() is by index; merge needs hash-adjacent shards.
      auto sorted = open;
      std::sort(sorted.begin(), sorted.end(), [](const shard& a, const shard& b) {
        return a.hash_key_range.starting_hash_key < b.hash_key_range.starting_hash_key;
      });
      s.merge(sorted[i].shard_id, sorted[i + 1].shard_id);
    }
    e.advance(std::chrono::seconds(rng() % 40));
  }
  for (int i = 0; i < 20; ++i) {
    e.advance(6s);
    pump();
  }
  EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace rill
