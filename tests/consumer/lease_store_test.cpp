// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The lease table's conditional semantics (DynamoDBLeaseRefresher's), for both
// stores; the file store's format, durability, fault handling and parser.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "consumer/lease_ops.hpp"
#include "rill/lease.hpp"
#include "seed.hpp"
#include "storage/fault_file_system.hpp"

namespace rill::kcl {
namespace {

std::string temp_dir(const std::string& name) {
  // A parameterised test's name has a '/' ("Test/file"): one directory level, so removing it would leave its parent.
  std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace(test.begin(), test.end(), '/', '_');
  auto dir =
      std::filesystem::temp_directory_path() / ("rill_lease_" + name + "_" + std::to_string(::getpid()) + "_" + test);
  std::filesystem::remove_all(dir);
  return dir.string();
}

lease make_lease(const std::string& key) {
  lease l;
  l.lease_key = key;
  l.checkpoint = extended_sequence_number::trim_horizon();
  l.starting_hash_key = "0";
  l.ending_hash_key = "340282366920938463463374607431768211455";
  return l;
}

TEST(ExtendedSequenceNumber, OrdersSentinelsNumbersAndSubSequences) {
  using esn = extended_sequence_number;
  EXPECT_LT(esn::at_timestamp(), esn::trim_horizon());
  EXPECT_LT(esn::trim_horizon(), esn::latest());
  EXPECT_LT(esn::latest(), (esn{"0", 0}));
  EXPECT_LT((esn{"9", 0}), (esn{"10", 0}));  // numeric, not lexicographic
  EXPECT_LT((esn{"49590338271490256608559692538361571095921575989136588898", 0}),
            (esn{"49590338271490256608559692538361571095921575989136588899", 0}));
  EXPECT_LT((esn{"5", 1}), (esn{"5", 2}));
  EXPECT_LT((esn{"5", 99}), (esn{"6", 0}));
  EXPECT_LT((esn{"99999999999999999999999999999999999999999999999999999999", 7}), esn::shard_end());
  EXPECT_TRUE(esn::shard_end().is_sentinel());
  EXPECT_TRUE((esn{"123", 0}).valid());
  EXPECT_FALSE((esn{"0123", 0}).valid());
  EXPECT_FALSE((esn{"12a", 0}).valid());
  EXPECT_FALSE((esn{"12", -1}).valid());
  EXPECT_EQ((esn{"12", 3}).to_string(), "12.3");
}

class LeaseStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      store_ = make_memory_lease_store();
    } else {
      dir_ = temp_dir("conformance");
      auto s = make_file_lease_store(dir_, {.sync = false});
      ASSERT_TRUE(s) << s.error();
      store_ = *s;
    }
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  lease get(const std::string& key) {
    auto r = store_->get_lease(key);
    EXPECT_TRUE(r && *r);
    return r && *r ? **r : lease{};
  }
  std::shared_ptr<lease_store> store_;
  std::string dir_;
};

TEST_P(LeaseStoreTest, CreateIfNotExistsIsConditional) {
  auto l = make_lease("shardId-000000000000");
  EXPECT_EQ(*store_->create_lease_if_not_exists(l), write_status::applied);
  l.checkpoint = extended_sequence_number::latest();
  EXPECT_EQ(*store_->create_lease_if_not_exists(l), write_status::condition_failed);
  EXPECT_EQ(get(l.lease_key).checkpoint, extended_sequence_number::trim_horizon());
  auto missing = store_->get_lease("shardId-000000000009");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_P(LeaseStoreTest, TakeAndRenewAreFencedByTheCounter) {
  auto l = make_lease("s1");
  ASSERT_EQ(*store_->create_lease_if_not_exists(l), write_status::applied);
  lease a = l, b = l;
  ASSERT_EQ(*store_->take_lease(a, "A"), write_status::applied);
  EXPECT_EQ(a.lease_counter, 1);
  EXPECT_EQ(a.lease_owner, "A");
  EXPECT_EQ(a.owner_switches_since_checkpoint, 1);
  // B's view is stale: its take fails and changes nothing.
  EXPECT_EQ(*store_->take_lease(b, "B"), write_status::condition_failed);
  EXPECT_EQ(b.lease_counter, 0);
  a.throughput_kbps = 12.5;
  ASSERT_EQ(*store_->renew_lease(a), write_status::applied);
  EXPECT_EQ(a.lease_counter, 2);
  EXPECT_EQ(get("s1").throughput_kbps, 12.5);
  // B refreshes and steals (non-graceful): A's next renewal fails.
  b = get("s1");
  ASSERT_EQ(*store_->take_lease(b, "B"), write_status::applied);
  EXPECT_EQ(b.owner_switches_since_checkpoint, 2);
  EXPECT_EQ(*store_->renew_lease(a), write_status::condition_failed);
  // A cannot checkpoint: counter and owner both differ.
  a.checkpoint = {"100", 0};
  EXPECT_EQ(*store_->update_lease(a, "A"), write_status::condition_failed);
  lease stale_counter_fresh_owner = get("s1");
  EXPECT_EQ(*store_->update_lease(stale_counter_fresh_owner, "A"), write_status::condition_failed);
  EXPECT_EQ(get("s1").checkpoint, extended_sequence_number::trim_horizon());
  // Taking a lease one already owns does not count an owner switch.
  ASSERT_EQ(*store_->take_lease(b, "B"), write_status::applied);
  EXPECT_EQ(b.owner_switches_since_checkpoint, 2);
}

TEST_P(LeaseStoreTest, RenewRequiresOwnerAndNoHandoff) {
  auto l = make_lease("s1");
  ASSERT_EQ(*store_->create_lease_if_not_exists(l), write_status::applied);
  lease unowned = get("s1");
  EXPECT_EQ(*store_->renew_lease(unowned), write_status::condition_failed);
  lease a = unowned;
  ASSERT_EQ(*store_->take_lease(a, "A"), write_status::applied);
  lease impostor = a;
  impostor.lease_owner = "Z";
  EXPECT_EQ(*store_->renew_lease(impostor), write_status::condition_failed);
}

TEST_P(LeaseStoreTest, CheckpointWritesItsFieldsAndResetsOwnerSwitches) {
  auto l = make_lease("s1");
  ASSERT_EQ(*store_->create_lease_if_not_exists(l), write_status::applied);
  lease a = get("s1");
  ASSERT_EQ(*store_->take_lease(a, "A"), write_status::applied);
  a.pending_checkpoint = extended_sequence_number{"300", 2};
  a.pending_checkpoint_state = std::string("st\0ate\xff", 7);
  ASSERT_EQ(*store_->update_lease(a, "A"), write_status::applied);
  lease stored = get("s1");
  EXPECT_EQ(stored.pending_checkpoint, (extended_sequence_number{"300", 2}));
  EXPECT_EQ(stored.pending_checkpoint_state, std::string("st\0ate\xff", 7));
  a.checkpoint = {"300", 2};
  a.pending_checkpoint.reset();
  a.pending_checkpoint_state.reset();
  a.owner_switches_since_checkpoint = 0;
  a.child_shard_ids = {"s2", "s3"};
  ASSERT_EQ(*store_->update_lease(a, "A"), write_status::applied);
  stored = get("s1");
  EXPECT_EQ(stored, a);
  EXPECT_EQ(stored.checkpoint, (extended_sequence_number{"300", 2}));
  EXPECT_FALSE(stored.pending_checkpoint);
  EXPECT_EQ(stored.owner_switches_since_checkpoint, 0);
  EXPECT_EQ(stored.child_shard_ids, (std::vector<std::string>{"s2", "s3"}));
  EXPECT_EQ(stored.lease_counter, 3);
}

TEST_P(LeaseStoreTest, GracefulHandoffLetsTheOldOwnerCheckpointThenTransfers) {
  auto l = make_lease("s1");
  ASSERT_EQ(*store_->create_lease_if_not_exists(l), write_status::applied);
  lease a = get("s1");
  ASSERT_EQ(*store_->take_lease(a, "A"), write_status::applied);
  lease b = get("s1");
  ASSERT_EQ(*store_->initiate_handoff(b, "B"), write_status::applied);
  EXPECT_EQ(b.lease_owner, "B");
  EXPECT_EQ(b.checkpoint_owner, "A");
  // A second handoff while one is pending is refused.
  lease c = get("s1");
  EXPECT_EQ(*store_->initiate_handoff(c, "C"), write_status::condition_failed);
  // A's renewal fails (counter moved, and checkpointOwner is set); neither can B renew yet.
  EXPECT_EQ(*store_->renew_lease(a), write_status::condition_failed);
  EXPECT_EQ(*store_->renew_lease(b), write_status::condition_failed);
  // A re-reads, checkpoints as checkpoint owner, then completes the handoff.
  a = get("s1");
  a.checkpoint = {"42", 0};
  ASSERT_EQ(*store_->update_lease(a, "A"), write_status::applied);
  ASSERT_EQ(*store_->evict_lease(a, "A"), write_status::applied);
  lease done = get("s1");
  EXPECT_EQ(done.lease_owner, "B");
  EXPECT_FALSE(done.checkpoint_owner);
  EXPECT_EQ(done.checkpoint, (extended_sequence_number{"42", 0}));
  // A stranger cannot evict; B now renews from the fresh item.
  lease x = done;
  EXPECT_EQ(*store_->evict_lease(x, "Z"), write_status::condition_failed);
  ASSERT_EQ(*store_->renew_lease(done), write_status::applied);
}

TEST_P(LeaseStoreTest, ForcedTakeClearsAPendingHandoff) {
  auto l = make_lease("s1");
  ASSERT_EQ(*store_->create_lease_if_not_exists(l), write_status::applied);
  lease a = get("s1");
  ASSERT_EQ(*store_->take_lease(a, "A"), write_status::applied);
  lease b = a;
  ASSERT_EQ(*store_->initiate_handoff(b, "B"), write_status::applied);
  ASSERT_EQ(*store_->take_lease(b, "B"), write_status::applied);
  EXPECT_FALSE(get("s1").checkpoint_owner);
  // The old owner, answering late, can neither checkpoint nor complete.
  lease late = a;
  late.lease_counter = b.lease_counter;
  EXPECT_EQ(*store_->update_lease(late, "A"), write_status::condition_failed);
  EXPECT_EQ(*store_->evict_lease(late, "A"), write_status::condition_failed);
}

TEST_P(LeaseStoreTest, EvictReleasesAndDeleteRemoves) {
  auto l = make_lease("s1");
  ASSERT_EQ(*store_->create_lease_if_not_exists(l), write_status::applied);
  ASSERT_EQ(*store_->create_lease_if_not_exists(make_lease("s0")), write_status::applied);
  lease a = get("s1");
  ASSERT_EQ(*store_->take_lease(a, "A"), write_status::applied);
  ASSERT_EQ(*store_->evict_lease(a, "A"), write_status::applied);
  EXPECT_FALSE(get("s1").lease_owner);
  EXPECT_EQ(get("s1").lease_counter, 2);
  auto all = store_->list_leases();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].lease_key, "s0");
  ASSERT_TRUE(store_->delete_lease("s1"));
  ASSERT_TRUE(store_->delete_lease("s1"));  // absent: not an error
  EXPECT_EQ(store_->list_leases()->size(), 1u);
  lease gone = a;
  EXPECT_EQ(*store_->take_lease(gone, "A"), write_status::condition_failed);
}

INSTANTIATE_TEST_SUITE_P(Stores, LeaseStoreTest, ::testing::Values("memory", "file"),
                         [](const auto& info) { return info.param; });

TEST(FileLeaseStore, WritesTheDynamoDbAttributeNamesAndSurvivesReopen) {
  const auto dir = temp_dir("format");
  {
    auto store = *make_file_lease_store(dir);
    auto l = make_lease("shardId-000000000001");
    l.parent_shard_ids = {"shardId-000000000000"};
    ASSERT_EQ(*store->create_lease_if_not_exists(l), write_status::applied);
    ASSERT_EQ(*store->take_lease(l, "worker-1"), write_status::applied);
    l.checkpoint = {"49590338271490256608559692538361571095921575989136588898", 3};
    ASSERT_EQ(*store->update_lease(l, "worker-1"), write_status::applied);
    ASSERT_EQ(*store->initiate_handoff(l, "worker-2"), write_status::applied);
  }
  std::ifstream in(dir + "/shardId-000000000001.lease");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* name : {"\"leaseKey\"", "\"leaseOwner\"", "\"leaseCounter\"", "\"checkpoint\"",
                           "\"checkpointSubSequenceNumber\"", "\"ownerSwitchesSinceCheckpoint\"", "\"parentShardId\"",
                           "\"startingHashKey\"", "\"endingHashKey\"", "\"checkpointOwner\"", "\"throughputKBps\""})
    EXPECT_NE(text.find(name), std::string::npos) << name << " in " << text;
  auto reopened = *make_file_lease_store(dir);
  auto l = *reopened->get_lease("shardId-000000000001");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->lease_owner, "worker-2");
  EXPECT_EQ(l->checkpoint_owner, "worker-1");
  EXPECT_EQ(l->checkpoint.sub_sequence_number, 3);
  EXPECT_EQ(l->lease_counter, 3);
  std::filesystem::remove_all(dir);
}

TEST(FileLeaseStore, EscapesKeysThatAreNotFileNames) {
  const auto dir = temp_dir("escape");
  auto store = *make_file_lease_store(dir, {.sync = false});
  for (const char* key : {"../evil", "a/b", ".hidden", "123456789012:my-stream:1700000000:shardId-000000000001"}) {
    ASSERT_EQ(*store->create_lease_if_not_exists(make_lease(key)), write_status::applied) << key;
    auto l = *store->get_lease(key);
    ASSERT_TRUE(l) << key;
    EXPECT_EQ(l->lease_key, key);
  }
  EXPECT_EQ(store->list_leases()->size(), 4u);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(dir).parent_path() / "evil.lease"));
  std::filesystem::remove_all(dir);
}

// Writes that fail (rill's fault-injecting file system): the store reports
// InternalFailure and the lease on disk is unchanged.
TEST(FileLeaseStore, AFailedWriteIsAnErrorAndChangesNothing) {
  const auto dir = temp_dir("faults");
  auto fs = std::make_shared<fault_file_system>();
  auto store = *make_file_lease_store(dir, {.sync = false, .file_system = fs});
  lease l = make_lease("s1");
  ASSERT_EQ(*store->create_lease_if_not_exists(l), write_status::applied);
  for (const fs_op op : {fs_op::append, fs_op::rename, fs_op::open}) {
    fs->inject({.op = op, .err = ENOSPC, .times = 0});
    lease attempt = l;
    auto r = store->take_lease(attempt, "A");
    ASSERT_FALSE(r) << static_cast<int>(op);
    EXPECT_EQ(r.error().name(), "InternalFailure");
    EXPECT_EQ(attempt, l);  // the caller's copy is untouched
    fs->clear();
    EXPECT_EQ(**store->get_lease("s1"), l);
  }
  lease attempt = l;
  EXPECT_EQ(*store->take_lease(attempt, "A"), write_status::applied);
  std::filesystem::remove_all(dir);
}

// A power cut (every byte not synced is lost) after synced writes: each lease
// is the last one written, none torn, even with a write cut short mid-way.
TEST(FileLeaseStore, APowerCutLosesNoSyncedWrite) {
  const auto dir = temp_dir("powercut");
  auto fs = std::make_shared<fault_file_system>();
  auto store = *make_file_lease_store(dir, {.sync = true, .file_system = fs});
  std::vector<lease> last;
  for (int i = 0; i < 3; ++i) {
    lease l = make_lease("s" + std::to_string(i));
    ASSERT_EQ(*store->create_lease_if_not_exists(l), write_status::applied);
    ASSERT_EQ(*store->take_lease(l, "A"), write_status::applied);
    last.push_back(l);
  }
  fs->inject({.op = fs_op::append, .err = EIO, .short_write = true, .path_contains = "s1"});
  lease attempt = last[1];
  ASSERT_FALSE(store->take_lease(attempt, "B"));
  ASSERT_TRUE(fs->drop_unsynced());
  auto reopened = *make_file_lease_store(dir, {.sync = true, .file_system = fs});
  auto all = reopened->list_leases();
  ASSERT_TRUE(all) << all.error().to_string();
  EXPECT_EQ(*all, last);
  std::filesystem::remove_all(dir);
}

TEST(FileLeaseStore, ACorruptLeaseFileIsReportedNotGuessed) {
  const auto dir = temp_dir("corrupt");
  auto store = *make_file_lease_store(dir, {.sync = false});
  ASSERT_EQ(*store->create_lease_if_not_exists(make_lease("s1")), write_status::applied);
  { std::ofstream(dir + "/s1.lease") << "{\"leaseKey\": \"s1\", \"leaseCou"; }
  auto r = store->get_lease("s1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name(), "InternalFailure");
  EXPECT_FALSE(store->list_leases());
  std::filesystem::remove_all(dir);
}

// Several processes increment one lease through conditional writes; every
// applied write must be counted exactly once.
TEST(FileLeaseStore, SeveralProcessesSerializeOnTheLock) {
  const auto dir = temp_dir("procs");
  {
    auto store = *make_file_lease_store(dir, {.sync = false});
    ASSERT_EQ(*store->create_lease_if_not_exists(make_lease("s1")), write_status::applied);
  }
  constexpr int processes = 4, applied_each = 40;
  std::vector<pid_t> children;
  for (int p = 0; p < processes; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = *make_file_lease_store(dir, {.sync = false});
      const std::string me = "proc-" + std::to_string(p);
      int applied = 0;
      while (applied < applied_each) {
        auto cur = store->get_lease("s1");
        if (!cur || !*cur) ::_exit(2);
        lease l = **cur;
        auto r = store->take_lease(l, me);
        if (!r) ::_exit(3);
        if (*r == write_status::applied) ++applied;
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  auto store = *make_file_lease_store(dir);
  EXPECT_EQ((*store->get_lease("s1"))->lease_counter, processes * applied_each);
  std::filesystem::remove_all(dir);
}

// The lease-file parser sees bytes another process (or a crash, or a person)
// wrote: seeded mutations of a valid file must parse to a valid lease or to nothing.
TEST(LeaseJson, MutatedFilesNeverCrashTheParser) {
  const auto seed = rill::testing::test_seed(20261130);
  std::mt19937_64 rng(seed);
  lease l = make_lease("shardId-000000000007");
  l.lease_owner = "w";
  l.checkpoint = {"12345", 2};
  l.pending_checkpoint = extended_sequence_number{"12346", 0};
  l.pending_checkpoint_state = "abc";
  l.parent_shard_ids = {"shardId-000000000001", "shardId-000000000002"};
  l.checkpoint_owner = "v";
  const std::string text = detail::to_json(l);
  auto back = detail::from_json(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, l);
  int parsed = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string m = text;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = rng() % (m.size() + 1);
      switch (rng() % 4) {
        case 0:
          if (!m.empty()) m[pos % m.size()] = static_cast<char>(rng());
          break;
        case 1: m.insert(pos, 1, "{}[]\",:0-9ae"[rng() % 12]); break;
        case 2:
          if (!m.empty()) m.erase(pos % m.size(), 1 + rng() % 8);
          break;
        default: m.resize(pos); break;
      }
    }
    if (auto r = detail::from_json(m)) {
      ++parsed;
      EXPECT_TRUE(r->checkpoint.valid());
      EXPECT_FALSE(r->lease_key.empty());
      auto again = detail::from_json(detail::to_json(*r));  // what parses, round-trips
      ASSERT_TRUE(again) << m;
      EXPECT_EQ(*again, *r) << m;
    }
  }
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace rill::kcl

namespace rill::kcl {
namespace {

// rill::file_system::lock_file_waiting, which the directory store locks with:
// shared locks coexist, an exclusive one excludes (probed with the data
// directory's non-blocking exclusive lock_file, which must then fail), and
// releasing lets the next holder in. POSIX and the fault-injecting wrapper.
TEST(FileSystemWaitingLock, SharedLocksCoexistAndExclusiveExcludes) {
  const auto dir = (std::filesystem::temp_directory_path() / ("rill_kcl_lock_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/LOCK";
  for (std::shared_ptr<rill::file_system> fs :
       {rill::posix_file_system(), std::shared_ptr<rill::file_system>(std::make_shared<fault_file_system>())}) {
    {
      auto a = fs->lock_file_waiting(path, /*shared=*/true);
      auto b = fs->lock_file_waiting(path, /*shared=*/true);  // does not wait for a
      ASSERT_TRUE(a && b);
      auto probe = fs->lock_file(path);
      ASSERT_FALSE(probe);
      EXPECT_NE(probe.error().message().find("is locked"), std::string::npos);
    }
    {
      auto x = fs->lock_file_waiting(path, /*shared=*/false);
      ASSERT_TRUE(x);
      EXPECT_FALSE(fs->lock_file(path));
    }
    auto after = fs->lock_file(path);  // every holder released
    EXPECT_TRUE(after);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rill::kcl
