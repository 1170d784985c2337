// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The seeded failover simulation: a group of KCL workers over a stream that is
// split and merged meanwhile, while workers are killed, paused (they stop
// renewing and come back as zombies), shut down gracefully and restarted, at
// random, on one manual clock. Proven for every seed:
//   1. every record (every KPL user record) is processed at least once;
//   2. within one processor tenure, records arrive in strictly increasing order;
//   3. duplicates come only from a tenure whose predecessor did not hand over
//      gracefully, and only after the checkpoint it started from;
//   4. fencing: no tenure processes a shard after a later tenure of that shard
//      was initialized (no two workers process a shard at the same instant);
//   5. children never before parents: a child is initialized only when every
//      parent's lease stands at SHARD_END, after the parents' last delivery;
//   6. at the end (after a graceful shutdown of the group) every shard has a lease
//      checkpointed at SHARD_END or at its tip.
// Seeds: RILL_SEED (first seed, default 1) and RILL_KCL_SIM_SEEDS (how many, default 6).
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "consumer/kcl_harness.hpp"
#include "rill/kpl.hpp"
#include "seed.hpp"

namespace rill::kcl {
namespace {

using namespace std::chrono_literals;
using testing::journal;
using testing::pausable_clock;
using testing::recording_processor;

constexpr const char* stream = "sim";

struct sim_worker {
  std::string id;
  std::shared_ptr<pausable_clock> clock;
  std::unique_ptr<scheduler> s;
  std::optional<timestamp> paused_until;
};

struct sim_stats {
  int kills = 0, pauses = 0, graceful = 0, restarts = 0, splits = 0, merges = 0, duplicates = 0, records = 0;
};

class failover_sim {
 public:
  explicit failover_sim(std::uint64_t seed, const std::string& lease_dir = {}, int steps = 600, bool fan_out = false)
      : rng_(seed), steps_(steps), fan_out_(fan_out) {
    popts_.checkpoint_every_n_batches = 1 + static_cast<int>(rng_() % 3);
    clock_ = std::make_shared<manual_clock>();
    engine_ = std::make_unique<engine>(engine_options{.clock = clock_});
    if (lease_dir.empty()) {
      store_ = make_memory_lease_store();
    } else {
      auto s = make_file_lease_store(lease_dir, {.sync = false});
      EXPECT_TRUE(s);
      store_ = *s;
    }
  }

  sim_stats run() {
    EXPECT_TRUE(engine_->create_stream({.stream_name = stream, .shard_count = 2}));
    for (int i = 0; i < 3; ++i) workers_.push_back(start("w" + std::to_string(next_worker_++)));
    for (int step = 0; step < steps_; ++step) {  // five minutes (600 steps) of traffic and trouble
      produce();
      chaos();
      clock_->advance(500ms);
    }
    // Calm: every worker back, no traffic, long enough for leases to expire,
    // children to follow parents, and handoffs to finish.
    for (auto& w : workers_) {
      if (w.clock && w.clock->paused()) w.clock->resume();
      w.paused_until.reset();
      if (!w.s) w = start(w.id);
    }
    clock_->advance(5min);
    // An orderly end: every worker shuts down gracefully, checkpointing where it stands.
    for (auto& w : workers_) EXPECT_TRUE(w.s->graceful_shutdown());
    check();
    workers_.clear();
    return stats_;
  }

 private:
  sim_worker start(const std::string& id) {
    sim_worker w;
    w.id = id;
    w.clock = std::make_shared<pausable_clock>(clock_);
    config c;
    c.stream_name = stream;
    c.worker_identifier = id;
    c.kinesis = engine_.get();
    c.lease_store = store_;
    c.clock = w.clock;
    auto pc = w.clock;
    c.shard_record_processor_factory = [this, id, pc] {
      return std::make_unique<recording_processor>(j_, id, pc, store_, popts_);
    };
    c.idle_time_between_reads_in_millis = 500ms;
    c.parent_shard_poll_interval_millis = 2s;
    c.max_leases_to_steal_at_one_time = 2;
    c.random_seed = rng_() | 1;
    // Enhanced fan-out: each worker its own factory (as separate processes);
    // the first registers the consumer, the others find it.
    if (fan_out_) c.retrieval = make_fan_out_retrieval_factory();
    auto s = scheduler::create(std::move(c));
    EXPECT_TRUE(s);
    w.s = std::move(*s);
    w.s->start();
    return w;
  }

  void produce() {
    const int n = static_cast<int>(rng_() % 6);
    for (int i = 0; i < n; ++i) {
      const std::string pk = "user-" + std::to_string(rng_() % 500);
      if (rng_() % 4 == 0) {  // a KPL aggregate of 2..4 user records with one partition key
        const int m = 2 + static_cast<int>(rng_() % 3);
        std::vector<std::string> ids;
        for (int k = 0; k < m; ++k) ids.push_back("r" + std::to_string(next_record_++));
        std::vector<kpl::user_record_view> members;
        for (const auto& id : ids) members.push_back({.partition_key = pk, .data = id});
        const std::string agg = kpl::aggregate(members);
        auto r = engine_->put_record({.stream_name = stream, .data = agg, .partition_key = pk});
        EXPECT_TRUE(r);
        if (r) expected_.insert(ids.begin(), ids.end());
      } else {
        const std::string id = "r" + std::to_string(next_record_++);
        auto r = engine_->put_record({.stream_name = stream, .data = id, .partition_key = pk});
        EXPECT_TRUE(r);
        if (r) expected_.insert(id);
      }
    }
  }

  std::vector<rill::shard> open_shards() {
    std::vector<rill::shard> out;
    auto r = engine_->list_shards({.stream_name = stream});
    if (!r) return out;
    for (auto& s : r->shards)
      if (!s.sequence_number_range.ending_sequence_number) out.push_back(std::move(s));
    std::sort(out.begin(), out.end(), [](const rill::shard& a, const rill::shard& b) {
      return a.hash_key_range.starting_hash_key < b.hash_key_range.starting_hash_key;
    });
    return out;
  }

  void chaos() {
    const auto now = clock_->now();
    for (auto& w : workers_) {
      if (w.paused_until && *w.paused_until <= now) {
        w.clock->resume();
        w.paused_until.reset();
      }
    }
    auto roll = [&](int per_mille) { return static_cast<int>(rng_() % 1000) < per_mille; };
    for (auto& w : workers_) {
      if (w.s && !w.paused_until) {
        if (roll(6)) {  // crash
          w.s.reset();
          ++stats_.kills;
        } else if (roll(6)) {  // stop the world for 5..40 s: a zombie when it comes back
          w.clock->pause();
          w.paused_until = now + std::chrono::milliseconds(5000 + rng_() % 35000);
          ++stats_.pauses;
        } else if (roll(3)) {
          EXPECT_TRUE(w.s->graceful_shutdown());
          w.s.reset();
          ++stats_.graceful;
        }
      } else if (!w.s && roll(30)) {  // restart: usually the same identity, sometimes a new one
        w = start(rng_() % 4 == 0 ? "w" + std::to_string(next_worker_++) : w.id);
        ++stats_.restarts;
      }
    }
    if (roll(8)) {
      auto open = open_shards();
      if (open.size() < 6) {
        const auto& s = open[rng_() % open.size()];
        const auto lo = s.hash_key_range.starting_hash_key.value(), hi = s.hash_key_range.ending_hash_key.value();
        if (hi - lo > 4) {
          const auto mid = hash_key(lo + (hi - lo) / 2);
          if (engine_->split_shard({.stream_name = stream,
                                    .shard_to_split = s.shard_id.to_string(),
                                    .new_starting_hash_key = mid.to_string()}))
            ++stats_.splits;
        }
      }
    } else if (roll(8)) {
      auto open = open_shards();
      if (open.size() >= 2) {
        const std::size_t i = rng_() % (open.size() - 1);
        if (engine_->merge_shards({.stream_name = stream,
                                   .shard_to_merge = open[i].shard_id.to_string(),
                                   .adjacent_shard_to_merge = open[i + 1].shard_id.to_string()}))
          ++stats_.merges;
      }
    }
  }

  void check() {
    // 1. At least once.
    std::map<std::string, int> seen;
    for (const auto& d : j_.deliveries) ++seen[d.data];
    int missing = 0;
    for (const auto& id : expected_)
      if (!seen.count(id)) ++missing;
    EXPECT_EQ(missing, 0) << "records never processed, of " << expected_.size();
    stats_.records = static_cast<int>(expected_.size());

    // 2. Order within a tenure.
    for (const auto& inc : j_.incarnations)
      for (std::size_t i = 1; i < inc.delivered.size(); ++i)
        ASSERT_LT(inc.delivered[i - 1], inc.delivered[i]) << inc.shard << " tenure " << inc.id;

    // 3. Duplicates only after a non-graceful change of hands, only after the checkpoint.
    std::map<std::string, std::vector<const testing::incarnation*>> by_shard;
    for (const auto& inc : j_.incarnations) by_shard[inc.shard].push_back(&inc);
    for (auto& [shard, tenures] : by_shard) {
      std::set<std::string> before;  // ESNs delivered by earlier tenures
      const testing::incarnation* prev = nullptr;
      for (const auto* inc : tenures) {  // in initialization order
        for (const auto& esn : inc->delivered) {
          if (!before.count(esn.to_string())) continue;
          ++stats_.duplicates;
          EXPECT_TRUE(prev && !prev->shutdown_requested)
              << shard << ": duplicate " << esn.to_string() << " after a graceful handoff";
          EXPECT_LT(inc->initial, esn) << shard << ": duplicate at or before the checkpoint it resumed from";
        }
        for (const auto& esn : inc->delivered) before.insert(esn.to_string());
        prev = inc;
      }
    }

    // 4. Fencing.
    for (const auto& d : j_.deliveries) {
      const auto& x = j_.incarnations[static_cast<std::size_t>(d.incarnation)];
      for (const auto* y : by_shard[x.shard]) {
        if (y->id == x.id) continue;
        if (x.initialized_at < y->initialized_at && y->initialized_at <= d.at)
          ADD_FAILURE() << x.shard << ": " << x.worker << " (tenure " << x.id << ") processed at "
                        << d.at.time_since_epoch().count() << " after " << y->worker << " (tenure " << y->id
                        << ") initialized at " << y->initialized_at.time_since_epoch().count();
      }
    }

    // 5. Children after parents.
    std::map<std::string, timestamp> last_delivery;
    for (const auto& d : j_.deliveries) last_delivery[d.shard] = std::max(last_delivery[d.shard], d.at);
    for (const auto& inc : j_.incarnations) {
      for (const auto& cp : inc.parent_checkpoints)
        EXPECT_TRUE(cp.is_shard_end()) << inc.shard << " started before a parent ended";
      auto l = store_->get_lease(inc.shard);
      if (!l || !*l) continue;
      for (const auto& p : (*l)->parent_shard_ids)
        if (last_delivery.count(p)) {
          EXPECT_LE(last_delivery[p], inc.initialized_at) << inc.shard << " vs " << p;
        }
    }

    // 6. Every shard checkpointed at SHARD_END or its tip.
    for (const auto& [shard, tip] : testing::tips(*engine_, stream)) {
      auto l = store_->get_lease(shard);
      ASSERT_TRUE(l && *l) << "no lease for " << shard;
      EXPECT_EQ((*l)->checkpoint, tip) << shard;
    }
  }

  std::mt19937_64 rng_;
  int steps_ = 600;
  bool fan_out_ = false;
  std::shared_ptr<manual_clock> clock_;
  std::unique_ptr<engine> engine_;
  std::shared_ptr<lease_store> store_;
  journal j_;
  std::vector<sim_worker> workers_;
  std::set<std::string> expected_;
  int next_worker_ = 0;
  int next_record_ = 0;
  sim_stats stats_;
  testing::processor_options popts_{};
};

TEST(KclFailoverSimulation, EverySeedKeepsTheGuarantees) {
  const std::uint64_t first = rill::testing::test_seed(1);
  int seeds = 6;
  if (const char* env = std::getenv("RILL_KCL_SIM_SEEDS"); env && *env) seeds = std::max(1, std::atoi(env));
  sim_stats total;
  for (int i = 0; i < seeds; ++i) {
    const std::uint64_t seed = first + static_cast<std::uint64_t>(i);
    SCOPED_TRACE("simulation seed " + std::to_string(seed) + " (replay: RILL_SEED=" + std::to_string(seed) +
                 " RILL_KCL_SIM_SEEDS=1)");
    auto s = failover_sim(seed).run();
    std::printf(
        "[ SIM      ] seed %llu: %d records, %d kills, %d pauses, %d graceful, %d restarts, %d splits, "
        "%d merges, %d duplicates\n",
        static_cast<unsigned long long>(seed), s.records, s.kills, s.pauses, s.graceful, s.restarts, s.splits, s.merges,
        s.duplicates);
    total.kills += s.kills;
    total.pauses += s.pauses;
    total.splits += s.splits;
    total.merges += s.merges;
    total.graceful += s.graceful;
    if (::testing::Test::HasFailure()) break;
  }
  // The suite's seeds must actually exercise every kind of trouble.
  if (seeds >= 6) {
    EXPECT_GT(total.kills, 0);
    EXPECT_GT(total.pauses, 0);
    EXPECT_GT(total.splits, 0);
    EXPECT_GT(total.merges, 0);
    EXPECT_GT(total.graceful, 0);
  }
}

// One seed with the directory lease store: the same guarantees through files.
TEST(KclFailoverSimulation, OnTheDirectoryLeaseStore) {
  const std::uint64_t seed = rill::testing::test_seed(101);
  const auto dir = (std::filesystem::temp_directory_path() / ("rill_kcl_sim_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  SCOPED_TRACE("simulation seed " + std::to_string(seed));
  auto s = failover_sim(seed, dir, 300).run();
  std::printf(
      "[ SIM      ] seed %llu (directory store): %d records, %d kills, %d pauses, %d splits, %d merges, %d "
      "duplicates\n",
      static_cast<unsigned long long>(seed), s.records, s.kills, s.pauses, s.splits, s.merges, s.duplicates);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rill::kcl

namespace rill::kcl {
namespace {

// The same simulation with enhanced fan-out retrieval: subscriptions taken over
// by the next owner (ResourceInUseException), ended by their 5-minute life or
// the end of a shard, resumed from continuation sequence numbers. Seeds:
// RILL_SEED (first, default 205) and RILL_KCL_FANOUT_SIM_SEEDS (default 3; the
// defaults include seeds with non-graceful failovers that duplicate records).
TEST(KclFailoverSimulation, WithEnhancedFanOut) {
  const std::uint64_t first = rill::testing::test_seed(205);
  int seeds = 3;
  if (const char* env = std::getenv("RILL_KCL_FANOUT_SIM_SEEDS"); env && *env) seeds = std::max(1, std::atoi(env));
  for (int i = 0; i < seeds; ++i) {
    const std::uint64_t seed = first + static_cast<std::uint64_t>(i);
    SCOPED_TRACE("fan-out simulation seed " + std::to_string(seed) + " (replay: RILL_SEED=" + std::to_string(seed) +
                 " RILL_KCL_FANOUT_SIM_SEEDS=1)");
    auto s = failover_sim(seed, {}, 600, /*fan_out=*/true).run();
    std::printf(
        "[ SIM      ] seed %llu (fan-out): %d records, %d kills, %d pauses, %d graceful, %d restarts, %d splits, "
        "%d merges, %d duplicates\n",
        static_cast<unsigned long long>(seed), s.records, s.kills, s.pauses, s.graceful, s.restarts, s.splits, s.merges,
        s.duplicates);
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace rill::kcl
