// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Hostile concurrency: writers, readers, resharding, trimming and stream
// churn at once. Run under ThreadSanitizer in CI (label "concurrency"). The
// checks are about what survives: every acknowledged record is stored exactly
// once, in the shard that acknowledged it, in order per partition key.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "builder.hpp"
#include "seed.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

struct ack {
  std::string key;
  int counter;
  shard_id shard;
  sequence_number seq;
};

// Reads every shard of a stream to its current end, parents before children
// (rill::stream_reader): {data -> (shard, seq)}.
std::map<std::string, std::pair<shard_id, sequence_number>> read_everything(rill::engine& e, const std::string& name) {
  std::map<std::string, std::pair<shard_id, sequence_number>> out;
  stream_reader reader(e, {.stream_name = name});
  while (!reader.done()) {
    auto batch = reader.next();
    EXPECT_TRUE(batch.ok()) << batch.error();
    if (!batch) break;
    for (const auto& rec : batch->records) {
      auto [pos, fresh] = out.emplace(rec.data, std::make_pair(batch->shard_id, rec.sequence_number));
      EXPECT_TRUE(fresh) << "record stored twice: " << rec.data;
    }
  }
  return out;
}

TEST(Concurrency, WritersReadersAndReshardingLoseNothing) {
  const std::uint64_t seed = test_seed(7);
  test_engine e;
  stream_builder s(*e, "busy", 4);
  constexpr int kWriters = 4;
  constexpr int kBatches = 40;
  std::vector<std::vector<ack>> acks(kWriters);
  std::atomic<bool> stop{false};

  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::vector<std::string> keys, data;
      std::vector<int> counters(16, 0);
      for (int b = 0; b < kBatches; ++b) {
        put_records_request req{.stream_name = "busy"};
        keys.clear();
        data.clear();
        std::vector<int> used;
        for (int i = 0; i < 50; ++i) {
          const int k = (b * 7 + i) % 16;
          keys.push_back("w" + std::to_string(w) + "-k" + std::to_string(k));
          data.push_back(keys.back() + "#" + std::to_string(counters[k]++));
          used.push_back(counters[k] - 1);
        }
        for (int i = 0; i < 50; ++i) req.records.push_back({.data = data[i], .partition_key = keys[i]});
        auto r = e->put_records(req);
        ASSERT_TRUE(r.ok()) << r.error();
        ASSERT_EQ(r->failed_record_count, 0);
        for (int i = 0; i < 50; ++i) {
          acks[w].push_back({data[i], used[i], r->records[i].shard_id, r->records[i].sequence_number});
        }
      }
    });
  }
  std::thread resharder([&] {
    std::mt19937_64 rng(seed);
    while (!stop.load()) {
      auto open = s.open_shards();
      if (open.size() < 8) {
        s.split_middle(open[rng() % open.size()]);
      } else {
        std::sort(open.begin(), open.end(), [](const shard& a, const shard& b) {
          return a.hash_key_range.starting_hash_key < b.hash_key_range.starting_hash_key;
        });
        const std::size_t i = rng() % (open.size() - 1);
        s.merge(open[i].shard_id, open[i + 1].shard_id);
      }
      std::this_thread::yield();
    }
  });
  std::thread reader([&] {
    while (!stop.load()) {
      auto shards = e->list_shards({.stream_name = "busy"});
      ASSERT_TRUE(shards.ok());
      for (const auto& sh : shards->shards) {
        auto it = e->get_shard_iterator({.stream_name = "busy", .shard_id = sh.shard_id.to_string()});
        ASSERT_TRUE(it.ok()) << it.error();
        auto r = e->get_records({.shard_iterator = it->shard_iterator, .limit = 100});
        ASSERT_TRUE(r.ok()) << r.error();
      }
    }
  });
  for (auto& t : writers) t.join();
  stop = true;
  resharder.join();
  reader.join();

  auto stored = read_everything(*e, "busy");
  std::size_t total = 0;
  for (const auto& per_writer : acks) {
    std::map<std::string, std::pair<shard_id, sequence_number>> last_of_key;
    for (const auto& a : per_writer) {
      ++total;
      auto it = stored.find(a.key);
      ASSERT_NE(it, stored.end()) << "acknowledged record lost: " << a.key;
      EXPECT_EQ(it->second.first, a.shard) << a.key;
      EXPECT_EQ(it->second.second, a.seq) << a.key;
    }
  }
  EXPECT_EQ(stored.size(), total) << "records stored that were never acknowledged";
}

TEST(Concurrency, StreamsComeAndGoWhileOthersAreWritten) {
  test_engine e;
  stream_builder steady(*e, "steady", 2);
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      const std::string n = std::to_string(i);
      auto r = e->put_record({.stream_name = "steady", .data = n, .partition_key = n});
      ASSERT_TRUE(r.ok()) << r.error();
      ++written;
    }
    stop = true;
  });
  std::thread churn([&] {
    int n = 0;
    while (!stop.load()) {
      const std::string name = "tmp-" + std::to_string(n++ % 3);
      (void)e->create_stream({.stream_name = name, .shard_count = 2});
      (void)e->put_record({.stream_name = name, .data = "x", .partition_key = "k"});
      (void)e->list_streams({});
      (void)e->delete_stream({.stream_name = name});
    }
  });
  writer.join();
  churn.join();
  EXPECT_EQ(read_everything(*e, "steady").size(), 2000u);
}

TEST(Concurrency, ManualClockAdvancingUnderReadersAndWriters) {
  test_engine e;
  stream_builder s(*e, "aging", 2);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 3000; ++i) {
      const std::string n = std::to_string(i);
      auto r = e->put_record({.stream_name = "aging", .data = n, .partition_key = n});
      ASSERT_TRUE(r.ok()) << r.error();
    }
    stop = true;
  });
  std::thread reader([&] {
    while (!stop.load()) {
      for (const char* id : {"shardId-000000000000", "shardId-000000000001"}) {
        auto it = e->get_shard_iterator({.stream_name = "aging", .shard_id = id});
        ASSERT_TRUE(it.ok()) << it.error();
        auto r = e->get_records({.shard_iterator = it->shard_iterator});
        // The clock may jump 10 minutes between the two calls: expiry is the right answer then.
        if (r.code() == error_code::expired_iterator_exception) continue;
        ASSERT_TRUE(r.ok()) << r.error();
        for (std::size_t i = 1; i < r->records.size(); ++i) {
          EXPECT_LT(r->records[i - 1].sequence_number, r->records[i].sequence_number);
        }
      }
    }
  });
  while (!stop.load()) e.clock->advance(10min);  // trimming runs in here, beside the threads above
  writer.join();
  reader.join();
}

TEST(Concurrency, SystemClockEngineTrimsInTheBackgroundWhileWriting) {
  engine_options o;
  o.trim_interval = 1ms;  // keep the Asio thread busy
  rill::engine e(o);
  RILL_ASSERT_OK(e.create_stream({.stream_name = "live", .shard_count = 2}));
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 2000; ++i) {
        const std::string key = std::to_string(w * 10000 + i);
        auto r = e.put_record({.stream_name = "live", .data = key, .partition_key = key});
        ASSERT_TRUE(r.ok()) << r.error();
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(read_everything(e, "live").size(), 4000u);
}

}  // namespace
}  // namespace rill::testing
