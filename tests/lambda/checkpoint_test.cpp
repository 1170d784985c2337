// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// The Lambda-style mapping's checkpoints in the KCL lease table: resuming after
// a restart (file store, across a split and a merge, inside a KPL aggregate),
// the ReportBatchItemFailures position, SHARD_END before children, identities,
// takeover of a second instance, and store faults.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "rill/kpl.hpp"
#include "rill/lambda.hpp"
#include "rill/lease.hpp"
#include "rill/testing.hpp"
#include "seed.hpp"

namespace rill::lambda {
namespace {

using namespace std::chrono_literals;
using rill::testing::stream_builder;
using rill::testing::test_engine;
using rill::testing::value_or_throw;

constexpr const char* kShard0 = "shardId-000000000000";

std::string temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("rill_lambda_" + std::to_string(::getpid()) + "_" +
                                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  return dir.string();
}

kcl::lease lease_of(kcl::lease_store& store, const std::string& key) {
  auto l = value_or_throw(store.get_lease(key), "get_lease");
  if (!l) throw std::runtime_error("no lease " + key);
  return *l;
}

/// (shard, sequence number[.sub]) of every record a function saw, in order.
using seen_log = std::vector<std::pair<std::string, std::string>>;

function log_records(seen_log& out) {
  return [&out](const kinesis_event& ev) {
    for (const auto& r : ev.records) {
      std::string id = r.kinesis.sequence_number.to_string();
      if (r.kinesis.sub_sequence_number) id += "." + std::to_string(*r.kinesis.sub_sequence_number);
      out.emplace_back(ev.shard_id, std::move(id));
    }
    return function_response{};
  };
}

TEST(LambdaLeaseCheckpoints, AFileStoreResumesExactlyAfterTheLastCheckpointAcrossASplitAndAMerge) {
  const std::uint64_t seed = rill::testing::test_seed(11);
  std::mt19937_64 rng(seed);
  test_engine e;
  stream_builder s(*e, "s", 2);
  std::map<std::string, std::vector<std::string>> put;  // shard → sequence numbers, in order
  const auto put_some = [&] {
    const int n = 40 + static_cast<int>(rng() % 80);
    for (int i = 0; i < n; ++i) {
      auto r = s.put("k" + std::to_string(rng() % 29), std::to_string(rng()));
      put[r.shard_id.to_string()].push_back(r.sequence_number.to_string());
    }
  };
  put_some();
  s.split_in_half(shard_id(0));
  put_some();
  e.advance(3s);
  s.merge(shard_id(2), shard_id(3));
  put_some();
  std::size_t total = 0;
  for (const auto& [sh, seqs] : put) total += seqs.size();
  const std::string dir = temp_dir();
  const auto batch = static_cast<std::int32_t>(1 + rng() % 25);
  seen_log first, second;
  {
    auto store = value_or_throw(kcl::make_file_lease_store(dir, {.sync = false}), "store");
    event_source_mapping esm(*e, *e.clock,
                             {.stream_name = "s", .batch_size = batch, .lease_store = store, .mapping_uuid = "esm-1"},
                             log_records(first));
    while (first.size() < total / 2) ASSERT_OK(esm.poll());
    ASSERT_LT(first.size(), total) << "seed " << seed;
  }            // destroyed: its leases are released, the checkpoints stay
  put_some();  // more records for the open shard while no mapping runs
  total = 0;
  for (const auto& [sh, seqs] : put) total += seqs.size();
  auto store = value_or_throw(kcl::make_file_lease_store(dir, {.sync = false}), "store");
  auto again = std::make_unique<event_source_mapping>(
      *e, *e.clock,
      event_source_mapping_options{
          .stream_name = "s", .batch_size = batch, .lease_store = store, .mapping_uuid = "esm-1"},
      log_records(second));
  ASSERT_OK(again->run_until_caught_up());
  // Exactly once, in order per shard, across both mappings.
  std::map<std::string, std::vector<std::string>> got;
  for (const auto& log : {first, second}) {
    for (const auto& [sh, seq] : log) got[sh].push_back(seq);
  }
  EXPECT_EQ(got, put) << "seed " << seed << ", batch " << batch;
  EXPECT_EQ(first.size() + second.size(), total);
  // The table: closed shards at SHARD_END, the open one at its last record, no owner left after release.
  std::set<std::string> open;
  for (const auto& sh : s.open_shards()) open.insert(sh.shard_id.to_string());
  ASSERT_EQ(open.size(), 2u);
  for (const auto& [sh, seqs] : put) {
    const kcl::lease l = lease_of(*store, "esm-1:" + sh);
    if (open.contains(sh)) {
      EXPECT_EQ(l.checkpoint.sequence_number, seqs.back());
      EXPECT_EQ(again->checkpoints().at(sh), seqs.back());
    } else {
      EXPECT_TRUE(l.checkpoint.is_shard_end()) << sh;
      EXPECT_FALSE(l.lease_owner.has_value()) << sh;
      EXPECT_FALSE(l.child_shard_ids.empty()) << sh;
    }
  }
  again.reset();
  std::filesystem::remove_all(dir);
}

TEST(LambdaLeaseCheckpoints, ResumesInsideAKplAggregate) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  std::vector<kpl::user_record_view> users;
  const std::vector<std::string> data = {"u0", "u1", "u2", "u3", "u4"};
  for (const auto& d : data) users.push_back({.partition_key = "k", .data = d});
  const std::string agg = kpl::aggregate(users);
  const std::string seq = s.put("a", agg).sequence_number.to_string();
  s.put("k", "plain");
  auto store = kcl::make_memory_lease_store();
  const std::string key = std::string("m:") + kShard0;
  std::vector<std::string> got;
  std::vector<kcl::extended_sequence_number> stored;  // the table as each invocation starts
  const auto fn = [&](const kinesis_event& ev) {
    stored.push_back(lease_of(*store, key).checkpoint);
    for (const auto& r : ev.records) got.emplace_back(r.kinesis.data);
    return function_response{};
  };
  const event_source_mapping_options o{
      .stream_name = "s", .batch_size = 2, .deaggregate = true, .lease_store = store, .mapping_uuid = "m"};
  {
    event_source_mapping esm(*e, *e.clock, o, fn);
    ASSERT_OK(esm.run_until_caught_up());
  }
  ASSERT_EQ(got, (std::vector<std::string>{"u0", "u1", "u2", "u3", "u4", "plain"}));
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(stored[1], (kcl::extended_sequence_number{seq, 1}));  // after the batch u0, u1
  EXPECT_EQ(stored[2], (kcl::extended_sequence_number{seq, 3}));  // after u2, u3
  // A crash right after the first batch leaves the table at (seq, 1): put it back there.
  kcl::lease l = lease_of(*store, key);
  ASSERT_FALSE(l.lease_owner.has_value());
  ASSERT_EQ(value_or_throw(store->take_lease(l, "crashed"), "take"), kcl::write_status::applied);
  l.checkpoint = stored[1];
  ASSERT_EQ(value_or_throw(store->update_lease(l, "crashed"), "update"), kcl::write_status::applied);
  got.clear();
  stored.clear();
  // A new instance with the crashed one's identifier takes its lease back at once.
  auto o2 = o;
  o2.worker_identifier = "crashed";
  event_source_mapping again(*e, *e.clock, o2, fn);
  ASSERT_OK(again.run_until_caught_up());
  EXPECT_EQ(got, (std::vector<std::string>{"u2", "u3", "u4", "plain"}));
}

TEST(LambdaLeaseCheckpoints, TheReportBatchItemFailuresCheckpointLandsInTheStore) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  std::vector<std::string> seqs;
  for (int i = 0; i < 6; ++i) seqs.push_back(s.put("k", std::to_string(i)).sequence_number.to_string());
  auto store = kcl::make_memory_lease_store();
  int calls = 0;
  std::optional<kcl::extended_sequence_number> stored_at_retry;
  event_source_mapping esm(*e, *e.clock,
                           {.stream_name = "s",
                            .batch_size = 6,
                            .report_batch_item_failures = true,
                            .lease_store = store,
                            .mapping_uuid = "m"},
                           [&](const kinesis_event&) {
                             if (++calls == 1) return function_response{.batch_item_failures = {seqs[4], seqs[2]}};
                             stored_at_retry = lease_of(*store, std::string("m:") + kShard0).checkpoint;
                             return function_response{};
                           });
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_TRUE(stored_at_retry.has_value());
  EXPECT_EQ(stored_at_retry->sequence_number, seqs[1]);  // just before the lowest failure
  EXPECT_EQ(lease_of(*store, std::string("m:") + kShard0).checkpoint.sequence_number, seqs[5]);
}

/// A lease table whose writes fail while `failing` is set (a disk gone bad).
class flaky_store : public kcl::lease_store {
 public:
  bool failing = false;
  /// Fail only the writes of SHARD_END.
  bool failing_shard_end = false;
  std::shared_ptr<kcl::lease_store> inner = kcl::make_memory_lease_store();

  result<kcl::write_status> create_lease_if_not_exists(const kcl::lease& l) override {
    if (failing) return fault();
    return inner->create_lease_if_not_exists(l);
  }
  result<std::optional<kcl::lease>> get_lease(std::string_view key) override { return inner->get_lease(key); }
  result<std::vector<kcl::lease>> list_leases() override { return inner->list_leases(); }
  result<kcl::write_status> renew_lease(kcl::lease& l) override {
    if (failing) return fault();
    return inner->renew_lease(l);
  }
  result<kcl::write_status> take_lease(kcl::lease& l, std::string_view owner) override {
    if (failing) return fault();
    return inner->take_lease(l, owner);
  }
  result<kcl::write_status> initiate_handoff(kcl::lease& l, std::string_view next) override {
    if (failing) return fault();
    return inner->initiate_handoff(l, next);
  }
  result<kcl::write_status> evict_lease(kcl::lease& l, std::string_view worker) override {
    if (failing) return fault();
    return inner->evict_lease(l, worker);
  }
  result<kcl::write_status> update_lease(kcl::lease& l, std::string_view writer) override {
    if (failing || (failing_shard_end && l.checkpoint.is_shard_end())) return fault();
    return inner->update_lease(l, writer);
  }
  result<void> delete_lease(std::string_view key) override { return inner->delete_lease(key); }

 private:
  static error fault() { return error(error_code::internal_failure, "injected: the disk is gone"); }
};

TEST(LambdaLeaseCheckpoints, AClosedParentIsAtShardEndInTheStoreBeforeItsChildrenStart) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 5; ++i) s.put("k" + std::to_string(i), "parent");
  s.split_in_half(shard_id(0));
  for (int i = 0; i < 20; ++i) s.put("k" + std::to_string(i), "child");
  auto store = std::make_shared<flaky_store>();
  store->failing_shard_end = true;  // at first, SHARD_END cannot be written
  int child_batches = 0;
  // A fixed worker identifier, to check ownership.
  event_source_mapping_options o{
      .stream_name = "s", .batch_size = 3, .lease_store = store, .mapping_uuid = "m", .worker_identifier = "w"};
  event_source_mapping named(*e, *e.clock, o, [&](const kinesis_event& ev) {
    if (ev.shard_id != kShard0) {
      ++child_batches;
      const kcl::lease parent = lease_of(*store, std::string("m:") + kShard0);
      EXPECT_TRUE(parent.checkpoint.is_shard_end()) << parent.checkpoint.to_string();
      EXPECT_FALSE(parent.lease_owner.has_value());  // released when it ended
      const kcl::lease child = lease_of(*store, "m:" + ev.shard_id);
      EXPECT_EQ(child.parent_shard_ids, (std::vector<std::string>{kShard0}));
      EXPECT_EQ(child.lease_owner, std::optional<std::string>("w"));
    }
    return function_response{};
  });
  for (int i = 0; i < 10; ++i) {
    const auto r = named.poll();
    if (!r) EXPECT_EQ(r.error().code(), error_code::internal_failure) << r.error().to_string();
  }
  EXPECT_EQ(child_batches, 0);  // the parent is done, but not at SHARD_END in the table: children wait
  EXPECT_FALSE(lease_of(*store, std::string("m:") + kShard0).checkpoint.is_sentinel());  // its last record
  store->failing_shard_end = false;
  ASSERT_OK(named.run_until_caught_up());
  EXPECT_GE(child_batches, 2);
  EXPECT_EQ(lease_of(*store, std::string("m:") + kShard0).child_shard_ids,
            (std::vector<std::string>{"shardId-000000000001", "shardId-000000000002"}));
}

TEST(LambdaLeaseCheckpoints, MappingsWithDifferentIdentitiesOnOneStoreAreIndependent) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  for (int i = 0; i < 30; ++i) s.put("k" + std::to_string(i), std::to_string(i));
  auto store = kcl::make_memory_lease_store();
  seen_log a, b;
  {
    event_source_mapping ma(
        *e, *e.clock, {.stream_name = "s", .batch_size = 7, .lease_store = store, .mapping_uuid = "a"}, log_records(a));
    event_source_mapping mb(
        *e, *e.clock, {.stream_name = "s", .batch_size = 4, .lease_store = store, .mapping_uuid = "b"}, log_records(b));
    ASSERT_OK(ma.run_until_caught_up());
    ASSERT_OK(mb.run_until_caught_up());  // not blocked by a's leases
    EXPECT_EQ(ma.checkpoints(), mb.checkpoints());
  }
  EXPECT_EQ(a.size(), 30u);
  EXPECT_EQ(b.size(), 30u);
  std::set<std::string> keys;
  for (const auto& l : value_or_throw(store->list_leases(), "list")) keys.insert(l.lease_key);
  EXPECT_EQ(keys, (std::set<std::string>{"a:shardId-000000000000", "a:shardId-000000000001", "b:shardId-000000000000",
                                         "b:shardId-000000000001"}));
  // Each resumes from its own checkpoints: a new "a" sees only what a has not processed.
  s.put("k", "new");
  seen_log a2;
  event_source_mapping ma2(*e, *e.clock, {.stream_name = "s", .lease_store = store, .mapping_uuid = "a"},
                           log_records(a2));
  ASSERT_OK(ma2.run_until_caught_up());
  EXPECT_EQ(a2.size(), 1u);
  // initial_checkpoints only seed shards the table has no checkpoint for: here every shard has one.
  seen_log b2;
  std::map<std::string, std::string> bogus = {{kShard0, "1"}};
  event_source_mapping mb2(
      *e, *e.clock, {.stream_name = "s", .initial_checkpoints = bogus, .lease_store = store, .mapping_uuid = "b"},
      log_records(b2));
  ASSERT_OK(mb2.run_until_caught_up());
  EXPECT_EQ(b2.size(), 1u);
}

TEST(LambdaLeaseCheckpoints, InitialCheckpointsSeedATableWithoutACheckpoint) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  std::vector<std::string> seqs;
  for (int i = 0; i < 5; ++i) seqs.push_back(s.put("k", std::to_string(i)).sequence_number.to_string());
  auto store = kcl::make_memory_lease_store();
  std::vector<std::string> got;
  event_source_mapping esm(
      *e, *e.clock,
      {.stream_name = "s", .initial_checkpoints = {{kShard0, seqs[2]}}, .lease_store = store, .mapping_uuid = "m"},
      [&](const kinesis_event& ev) {
        for (const auto& r : ev.records) got.emplace_back(r.kinesis.data);
        return function_response{};
      });
  ASSERT_OK(esm.run_until_caught_up());
  EXPECT_EQ(got, (std::vector<std::string>{"3", "4"}));
  EXPECT_EQ(lease_of(*store, std::string("m:") + kShard0).checkpoint.sequence_number, seqs[4]);
}

TEST(LambdaLeaseCheckpoints, ASecondLiveInstanceIsRefusedUntilTheLeaseExpiresThenTheFirstStops) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 4; ++i) s.put("k", std::to_string(i));
  auto store = kcl::make_memory_lease_store();
  seen_log one, two;
  event_source_mapping first(*e, *e.clock,
                             {.stream_name = "s", .lease_store = store, .mapping_uuid = "m", .worker_identifier = "w1"},
                             log_records(one));
  ASSERT_OK(first.run_until_caught_up());
  event_source_mapping second(
      *e, *e.clock, {.stream_name = "s", .lease_store = store, .mapping_uuid = "m", .worker_identifier = "w2"},
      log_records(two));
  EXPECT_KINESIS_ERROR(second.poll(), error_code::resource_in_use_exception);
  // While the first renews (every failover_time / 3, inside poll), the second keeps being refused.
  for (int i = 0; i < 6; ++i) {
    e.advance(4s);
    ASSERT_OK(first.poll());
    EXPECT_KINESIS_ERROR(second.poll(), error_code::resource_in_use_exception);
  }
  // The first stops polling: more than 10 s after the second last saw the counter move (the KCL's rule:
  // unchanged for more than failover_time), the lease is expired.
  s.put("k", "4");
  e.advance(10000ms);
  EXPECT_KINESIS_ERROR(second.poll(), error_code::resource_in_use_exception);
  e.advance(1ms);
  ASSERT_OK(second.run_until_caught_up());
  ASSERT_EQ(two.size(), 1u);  // only the record after the first's checkpoint
  EXPECT_EQ(lease_of(*store, std::string("m:") + kShard0).lease_owner, std::optional<std::string>("w2"));
  // The first finds its lease gone and stops for good, writing nothing.
  const auto r = first.poll();
  EXPECT_KINESIS_ERROR(r, error_code::resource_in_use_exception);
  EXPECT_NE(r.error().message().find("w2"), std::string::npos) << r.error().message();
  EXPECT_KINESIS_ERROR(first.poll(), error_code::resource_in_use_exception);
  EXPECT_EQ(one.size(), 4u);
}

TEST(LambdaLeaseCheckpoints, AStoreFaultIsReportedByPollAndNothingIsSkipped) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  std::vector<std::string> seqs;
  for (int i = 0; i < 15; ++i) seqs.push_back(s.put("k", std::to_string(i)).sequence_number.to_string());
  auto store = std::make_shared<flaky_store>();
  std::vector<std::string> got;
  const auto fn = [&](const kinesis_event& ev) {
    for (const auto& r : ev.records) got.emplace_back(r.kinesis.data);
    return function_response{};
  };
  const event_source_mapping_options o{.stream_name = "s", .batch_size = 5, .lease_store = store, .mapping_uuid = "m"};
  {
    event_source_mapping esm(*e, *e.clock, o, fn);
    // Creating the lease fails: nothing is read.
    store->failing = true;
    auto r = esm.poll();
    EXPECT_KINESIS_ERROR(r, error_code::internal_failure);
    EXPECT_TRUE(got.empty());
    store->failing = false;
    ASSERT_OK(esm.poll());  // lease taken, first read of 5: one batch, checkpointed
    ASSERT_EQ(got.size(), 5u);
    EXPECT_EQ(lease_of(*store, std::string("m:") + kShard0).checkpoint.sequence_number, seqs[4]);
    // The checkpoint write after the next batch fails: reported, with the store's error.
    store->failing = true;
    r = esm.poll();
    EXPECT_KINESIS_ERROR(r, error_code::internal_failure);
    EXPECT_NE(r.error().message().find("lease table"), std::string::npos) << r.error().message();
    EXPECT_EQ(got.size(), 10u);  // the batch ran; its checkpoint is not in the table
    EXPECT_EQ(lease_of(*store, std::string("m:") + kShard0).checkpoint.sequence_number, seqs[4]);
    // While the store fails, nothing more is read or invoked.
    EXPECT_KINESIS_ERROR(esm.poll(), error_code::internal_failure);
    EXPECT_KINESIS_ERROR(esm.poll(), error_code::internal_failure);
    EXPECT_EQ(got.size(), 10u);
    // Back: the pending checkpoint is written first, then processing goes on.
    store->failing = false;
    ASSERT_OK(esm.poll());
    EXPECT_EQ(lease_of(*store, std::string("m:") + kShard0).checkpoint.sequence_number, seqs[14]);
    ASSERT_OK(esm.run_until_caught_up());
  }
  std::vector<std::string> want;
  for (int i = 0; i < 15; ++i) want.push_back(std::to_string(i));
  EXPECT_EQ(got, want);
  // A restart resumes after the last record: nothing again, nothing skipped.
  s.put("k", "15");
  event_source_mapping again(*e, *e.clock, o, fn);
  ASSERT_OK(again.run_until_caught_up());
  want.push_back("15");
  EXPECT_EQ(got, want);
}

TEST(LambdaLeaseCheckpoints, ThePendingCheckpointIsWrittenWhenTheMappingIsDestroyed) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 4; ++i) s.put("k", std::to_string(i));
  auto store = std::make_shared<flaky_store>();
  std::vector<std::string> got;
  const auto fn = [&](const kinesis_event& ev) {
    for (const auto& r : ev.records) got.emplace_back(r.kinesis.data);
    return function_response{};
  };
  const event_source_mapping_options o{.stream_name = "s", .batch_size = 4, .lease_store = store, .mapping_uuid = "m"};
  {
    event_source_mapping esm(*e, *e.clock, o, fn);
    ASSERT_OK(esm.poll());  // takes the lease, reads and processes 0..3
    ASSERT_EQ(got.size(), 4u);
    s.put("k", "4");
    store->failing = true;
    EXPECT_KINESIS_ERROR(esm.poll(), error_code::internal_failure);  // "4" processed, its checkpoint not written
    EXPECT_EQ(got.size(), 5u);
    store->failing = false;
  }  // the destructor writes it, then releases the lease
  const kcl::lease l = lease_of(*store, std::string("m:") + kShard0);
  EXPECT_FALSE(l.lease_owner.has_value());
  event_source_mapping again(*e, *e.clock, o, fn);
  ASSERT_OK(again.run_until_caught_up());
  EXPECT_EQ(got, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
}

TEST(LambdaLeaseCheckpoints, AFileSystemFaultIsReportedWithoutLosingAnything) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 6; ++i) s.put("k", std::to_string(i));
  const std::string dir = temp_dir();
  auto store = value_or_throw(kcl::make_file_lease_store(dir, {.sync = false}), "store");
  std::vector<std::string> got;
  const auto fn = [&](const kinesis_event& ev) {
    for (const auto& r : ev.records) got.emplace_back(r.kinesis.data);
    return function_response{};
  };
  const event_source_mapping_options o{.stream_name = "s", .batch_size = 3, .lease_store = store, .mapping_uuid = "m"};
  {
    event_source_mapping esm(*e, *e.clock, o, fn);
    ASSERT_OK(esm.run_until_caught_up());
  }
  // The lease file becomes unreadable: the restarted mapping reports it and reads nothing.
  const auto file = std::filesystem::path(dir) / "m:shardId-000000000000.lease";
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  std::string saved;
  {
    std::ifstream in(file);
    saved.assign(std::istreambuf_iterator<char>(in), {});
    std::ofstream(file, std::ios::trunc) << "{not json";
  }
  s.put("k", "6");
  auto again = std::make_unique<event_source_mapping>(*e, *e.clock, o, fn);
  const auto r = again->poll();
  EXPECT_KINESIS_ERROR(r, error_code::internal_failure);
  EXPECT_NE(r.error().message().find("shardId-000000000000"), std::string::npos) << r.error().message();
  EXPECT_EQ(got.size(), 6u);
  std::ofstream(file, std::ios::trunc) << saved;
  ASSERT_OK(again->run_until_caught_up());
  EXPECT_EQ(got, (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6"}));
  again.reset();
  std::filesystem::remove_all(dir);
}

TEST(LambdaLeaseCheckpoints, FanOutResumesFromTheTableToo) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  std::map<std::string, std::vector<std::string>> put;
  const auto put_n = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto r = s.put("k" + std::to_string(put.size() * 100 + i), std::to_string(i));
      put[r.shard_id.to_string()].push_back(r.sequence_number.to_string());
    }
  };
  put_n(20);
  const auto arn = value_or_throw(e->describe_stream_summary({.stream_name = "s"}), "describe")
                       .stream_description_summary.stream_arn;
  const auto consumer =
      value_or_throw(e->register_stream_consumer({.stream_arn = arn, .consumer_name = "esm"}), "register")
          .consumer.consumer_arn;
  auto store = kcl::make_memory_lease_store();
  const event_source_mapping_options o{
      .stream_name = "s", .batch_size = 4, .consumer_arn = consumer, .lease_store = store, .mapping_uuid = "m"};
  seen_log first, second;
  {
    event_source_mapping esm(*e, *e.clock, o, log_records(first));
    ASSERT_OK(esm.run_until_caught_up());
  }
  ASSERT_EQ(first.size(), 20u);
  put_n(10);
  s.split_in_half(shard_id(0));
  put_n(10);
  e.advance(6s);  // past the 5 s rule for a new subscription of the same consumer and shard
  event_source_mapping again(*e, *e.clock, o, log_records(second));
  ASSERT_OK(again.run_until_caught_up());
  std::map<std::string, std::vector<std::string>> got;
  for (const auto& log : {first, second}) {
    for (const auto& [sh, seq] : log) got[sh].push_back(seq);
  }
  EXPECT_EQ(second.size(), 20u);
  EXPECT_EQ(got, put);
  // The parent's end came from the fan-out event with ChildShards.
  const kcl::lease parent = lease_of(*store, std::string("m:") + kShard0);
  EXPECT_TRUE(parent.checkpoint.is_shard_end());
  EXPECT_EQ(parent.child_shard_ids, (std::vector<std::string>{"shardId-000000000002", "shardId-000000000003"}));
}

TEST(LambdaLeaseCheckpoints, TumblingWindowStateIsNotPersistedARestartStartsTheWindowAfresh) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 3; ++i) s.put("k", std::to_string(i));
  auto store = kcl::make_memory_lease_store();
  const event_source_mapping_options o{
      .stream_name = "s", .tumbling_window = 900s, .lease_store = store, .mapping_uuid = "m"};
  std::vector<window_state> incoming;
  const auto count = [&](const kinesis_event& ev) {
    incoming.push_back(ev.state);
    window_state st = ev.state;
    st["n"] = std::to_string((st.count("n") ? std::stoi(st["n"]) : 0) + static_cast<int>(ev.records.size()));
    return function_response{.state = st};
  };
  {
    event_source_mapping esm(*e, *e.clock, o, count);
    ASSERT_OK(esm.run_until_caught_up());  // the window stays open: its end has not come
  }
  ASSERT_EQ(incoming.size(), 1u);
  s.put("k", "3");
  incoming.clear();
  event_source_mapping again(*e, *e.clock, o, count);
  ASSERT_OK(again.run_until_caught_up());
  ASSERT_EQ(incoming.size(), 1u);
  EXPECT_TRUE(incoming[0].empty());  // the checkpoint resumed, the window's state did not
}

TEST(LambdaLeaseCheckpoints, ALeaseStoreWithoutAUuidIsRefused) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto fn = [](const kinesis_event&) { return function_response{}; };
  EXPECT_KINESIS_ERROR(
      event_source_mapping(*e, *e.clock, {.stream_name = "s", .lease_store = kcl::make_memory_lease_store()}, fn)
          .poll(),
      error_code::invalid_argument_exception);
}

}  // namespace
}  // namespace rill::lambda
