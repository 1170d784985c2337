// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The crash loop: a child process (crash_child.cpp) appends with every_batch
// from several threads and is killed with SIGKILL at a random point; after
// each kill this test reopens the storage and proves that
//   * every acknowledged record is present, at its offset, byte-exact;
//   * every record read is one the child wrote (no corrupt record), once;
//   * offsets are contiguous and keep increasing across restarts.
// RILL_CRASH_LOOPS sets the number of kills (default: a CI-sized count);
// RILL_SEED replays a run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>

#include "crash_records.hpp"
#include "log_helpers.hpp"
#include "rill/engine.hpp"
#include "seed.hpp"
#include "temp_dir.hpp"

namespace rill {
namespace {

struct ack {
  int shard = 0;
  std::uint64_t first = 0;
  int count = 0;
  int iteration = 0;
  int thread = 0;
  std::uint64_t counter = 0;
};

// Starts the child; returns its pid and the read end of its stdout.
std::pair<pid_t, FILE*> spawn(const std::string& dir, int iteration, int threads, int shards,
                              const char* mode = "log") {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    const std::string it = std::to_string(iteration), th = std::to_string(threads), sh = std::to_string(shards);
    ::execl(RILL_CRASH_CHILD, RILL_CRASH_CHILD, dir.c_str(), it.c_str(), th.c_str(), sh.c_str(), mode,
            static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(fds[1]);
  return {pid, ::fdopen(fds[0], "r")};
}

// Kills per data folder (a long run starts a new folder after this many).
constexpr int kKillsPerFolder = 25;

TEST(CrashLoop, AcknowledgedRecordsSurviveSigkill) {
  const auto seed = testing::test_seed(2026);
  std::mt19937_64 rng(seed);
  int loops = 6;  // CI-sized; RILL_CRASH_LOOPS=1000 for the long run
  if (const char* env = std::getenv("RILL_CRASH_LOOPS"); env && *env) loops = std::atoi(env);
  const int threads = 4, shards = 2;
  std::unique_ptr<testing::temp_dir> dir;
  std::vector<ack> acks;
  std::uint64_t total_acked = 0, total_found = 0;
  std::vector<std::uint64_t> last_end(shards, 0);
  for (int iteration = 0; iteration < loops; ++iteration) {
    if (iteration % kKillsPerFolder == 0) {  // a fresh folder now and then keeps each check's cost bounded
      for (const auto& a : acks) total_acked += static_cast<std::uint64_t>(a.count);
      acks.clear();
      dir.reset();
      dir = std::make_unique<testing::temp_dir>();
      std::fill(last_end.begin(), last_end.end(), 0);
    }
    auto [pid, out] = spawn(dir->path(), iteration, threads, shards);
    // Let it acknowledge a random number of batches, then kill it mid-flight.
    const int kill_after = 1 + static_cast<int>(rng() % 150);
    int seen = 0;
    char line[256];
    while (seen < kill_after && std::fgets(line, sizeof line, out)) {
      ack a;
      unsigned long long first = 0, counter = 0;
      if (std::sscanf(line, "%d %llu %d %d %d %llu", &a.shard, &first, &a.count, &a.iteration, &a.thread, &counter) ==
          6) {
        a.first = first;
        a.counter = counter;
        acks.push_back(a);
        ++seen;
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Lines written before the kill are acknowledgements too.
    while (std::fgets(line, sizeof line, out)) {
      ack a;
      unsigned long long first = 0, counter = 0;
      if (std::sscanf(line, "%d %llu %d %d %d %llu", &a.shard, &first, &a.count, &a.iteration, &a.thread, &counter) ==
          6) {
        a.first = first;
        a.counter = counter;
        acks.push_back(a);
      }
    }
    std::fclose(out);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child ended on its own (status " << status << "): it failed; iteration " << iteration;

    auto store = open_file_storage({.directory = dir->path()});
    ASSERT_TRUE(store.ok()) << store.error();
    for (int s = 0; s < shards; ++s) {
      auto log = (*store)->open_log(testing::crash_key(s));
      ASSERT_TRUE(log.ok()) << "iteration " << iteration << ": " << log.error();
      log_read_stats st;
      const auto records = testing::read_all(**log, 0, 1 << 30, std::size_t{1} << 40, &st);
      ASSERT_FALSE(st.failure.has_value()) << *st.failure;
      ASSERT_GE((*log)->end_offset(), last_end[s])
          << "offsets went back: shard " << s << ", iteration " << iteration << ", " << dir->path();
      last_end[s] = (*log)->end_offset();
      std::set<std::string> keys;
      std::map<std::uint64_t, const testing::stored*> by_offset;
      timestamp last{};
      for (std::size_t i = 0; i < records.size(); ++i) {
        const auto& r = records[i];
        ASSERT_EQ(r.offset, i) << "offsets are contiguous";
        ASSERT_GE(r.arrival, last);
        last = r.arrival;
        ASSERT_TRUE(keys.insert(r.key).second) << "record " << r.key << " appears twice";
        int it = 0, th = 0, j = 0;
        unsigned long long c = 0;
        ASSERT_EQ(std::sscanf(r.key.c_str(), "i%d-t%d-c%llu-%d", &it, &th, &c, &j), 4) << "corrupt key " << r.key;
        ASSERT_EQ(r.data, testing::crash_data(it, th, c, j)) << "corrupt data of " << r.key;
        by_offset[r.offset] = &r;
      }
      for (const auto& a : acks) {
        if (a.shard != s) continue;
        for (int j = 0; j < a.count; ++j) {
          auto it = by_offset.find(a.first + static_cast<std::uint64_t>(j));
          ASSERT_NE(it, by_offset.end()) << "acknowledged record lost: iteration " << a.iteration << " shard " << s
                                         << " offset " << a.first + j;
          ASSERT_EQ(it->second->key, testing::crash_key_of(a.iteration, a.thread, a.counter, j));
        }
      }
      total_found += records.size();
    }
  }
  for (const auto& a : acks) total_acked += static_cast<std::uint64_t>(a.count);
  std::printf("[ INFO     ] %d kills, %llu records acknowledged, all present; %llu records found in the last check\n",
              loops, static_cast<unsigned long long>(total_acked),
              static_cast<unsigned long long>(last_end[0] + last_end[1]));
  (void)total_found;
}

int crash_loops(int ci_default) {
  if (const char* env = std::getenv("RILL_CRASH_LOOPS"); env && *env) return std::atoi(env);
  return ci_default;
}

// The same through the engine: put_records under every_batch from 4 threads,
// SIGKILL, reopen the data directory, read every shard with get_records.
TEST(CrashLoop, EngineAcknowledgedPutsSurviveSigkill) {
  const auto seed = testing::test_seed(4242);
  std::mt19937_64 rng(seed);
  const int loops = crash_loops(5), threads = 4, shards = 3;
  std::unique_ptr<testing::temp_dir> dir;
  struct acked {
    std::uint32_t shard = 0;
    std::string seq;
  };
  std::map<std::string, acked> acks;              // by record key
  std::map<std::uint32_t, sequence_number> high;  // highest sequence number seen per shard
  std::size_t records_last = 0;
  std::size_t total_acked = 0;
  for (int iteration = 0; iteration < loops; ++iteration) {
    if (iteration % kKillsPerFolder == 0) {
      total_acked += acks.size();
      acks.clear();
      high.clear();
      dir.reset();
      dir = std::make_unique<testing::temp_dir>();
    }
    auto [pid, out] = spawn(dir->path(), iteration, threads, shards, "engine");
    const int kill_after = 1 + static_cast<int>(rng() % 800);
    int seen = 0;
    char line[256];
    auto take = [&](const char* l) {
      int it = 0, th = 0, j = 0;
      unsigned long long c = 0;
      unsigned sh = 0;
      char seq[80];
      if (std::sscanf(l, "E %d %d %llu %d %u %79s", &it, &th, &c, &j, &sh, seq) == 6) {
        acks[testing::crash_key_of(it, th, c, j)] = {sh, seq};
        return true;
      }
      return false;
    };
    while (seen < kill_after && std::fgets(line, sizeof line, out)) seen += take(line) ? 1 : 0;
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    while (std::fgets(line, sizeof line, out)) take(line);
    std::fclose(out);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child ended on its own (status " << status << "); iteration " << iteration;

    engine_options o;
    o.data_directory = dir->path();
    auto e = engine::open(o);
    ASSERT_TRUE(e.ok()) << "iteration " << iteration << ": " << e.error();
    auto listed = (*e)->list_shards({.stream_name = "crash"});
    ASSERT_TRUE(listed.ok()) << listed.error();
    std::map<std::string, std::pair<std::uint32_t, std::string>> found;  // key -> shard, seq
    std::size_t total = 0;
    for (const auto& s : listed->shards) {
      auto it = (*e)->get_shard_iterator({.stream_name = "crash", .shard_id = s.shard_id.to_string()});
      ASSERT_TRUE(it.ok()) << it.error();
      std::optional<std::string> next = it->shard_iterator;
      std::optional<sequence_number> last;
      while (next) {
        auto r = (*e)->get_records({.shard_iterator = *next});
        ASSERT_TRUE(r.ok()) << "iteration " << iteration << ": " << r.error();
        for (const auto& rec : r->records) {
          const std::string key(rec.partition_key);
          int it2 = 0, th = 0, j = 0;
          unsigned long long c = 0;
          ASSERT_EQ(std::sscanf(key.c_str(), "i%d-t%d-c%llu-%d", &it2, &th, &c, &j), 4) << "corrupt key " << key;
          ASSERT_EQ(rec.data, testing::crash_data(it2, th, c, j)) << "corrupt data of " << key;
          if (last) ASSERT_GT(rec.sequence_number, *last) << "sequence numbers go back in " << s.shard_id;
          last = rec.sequence_number;
          ASSERT_TRUE(found.emplace(key, std::make_pair(s.shard_id.index(), rec.sequence_number.to_string())).second)
              << key << " appears twice";
          ++total;
        }
        if (r->records.empty()) break;
        next = r->next_shard_iterator;
      }
      if (last) {
        auto [h, inserted] = high.emplace(s.shard_id.index(), *last);
        if (!inserted) {
          ASSERT_GE(*last, h->second) << "the newest record of " << s.shard_id << " went back after a restart";
          h->second = *last;
        }
      }
    }
    for (const auto& [key, a] : acks) {
      auto f = found.find(key);
      ASSERT_NE(f, found.end()) << "acknowledged record " << key << " lost (iteration " << iteration << ", shard "
                                << a.shard << " " << a.seq << "); " << found.size() << " records found";
      EXPECT_EQ(f->second.first, a.shard);
      EXPECT_EQ(f->second.second, a.seq) << key;
    }
    records_last = total;
  }
  total_acked += acks.size();
  std::printf("[ INFO     ] engine: %d kills, %zu records acknowledged, all present byte-exact; %zu stored\n", loops,
              total_acked, records_last);
}

// A change accepted with a delay (UpdateShardCount, the stream UPDATING) when
// the child is killed: after the restart it completes on the clock, never
// lost half-way, and the records acknowledged meanwhile are all there.
TEST(CrashLoop, PendingReshardSurvivesSigkill) {
  const auto seed = testing::test_seed(777);
  std::mt19937_64 rng(seed);
  const int loops = crash_loops(4), threads = 2, shards = 2;
  std::unique_ptr<testing::temp_dir> dir;
  std::set<std::string> acked;
  int pending_seen = 0, completed_after_restart = 0;
  for (int iteration = 0; iteration < loops; ++iteration) {
    if (iteration % kKillsPerFolder == 0) {
      acked.clear();
      dir.reset();
      dir = std::make_unique<testing::temp_dir>();
    }
    auto [pid, out] = spawn(dir->path(), iteration, threads, shards, "reshard");
    const int kill_after = 1 + static_cast<int>(rng() % 300);
    int seen = 0, target = 0;
    char line[256];
    auto take = [&](const char* l) {
      int it = 0, th = 0, j = 0;
      unsigned long long c = 0;
      unsigned sh = 0;
      char seq[80];
      if (std::sscanf(l, "U %d", &target) == 1) return false;
      if (std::sscanf(l, "E %d %d %llu %d %u %79s", &it, &th, &c, &j, &sh, seq) == 6) {
        acked.insert(testing::crash_key_of(it, th, c, j));
        return true;
      }
      return false;
    };
    while (seen < kill_after && std::fgets(line, sizeof line, out)) seen += take(line) ? 1 : 0;
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    while (std::fgets(line, sizeof line, out)) take(line);
    std::fclose(out);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child ended on its own (status " << status << "); iteration " << iteration;

    // Reopen on a manual clock that starts now, with the same delay.
    auto clock = std::make_shared<manual_clock>(system_clock().now());
    engine_options o;
    o.data_directory = dir->path();
    o.clock = clock;
    o.update_stream_delay = std::chrono::seconds(2);
    auto e = engine::open(o);
    ASSERT_TRUE(e.ok()) << "iteration " << iteration << ": " << e.error();
    auto before = (*e)->describe_stream_summary({.stream_name = "crash"});
    ASSERT_TRUE(before.ok()) << before.error();
    if (before->stream_description_summary.stream_status == stream_status::updating) ++pending_seen;
    clock->advance(std::chrono::seconds(3));
    auto after = (*e)->describe_stream_summary({.stream_name = "crash"});
    ASSERT_TRUE(after.ok()) << after.error();
    ASSERT_EQ(after->stream_description_summary.stream_status, stream_status::active) << "iteration " << iteration;
    const int open = after->stream_description_summary.open_shard_count;
    if (target != 0) {
      ASSERT_EQ(open, target) << "an acknowledged UpdateShardCount was lost; iteration " << iteration;
      if (before->stream_description_summary.stream_status == stream_status::updating) ++completed_after_restart;
    } else {
      ASSERT_TRUE(open == shards || open == 2 * shards) << open;
    }
    // Every acknowledged record, in whichever shard (open or closed) holds it.
    std::set<std::string> found;
    auto listed = (*e)->list_shards({.stream_name = "crash"});
    ASSERT_TRUE(listed.ok()) << listed.error();
    for (const auto& s : listed->shards) {
      auto it = (*e)->get_shard_iterator({.stream_name = "crash", .shard_id = s.shard_id.to_string()});
      ASSERT_TRUE(it.ok()) << it.error();
      std::optional<std::string> next = it->shard_iterator;
      while (next) {
        auto r = (*e)->get_records({.shard_iterator = *next});
        ASSERT_TRUE(r.ok()) << r.error();
        for (const auto& rec : r->records) {
          const std::string key(rec.partition_key);
          int it2 = 0, th = 0, j = 0;
          unsigned long long c = 0;
          ASSERT_EQ(std::sscanf(key.c_str(), "i%d-t%d-c%llu-%d", &it2, &th, &c, &j), 4) << "corrupt key " << key;
          ASSERT_EQ(rec.data, testing::crash_data(it2, th, c, j)) << "corrupt data of " << key;
          ASSERT_TRUE(found.insert(key).second) << key << " appears twice";
        }
        if (r->records.empty()) break;
        next = r->next_shard_iterator;
      }
    }
    for (const auto& k : acked) ASSERT_TRUE(found.contains(k)) << "acknowledged record " << k << " lost";
  }
  std::printf(
      "[ INFO     ] reshard: %d kills, %d restarts found a pending UpdateShardCount, %d of them acknowledged "
      "and completed after the restart\n",
      loops, pending_seen, completed_after_restart);
}

}  // namespace
}  // namespace rill
