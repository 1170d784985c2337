// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The KCL scheduler on a manual clock: processing and checkpoints,
// deaggregation, resharding order, fencing, graceful shutdown and handoff (and
// the handoffs the KCL got stuck on), processor failures, initial positions,
// balancing, restarts on the file lease store, metrics.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "consumer/kcl_harness.hpp"
#include "rill/kpl.hpp"

namespace rill::kcl {
namespace {

using namespace std::chrono_literals;
using testing::journal;
using testing::pausable_clock;
using testing::processor_options;
using testing::recording_processor;

constexpr const char* stream = "clicks";

struct worker_handle {
  std::shared_ptr<pausable_clock> clock;
  std::unique_ptr<scheduler> s;
};

class KclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<manual_clock>();
    engine_ = std::make_unique<engine>(engine_options{.clock = clock_});
    metrics_ = std::make_shared<metrics_registry>(clock_);
    store_ = make_memory_lease_store();
  }
  void make_stream(int shards) { ASSERT_TRUE(engine_->create_stream({.stream_name = stream, .shard_count = shards})); }
  config make_config(const std::string& worker, std::shared_ptr<rill::clock> clock = nullptr) {
    config c;
    c.stream_name = stream;
    c.worker_identifier = worker;
    c.kinesis = engine_.get();
    c.lease_store = store_;
    c.clock = clock ? clock : clock_;
    auto pc = c.clock;
    c.shard_record_processor_factory = [this, worker, pc] {
      return std::make_unique<recording_processor>(j_, worker, pc, store_, popts_);
    };
    c.idle_time_between_reads_in_millis = 200ms;
    c.metrics = metrics_;
    return c;
  }
  worker_handle start(const std::string& worker, std::function<void(config&)> tweak = {}) {
    worker_handle h;
    h.clock = std::make_shared<pausable_clock>(clock_);
    auto c = make_config(worker, h.clock);
    if (tweak) tweak(c);
    auto s = scheduler::create(std::move(c));
    EXPECT_TRUE(s) << s.error();
    h.s = std::move(*s);
    h.s->start();
    return h;
  }
  std::vector<std::string> put(int n, const std::string& prefix = "r") {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      const std::string id = prefix + std::to_string(put_count_++);
      const std::string pk = "user-" + std::to_string(put_count_ * 7919 % 1000);
      EXPECT_TRUE(engine_->put_record({.stream_name = stream, .data = id, .partition_key = pk}));
      ids.push_back(id);
    }
    return ids;
  }
  std::map<std::string, int> delivered_counts() const {
    std::map<std::string, int> out;
    for (const auto& d : j_.deliveries) ++out[d.data];
    return out;
  }
  int duplicates() const {
    int n = 0;
    for (const auto& [k, v] : delivered_counts()) n += v - 1;
    return n;
  }
  lease get(const std::string& key) { return **store_->get_lease(key); }
  double metric_sum(const std::string& name, std::vector<metric_dimension> dims) {
    auto r = metrics_->get("KinesisClientLibrary", name, dims, timestamp{}, clock_->now() + 1h);
    double s = 0;
    for (const auto& d : r.datapoints) s += d.sum;
    return s;
  }

  std::shared_ptr<manual_clock> clock_;
  std::unique_ptr<engine> engine_;
  std::shared_ptr<metrics_registry> metrics_;
  std::shared_ptr<lease_store> store_;
  journal j_;
  processor_options popts_{};
  int put_count_ = 0;
};

TEST_F(KclTest, ProcessesEveryRecordOnceAndCheckpointsAtTheTip) {
  make_stream(2);
  auto ids = put(200);
  auto w = start("w1");
  clock_->advance(5s);
  auto more = put(50);
  clock_->advance(5s);
  auto counts = delivered_counts();
  ASSERT_EQ(counts.size(), 250u);
  for (const auto& [id, n] : counts) EXPECT_EQ(n, 1) << id;
  auto tips = testing::tips(*engine_, stream);
  for (const auto& [shard, tip] : tips) {
    EXPECT_EQ(get(shard).checkpoint, tip) << shard;
    EXPECT_EQ(get(shard).lease_owner, "w1");
  }
  EXPECT_EQ(metric_sum("RecordsProcessed", {{"Operation", "ProcessTask"}, {"ShardId", "shardId-000000000000"}}) +
                metric_sum("RecordsProcessed", {{"Operation", "ProcessTask"}, {"ShardId", "shardId-000000000001"}}),
            250);
  EXPECT_GT(metric_sum("LeaseTaken", {{"Operation", "TakeLeases"}, {"WorkerIdentifier", "w1"}}), 0);
  EXPECT_GT(metric_sum("CurrentLeases", {{"Operation", "RenewAllLeases"}, {"WorkerIdentifier", "w1"}}), 0);
  auto mb =
      metrics_->get("KinesisClientLibrary", "MillisBehindLatest",
                    std::vector<metric_dimension>{{"Operation", "ProcessTask"}, {"ShardId", "shardId-000000000000"}},
                    timestamp{}, clock_->now() + 1h);
  EXPECT_FALSE(mb.datapoints.empty());
  // Every delivery within one incarnation is in increasing order.
  for (const auto& inc : j_.incarnations)
    for (std::size_t i = 1; i < inc.delivered.size(); ++i) EXPECT_LT(inc.delivered[i - 1], inc.delivered[i]);
}

// A processor driven by lambdas, for one-off behaviours.
struct lambda_processor final : shard_record_processor {
  std::function<void(const initialization_input&)> on_init = [](const auto&) {};
  std::function<void(const process_records_input&)> on_records = [](const auto&) {};
  std::function<void(const shard_ended_input&)> on_end = [](const auto& in) { (void)in.checkpointer->checkpoint(); };
  void initialize(const initialization_input& in) override { on_init(in); }
  void process_records(const process_records_input& in) override { on_records(in); }
  void lease_lost(const lease_lost_input&) override {}
  void shard_ended(const shard_ended_input& in) override { on_end(in); }
  void shutdown_requested(const shutdown_requested_input& in) override { (void)in.checkpointer->checkpoint(); }
};

TEST_F(KclTest, DeaggregatesWithSubSequenceNumbersAndResumesInsideAnAggregate) {
  make_stream(1);
  std::vector<std::string> pks = {"a", "b", "c", "d", "e"}, datas = {"m0", "m1", "m2", "m3", "m4"};
  std::vector<kpl::user_record_view> members;
  for (int i = 0; i < 5; ++i) members.push_back({.partition_key = pks[i], .data = datas[i]});
  const std::string agg = kpl::aggregate(members);
  ASSERT_TRUE(engine_->put_record({.stream_name = stream, .data = agg, .partition_key = "a"}));
  put(1, "plain");

  std::vector<std::pair<std::string, std::uint64_t>> first;
  auto c = make_config("w1");
  c.shard_record_processor_factory = [&] {
    auto p = std::make_unique<lambda_processor>();
    p->on_records = [&](const process_records_input& in) {
      for (const auto& r : in.records) first.emplace_back(std::string(r.data), r.sub_sequence_number);
      // Checkpoint in the middle of the aggregate, at member 2.
      ASSERT_TRUE(in.checkpointer->checkpoint(in.records[2]));
      EXPECT_TRUE(in.records[0].aggregated);
      EXPECT_FALSE(in.records[5].aggregated);
    };
    return p;
  };
  auto w1 = std::move(*scheduler::create(std::move(c)));
  w1->start();
  clock_->advance(1s);
  ASSERT_EQ(first.size(), 6u);
  for (std::uint64_t i = 0; i < 5; ++i) EXPECT_EQ(first[i], std::make_pair(datas[i], i));
  EXPECT_EQ(first[5].second, 0u);
  EXPECT_EQ(get("shardId-000000000000").checkpoint.sub_sequence_number, 2);
  w1.reset();  // crash

  auto w2 = start("w2");
  clock_->advance(35s);  // the lease expires, w2 takes it
  ASSERT_EQ(j_.incarnations.size(), 1u);
  EXPECT_EQ(j_.incarnations[0].initial.sub_sequence_number, 2);
  std::vector<std::string> second;
  for (const auto& d : j_.deliveries) second.push_back(d.data);
  EXPECT_EQ(second, (std::vector<std::string>{"m3", "m4", "plain0"}));
}

TEST_F(KclTest, DropsAggregateMembersOutsideTheShardsRange) {
  make_stream(2);
  // Find partition keys that hash into each half.
  std::string low, high;
  const auto half = hash_key(hash_key::max().value() / 2);
  for (int i = 0; low.empty() || high.empty(); ++i) {
    std::string pk = "k" + std::to_string(i);
    (hash_key::of_partition_key(pk) <= half ? low : high) = pk;
  }
  std::vector<kpl::user_record_view> members = {{.partition_key = low, .data = "in"},
                                                {.partition_key = high, .data = "out"}};
  const std::string agg = kpl::aggregate(members);
  ASSERT_TRUE(
      engine_->put_record({.stream_name = stream, .data = agg, .partition_key = "a", .explicit_hash_key = "0"}));
  auto w = start("w1");
  clock_->advance(2s);
  auto counts = delivered_counts();
  EXPECT_EQ(counts.count("in"), 1u);
  EXPECT_EQ(counts.count("out"), 0u);  // the producer re-sends it to the right shard after a reshard
}

TEST_F(KclTest, ChildrenStartOnlyAfterEveryParentCheckpointedShardEnd) {
  make_stream(2);
  put(40);
  popts_.checkpoint_at_shard_end = false;
  auto w = start("w1");
  clock_->advance(2s);
  ASSERT_TRUE(engine_->split_shard(
      {.stream_name = stream, .shard_to_split = "shardId-000000000000", .new_starting_hash_key = "1000"}));
  put(40);
  clock_->advance(30s);
  // The parent's processor did not checkpoint SHARD_END: shardEnded is retried, the children wait.
  int ended = 0;
  for (const auto& inc : j_.incarnations) {
    EXPECT_NE(inc.shard, "shardId-000000000002");
    EXPECT_NE(inc.shard, "shardId-000000000003");
    ended += inc.shard_ended;
  }
  EXPECT_EQ(ended, 1);
  EXPECT_GT(
      metric_sum("ShardEnded.MissingCheckpoint", {{"Operation", "ShutdownTask"}, {"ShardId", "shardId-000000000000"}}),
      1);
  popts_.checkpoint_at_shard_end = true;
  // Re-create the parent's processor behaviour: restart the worker.
  w.s.reset();
  w = start("w1");  // same id: takes its leases back at once
  clock_->advance(10s);
  ASSERT_TRUE(engine_->merge_shards({.stream_name = stream,
                                     .shard_to_merge = "shardId-000000000003",
                                     .adjacent_shard_to_merge = "shardId-000000000001"}));
  put(40);
  clock_->advance(60s);
  auto counts = delivered_counts();
  EXPECT_EQ(counts.size(), 120u);
  // Each child initialized only when every parent with a lease stood at SHARD_END,
  // and after the last delivery of its parents.
  std::map<std::string, timestamp> last_delivery;
  for (const auto& d : j_.deliveries) last_delivery[d.shard] = d.at;
  std::set<std::string> children_seen;
  for (const auto& inc : j_.incarnations) {
    for (const auto& cp : inc.parent_checkpoints) EXPECT_TRUE(cp.is_shard_end()) << inc.shard;
    auto l = get(inc.shard);
    for (const auto& p : l.parent_shard_ids) {
      EXPECT_LE(last_delivery[p], inc.initialized_at) << inc.shard << " before " << p;
      children_seen.insert(inc.shard);
    }
  }
  EXPECT_TRUE(children_seen.count("shardId-000000000004")) << "the merge child was processed";
  auto tips = testing::tips(*engine_, stream);
  for (const auto& [shard, tip] : tips) EXPECT_EQ(get(shard).checkpoint, tip) << shard;
  EXPECT_EQ(get("shardId-000000000000").child_shard_ids,
            (std::vector<std::string>{"shardId-000000000002", "shardId-000000000003"}));
}

TEST_F(KclTest, AProcessorWhoseLeaseWasStolenCannotCheckpointAndStops) {
  make_stream(1);
  put(10);
  std::vector<result<void>> checkpoints;
  bool lost = false;
  auto c = make_config("w1");
  c.shard_record_processor_factory = [&] {
    struct p final : shard_record_processor {
      std::vector<result<void>>& cps;
      bool& lost;
      journal& j;
      p(std::vector<result<void>>& c, bool& l, journal& jj) : cps(c), lost(l), j(jj) {}
      void initialize(const initialization_input&) override {}
      void process_records(const process_records_input& in) override {
        for (const auto& r : in.records) j.deliveries.push_back({{}, 0, "", {}, std::string(r.data)});
        cps.push_back(in.checkpointer->checkpoint());
      }
      void lease_lost(const lease_lost_input&) override { lost = true; }
      void shard_ended(const shard_ended_input&) override {}
      void shutdown_requested(const shutdown_requested_input&) override {}
    };
    return std::make_unique<p>(checkpoints, lost, j_);
  };
  auto w = std::move(*scheduler::create(std::move(c)));
  w->start();
  clock_->advance(1s);
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_TRUE(checkpoints[0]);
  // Another worker takes the lease (as after an expiry it observed).
  lease l = get("shardId-000000000000");
  ASSERT_EQ(*store_->take_lease(l, "thief"), write_status::applied);
  put(5);
  clock_->advance(1s);
  ASSERT_EQ(checkpoints.size(), 2u);
  ASSERT_FALSE(checkpoints[1]);
  EXPECT_EQ(checkpoints[1].error().name(), "ShutdownException");
  EXPECT_TRUE(lost);
  EXPECT_EQ(get("shardId-000000000000").lease_owner, "thief");
  const auto delivered = j_.deliveries.size();
  put(5);
  clock_->advance(30s);
  EXPECT_EQ(j_.deliveries.size(), delivered) << "no records after the lease was lost";
  EXPECT_TRUE(w->shards().empty());
}

TEST_F(KclTest, CheckpointOutsideTheDeliveredRangeIsRefused) {
  make_stream(1);
  put(3);
  std::vector<result<void>> results;
  auto c = make_config("w1");
  c.shard_record_processor_factory = [&] {
    auto p = std::make_unique<lambda_processor>();
    p->on_records = [&](const process_records_input& in) {
      auto last = extended_sequence_number_of(in.records.back());
      results.push_back(in.checkpointer->checkpoint(last.sequence_number, 1));  // beyond the last delivered
      results.push_back(in.checkpointer->checkpoint("12x", 0));                 // malformed
      results.push_back(in.checkpointer->checkpoint(in.records[1]));            // fine
      results.push_back(in.checkpointer->checkpoint(in.records[0]));            // before the last checkpoint
      EXPECT_EQ(in.checkpointer->last_checkpoint_value(), extended_sequence_number_of(in.records[1]));
      EXPECT_EQ(in.checkpointer->largest_permitted_checkpoint_value(), last);
    };
    return p;
  };
  auto w = std::move(*scheduler::create(std::move(c)));
  w->start();
  clock_->advance(1s);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].error().name(), "InvalidArgumentException");
  EXPECT_EQ(results[1].error().name(), "InvalidArgumentException");
  EXPECT_TRUE(results[2]);
  EXPECT_EQ(results[3].error().name(), "InvalidArgumentException");
}

TEST_F(KclTest, GracefulShutdownReleasesLeasesAtOnceWithoutDuplicates) {
  make_stream(4);
  put(100);
  auto a = start("a");
  clock_->advance(3s);
  auto b = start("b");
  put(100);
  clock_->advance(1s);
  ASSERT_TRUE(a.s->graceful_shutdown());
  for (const auto& inc : j_.incarnations) {
    EXPECT_TRUE(inc.shutdown_requested);
    EXPECT_TRUE(inc.lease_lost);
  }
  for (int i = 0; i < 4; ++i) EXPECT_NE(get("shardId-00000000000" + std::to_string(i)).lease_owner, "a");
  clock_->advance(21s);  // b's next taker run: well before the failover time would have let it
  EXPECT_EQ(b.s->shards().size(), 4u);
  put(100);
  clock_->advance(5s);
  EXPECT_EQ(delivered_counts().size(), 300u);
  EXPECT_EQ(duplicates(), 0);
}

TEST_F(KclTest, GracefulHandoffUnderBalancingHasZeroDuplicates) {
  make_stream(4);
  auto a = start("a");
  clock_->advance(2s);
  auto b = start("b");
  auto c = start("c");
  for (int i = 0; i < 150; ++i) {  // 150 s of traffic while the leases move
    put(5);
    clock_->advance(1s);
  }
  clock_->advance(5s);
  const auto sa = a.s->shards().size(), sb = b.s->shards().size(), sc = c.s->shards().size();
  EXPECT_EQ(sa + sb + sc, 4u);
  EXPECT_LE(std::max({sa, sb, sc}), 2u);
  EXPECT_GE(std::min({sa, sb, sc}), 1u);
  EXPECT_EQ(delivered_counts().size(), 750u);
  EXPECT_EQ(duplicates(), 0);
  int handed = 0;
  for (const auto& inc : j_.incarnations) handed += inc.shutdown_requested;
  EXPECT_GE(handed, 2);
}

// The owner is asked to hand a lease over and never answers (paused): the new
// owner forces the handoff after the timeout; the zombie, resumed, gets lease_lost
// and never processes the shard again.
TEST_F(KclTest, HandoffIsForcedWhenTheOwnerNeverAnswers) {
  make_stream(2);
  put(20);
  auto a = start("a");
  clock_->advance(2s);
  ASSERT_EQ(a.s->shards().size(), 2u);
  auto b = start("b");
  clock_->run_due();  // b's first take: it asks a for one lease
  auto bs = b.s->shards();
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].state, "PENDING_HANDOFF");
  a.clock->pause();
  const auto asked = clock_->now();
  put(20);
  clock_->advance(9s);
  EXPECT_EQ(b.s->shards()[0].state, "PENDING_HANDOFF") << "not before the failover time";
  // a's leases expire (their counters stopped moving); b takes both, at the
  // latest when the handoff timeout forces it.
  clock_->advance(25s);
  ASSERT_EQ(b.s->shards().size(), 2u);
  for (const auto& inc : j_.incarnations) {
    if (inc.worker == "b") {
      EXPECT_GE(inc.initialized_at - asked, 10s);
    }
  }
  const auto resumed = clock_->now();
  a.clock->resume();
  clock_->advance(2s);
  // Every tenure a had before its pause ended with lease_lost, and delivered
  // nothing once b had initialized that shard.
  for (const auto& inc : j_.incarnations) {
    if (inc.worker != "a" || inc.initialized_at >= resumed) continue;
    EXPECT_TRUE(inc.lease_lost) << inc.shard;
  }
  for (const auto& d : j_.deliveries) {
    const auto& inc = j_.incarnations[static_cast<std::size_t>(d.incarnation)];
    if (inc.worker != "a" || inc.initialized_at >= resumed) continue;
    for (const auto& other : j_.incarnations) {
      if (other.worker == "b" && other.shard == inc.shard) {
        EXPECT_LT(d.at, other.initialized_at);
      }
    }
  }
  EXPECT_EQ(delivered_counts().size(), 40u);
}

TEST_F(KclTest, HandoffIsForcedWhenTheOwnerDiesMidHandoff) {
  make_stream(2);
  auto a = start("a");
  clock_->advance(2s);
  auto b = start("b");
  clock_->run_due();
  ASSERT_EQ(b.s->shards().size(), 1u);
  a.s.reset();  // crash
  put(30);
  clock_->advance(45s);
  EXPECT_EQ(b.s->shards().size(), 2u);
  for (const auto& s : b.s->shards()) EXPECT_EQ(s.state, "PROCESSING");
  EXPECT_EQ(delivered_counts().size(), 30u);
}

TEST_F(KclTest, AnOwnerRestartedMidHandoffCompletesItAtOnce) {
  make_stream(2);
  auto a = start("a");
  clock_->advance(2s);
  auto b = start("b");
  clock_->run_due();
  ASSERT_EQ(b.s->shards().size(), 1u);
  const std::string moving = b.s->shards()[0].shard_id;
  a.s.reset();
  a = start("a");  // the same worker, restarted: it finds its unfinished handoff and completes it
  clock_->advance(4s);
  auto bs = b.s->shards();
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].shard_id, moving);
  EXPECT_EQ(bs[0].state, "PROCESSING");
  EXPECT_EQ(a.s->shards().size(), 1u);
  EXPECT_FALSE(get(moving).checkpoint_owner);
}

TEST_F(KclTest, ANewOwnerThatDiesMidHandoffLeavesNoStuckLease) {
  make_stream(2);
  auto a = start("a");
  clock_->advance(2s);
  auto b = start("b");
  clock_->run_due();
  ASSERT_EQ(b.s->shards().size(), 1u);
  const std::string moving = b.s->shards()[0].shard_id;
  b.s.reset();  // the new owner dies
  put(10);
  clock_->advance(4s);  // a answers: checkpoints, lets go; the lease now names dead b
  EXPECT_EQ(get(moving).lease_owner, "b");
  EXPECT_FALSE(get(moving).checkpoint_owner);
  clock_->advance(60s);  // b's lease expires; a takes it back
  EXPECT_EQ(a.s->shards().size(), 2u);
  EXPECT_EQ(get(moving).lease_owner, "a");
  EXPECT_EQ(delivered_counts().size(), 10u);
}

TEST_F(KclTest, AThrowingProcessorGetsTheBatchAgainThenItIsSkipped) {
  make_stream(1);
  put(5);
  j_.throws_left["shardId-000000000000"] = 1;
  auto w = start("w1");
  clock_->advance(2s);
  EXPECT_EQ(delivered_counts().size(), 5u) << "one failure: the same batch again";
  put(5);
  j_.throws_left["shardId-000000000000"] = 3;  // more than process_records_retry_attempts (2)
  clock_->advance(3s);
  EXPECT_EQ(delivered_counts().size(), 5u) << "the batch was skipped";
  put(5);
  clock_->advance(2s);
  EXPECT_EQ(delivered_counts().size(), 10u);
  const std::vector<metric_dimension> dims = {{"Operation", "ProcessTask"}, {"ShardId", "shardId-000000000000"}};
  EXPECT_EQ(metric_sum("ProcessRecords.Exceptions", dims), 4);
  EXPECT_EQ(metric_sum("ProcessRecords.SkippedRecords", dims), 5);
}

TEST_F(KclTest, InitialPositionLatestAndAtTimestamp) {
  make_stream(1);
  put(10, "old");
  clock_->advance(1min);
  const auto t1 = clock_->now();
  put(10, "mid");
  auto latest = start("w1", [](config& c) { c.initial_position_in_stream = {initial_position::latest, {}}; });
  clock_->advance(1s);
  put(10, "new");
  clock_->advance(2s);
  for (const auto& [id, n] : delivered_counts()) EXPECT_EQ(id.substr(0, 3), "new");
  EXPECT_EQ(delivered_counts().size(), 10u);
  latest.s.reset();

  store_ = make_memory_lease_store();
  j_ = {};
  auto at = start("w2", [&](config& c) { c.initial_position_in_stream = {initial_position::at_timestamp, t1}; });
  clock_->advance(2s);
  auto counts = delivered_counts();
  EXPECT_EQ(counts.size(), 20u);
  for (const auto& [id, n] : counts) EXPECT_NE(id.substr(0, 3), "old");
}

TEST_F(KclTest, APreparedCheckpointReachesTheNextOwner) {
  make_stream(1);
  put(3);
  auto c = make_config("w1");
  std::shared_ptr<prepared_checkpointer> prepared;
  c.shard_record_processor_factory = [&] {
    auto p = std::make_unique<lambda_processor>();
    p->on_records = [&](const process_records_input& in) {
      auto r = in.checkpointer->prepare_checkpoint(in.records[1].sequence_number.to_string(), 0, "txn-7");
      ASSERT_TRUE(r) << r.error();
      prepared = *r;
    };
    return p;
  };
  auto w1 = std::move(*scheduler::create(std::move(c)));
  w1->start();
  clock_->advance(1s);
  ASSERT_TRUE(prepared);
  auto l = get("shardId-000000000000");
  ASSERT_TRUE(l.pending_checkpoint);
  EXPECT_EQ(l.pending_checkpoint_state, "txn-7");
  EXPECT_EQ(l.checkpoint, extended_sequence_number::trim_horizon());
  w1.reset();
  EXPECT_EQ(prepared->checkpoint().error().name(), "ShutdownException") << "the worker is gone";
  auto w2 = start("w2");
  clock_->advance(35s);
  ASSERT_EQ(j_.incarnations.size(), 1u);
  EXPECT_EQ(j_.incarnations[0].pending, l.pending_checkpoint);
}

TEST_F(KclTest, ThroughputBalancingMovesColdLeasesAndLeavesTheHotOne) {
  make_stream(4);
  auto tweak = [](config& c) {
    c.balancing = lease_balancing::throughput;
    c.graceful_lease_handoff_enabled = true;
  };
  auto a = start("a", tweak);
  clock_->advance(1s);
  // The hot shard takes 6 of every 9 records: more than the average load alone.
  auto b = start("b", tweak);
  for (int i = 0; i < 200; ++i) {
    for (int s = 0; s < 4; ++s) {
      const std::string ehk = hash_key(hash_key::max().value() / 4 * static_cast<unsigned>(s) + 1000).to_string();
      for (int k = 0; k < (s == 0 ? 6 : 1); ++k) {
        std::string payload = "t" + std::to_string(put_count_++) + std::string(200, 'x');
        ASSERT_TRUE(engine_->put_record(
            {.stream_name = stream, .data = payload, .partition_key = "p", .explicit_hash_key = ehk}));
      }
    }
    clock_->advance(1s);
  }
  auto as = a.s->shards(), bs = b.s->shards();
  ASSERT_EQ(as.size() + bs.size(), 4u);
  auto holds = [](const std::vector<shard_info>& v, const std::string& id) {
    return std::any_of(v.begin(), v.end(), [&](const shard_info& s) { return s.shard_id == id; });
  };
  // Count balancing would split 2/2; by throughput one worker keeps the hot
  // shard alone and the other takes the three cold ones.
  const bool a_hot = holds(as, "shardId-000000000000");
  EXPECT_EQ((a_hot ? as : bs).size(), 1u);
  EXPECT_EQ((a_hot ? bs : as).size(), 3u);
  EXPECT_GT(get("shardId-000000000000").throughput_kbps, 2 * get("shardId-000000000001").throughput_kbps);
  EXPECT_EQ(duplicates(), 0);
}

// KCL #461: a deleted lease left its shard unprocessed until a restart. Here the
// holder loses it at its next renewal, shard sync recreates it, and the shard is
// processed again (from TRIM_HORIZON: at-least-once, nothing missed).
TEST_F(KclTest, ADeletedLeaseIsRecreatedAndItsShardProcessedAgain) {
  make_stream(1);
  put(5);
  auto w = start("w1", [](config& c) { c.shard_sync_interval_millis = 30s; });
  clock_->advance(2s);
  ASSERT_EQ(delivered_counts().size(), 5u);
  ASSERT_TRUE(store_->delete_lease("shardId-000000000000"));
  put(5);
  clock_->advance(4s);
  EXPECT_TRUE(j_.incarnations[0].lease_lost);
  clock_->advance(60s);
  auto counts = delivered_counts();
  EXPECT_EQ(counts.size(), 10u);
  ASSERT_EQ(w.s->shards().size(), 1u);
  EXPECT_EQ(get("shardId-000000000000").lease_owner, "w1");
}

TEST_F(KclTest, ConfigIsValidated) {
  make_stream(1);
  auto bad = [&](std::function<void(config&)> f) {
    auto c = make_config("w");
    f(c);
    auto r = scheduler::create(std::move(c));
    return !r && r.error().name() == "ValidationException";
  };
  EXPECT_TRUE(bad([](config& c) { c.stream_name.clear(); }));
  EXPECT_TRUE(bad([](config& c) { c.worker_identifier.clear(); }));
  EXPECT_TRUE(bad([](config& c) { c.kinesis = nullptr; }));
  EXPECT_TRUE(bad([](config& c) { c.lease_store = nullptr; }));
  EXPECT_TRUE(bad([](config& c) { c.failover_time_millis = 50ms; }));
  EXPECT_TRUE(bad([](config& c) { c.max_records = 10001; }));
  EXPECT_TRUE(bad([](config& c) { c.initial_position_in_stream = {initial_position::at_timestamp, {}}; }));
  EXPECT_FALSE(bad([](config&) {}));
}

TEST_F(KclTest, WorkersRestartedOnTheSameLeaseDirectoryResumeFromTheirCheckpoints) {
  const auto dir =
      (std::filesystem::temp_directory_path() / ("rill_kcl_restart_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  store_ = *make_file_lease_store(dir, {.sync = false});
  make_stream(4);
  put(200);
  {
    auto a = start("a"), b = start("b");
    for (int i = 0; i < 60; ++i) {
      put(2);
      clock_->advance(1s);
    }
    EXPECT_EQ(a.s->shards().size() + b.s->shards().size(), 4u);
  }  // both crash (no graceful shutdown)
  const auto before = j_.deliveries.size();
  EXPECT_EQ(delivered_counts().size(), 320u);
  put(50);
  store_ = *make_file_lease_store(dir, {.sync = false});  // a fresh process's view of the directory
  auto a = start("a"), b = start("b");
  clock_->advance(3s);  // same identifiers: leases taken back at once, not after the failover time
  EXPECT_EQ(a.s->shards().size() + b.s->shards().size(), 4u);
  EXPECT_EQ(delivered_counts().size(), 370u);
  EXPECT_EQ(j_.deliveries.size(), before + 50) << "resumed from the checkpoints: nothing again";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rill::kcl
