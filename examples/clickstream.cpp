// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// clickstream: rill end to end, in one program.
//
//   1. Create a stream of 4 shards.
//   2. Four writer threads put a million click events with put_records, 500 at a
//      time. The partition key is the user id; a few users are far busier than
//      the rest, so one shard receives more than its share.
//   3. Half way through, while the writers keep writing, split the shard that
//      has received the most records at the middle of its hash range.
//   4. Read every shard with a rill::stream_reader, which follows the lineage
//      (parents before children), and check that each user's events arrived
//      exactly once and in order.
//   5. Print the shards' lineage and the throughput.
//
// Exits 0 when every check passes, 1 otherwise.
//
// With `--data-dir DIR` the streams are durable (kept in DIR): a second run
// finds the first run's stream, counts its records, and starts afresh.
#include <rill/engine.hpp>
#include <rill/reader.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr const char* kStream = "clickstream";
constexpr int kShards = 4;
constexpr int kUsers = 10'000;
constexpr int kWriters = 4;  // writer w owns the users u with u % kWriters == w
constexpr int kBatch = 500;  // the most put_records accepts
constexpr std::int64_t kRecords = 1'000'000;
constexpr std::int64_t kRecordsPerWriter = kRecords / kWriters;
constexpr int kMaxAttempts = 100;
constexpr std::size_t kMaxShards = 16;  // more than enough: shard indexes here stay below 6

/// What the writers share. Each user's events come from one writer only, in
/// order: that is what makes per-user order a promise Kinesis can keep.
struct writers_state {
  rill::engine& engine;
  std::atomic<std::int64_t> written{0};
  std::array<std::atomic<std::int64_t>, kMaxShards> landed{};  // records per shard index, from put results
  std::vector<std::int64_t> events_per_user = std::vector<std::int64_t>(kUsers);  // filled when a writer ends
  std::mutex mu{};                                                                // guards the two below
  std::vector<std::string> problems{};
  std::string split_note{};

  void fail(std::string what) {
    std::lock_guard lock(mu);
    problems.push_back(std::move(what));
  }
};

// Puts every entry of `req`, resending the entries that fail. PutRecords is not
// all or nothing: each entry succeeds (and gets a shard and sequence number) or
// fails on its own, with an error code such as
// ProvisionedThroughputExceededException; failed_record_count says how many
// failed. rill fails entries only when a throughput limit or a fault is
// configured, but a producer must always be ready for it. (A resent entry can
// land after a later entry of the same key that succeeded, as with Kinesis; a
// producer that needs strict per-key order under throttling sends a key's next
// entries only once its earlier ones have succeeded.)
bool put_all(writers_state& s, rill::put_records_request req) {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto put = s.engine.put_records(req);
    if (!put) {  // the whole call failed: nothing was written
      if (put.code() == rill::error_code::provisioned_throughput_exceeded_exception) continue;
      s.fail("put_records: " + put.error().to_string());
      return false;
    }
    std::vector<rill::put_records_request_entry> retry;
    std::array<std::int64_t, kMaxShards> landed{};
    for (std::size_t i = 0; i < put->records.size(); ++i) {
      const rill::put_records_result_entry& r = put->records[i];  // same order as the request
      if (r.ok()) {
        ++landed[r.shard_id.index()];
      } else {
        retry.push_back(req.records[i]);
      }
    }
    for (std::size_t i = 0; i < kMaxShards; ++i) s.landed[i] += landed[i];
    if (retry.empty()) return true;
    req.records = std::move(retry);  // a real producer would also back off before retrying
  }
  s.fail("put_records: entries still failing after " + std::to_string(kMaxAttempts) + " attempts");
  return false;
}

// Splits the shard that most records have landed in, at the middle of its hash
// range. Writers keep writing meanwhile: the split waits for the puts in
// flight, closes the parent, and routes every later put to one of the children.
void split_hottest_shard(writers_state& s, std::int64_t written) {
  std::uint32_t hottest = 0;
  for (std::uint32_t i = 1; i < kMaxShards; ++i) {
    if (s.landed[i] > s.landed[hottest]) hottest = i;
  }
  auto listed = s.engine.list_shards({.stream_name = kStream});
  if (!listed) return s.fail("list_shards: " + listed.error().to_string());
  for (const rill::shard& sh : listed->shards) {
    if (sh.shard_id.index() != hottest) continue;
    const auto lo = sh.hash_key_range.starting_hash_key.value();
    const auto hi = sh.hash_key_range.ending_hash_key.value();
    const rill::hash_key middle(lo + (hi - lo) / 2 + 1);  // the upper child starts here
    auto split = s.engine.split_shard({.stream_name = kStream,
                                       .shard_to_split = sh.shard_id.to_string(),
                                       .new_starting_hash_key = middle.to_string()});
    if (!split) return s.fail("split_shard: " + split.error().to_string());
    std::lock_guard lock(s.mu);
    s.split_note = "after " + std::to_string(written) + " records, split " + sh.shard_id.to_string() +
                   " (the hottest: " + std::to_string(s.landed[hottest]) + " of them) at " + middle.to_string();
  }
}

// One writer: kRecordsPerWriter events for its own users, kBatch at a time.
void run_writer(int w, writers_state& s) {
  std::mt19937_64 rng(w + 1);  // fixed seeds: every run writes the same events
  // The writer's r-th user (user r * kWriters + w) is picked with weight 1 / (r + 1).
  std::vector<double> weights(kUsers / kWriters);
  for (std::size_t r = 0; r < weights.size(); ++r) weights[r] = 1.0 / static_cast<double>(r + 1);
  std::discrete_distribution<int> pick_user(weights.begin(), weights.end());
  std::uniform_int_distribution<int> pick_page(1, 999);
  std::vector<std::int64_t> next_event(weights.size());  // the per-user counter

  // put_records entries are views: the strings they see must outlive the call.
  std::vector<std::string> keys(kBatch), payloads(kBatch);
  for (std::int64_t done = 0; done < kRecordsPerWriter; done += kBatch) {
    rill::put_records_request req{.stream_name = kStream};
    for (int i = 0; i < kBatch; ++i) {
      const int r = pick_user(rng);
      const int user = r * kWriters + w;
      keys[i] = "user-" + std::to_string(user);
      payloads[i] = R"({"user":)" + std::to_string(user) + R"(,"n":)" + std::to_string(next_event[r]++) +
                    R"(,"page":"/item/)" + std::to_string(pick_page(rng)) + R"("})";
      req.records.push_back({.data = payloads[i], .partition_key = keys[i]});
    }
    if (!put_all(s, std::move(req))) return;
    // The one writer whose batch crosses the half-way mark splits the hottest shard.
    const std::int64_t before = s.written.fetch_add(kBatch);
    if (before < kRecords / 2 && before + kBatch >= kRecords / 2) split_hottest_shard(s, before + kBatch);
  }
  for (std::size_t r = 0; r < next_event.size(); ++r) s.events_per_user[r * kWriters + w] = next_event[r];
}

/// Checks records as they are read: per shard, sequence numbers increase; per
/// user, the counters read are 0, 1, 2, ... with no gap and no repeat.
struct verifier {
  std::vector<std::int64_t> next_event = std::vector<std::int64_t>(kUsers);
  std::map<rill::shard_id, rill::sequence_number> last_sequence{};
  std::vector<std::string> problems{};
  std::int64_t records = 0;

  void check(rill::shard_id shard, const rill::owned_record& r) {
    ++records;
    auto [last, first] = last_sequence.try_emplace(shard, r.sequence_number);
    if (!first && !(last->second < r.sequence_number)) problem(shard.to_string() + ": sequence numbers not increasing");
    last->second = r.sequence_number;
    int user = -1;
    std::int64_t n = -1;
    std::from_chars(r.partition_key.data() + 5, r.partition_key.data() + r.partition_key.size(), user);
    const auto at = r.data.find(R"("n":)");
    if (at != std::string::npos) std::from_chars(r.data.data() + at + 4, r.data.data() + r.data.size(), n);
    if (user < 0 || user >= kUsers || n < 0) return problem("unreadable record: " + std::string(r.data));
    if (n != next_event[user]) {
      problem("user-" + std::to_string(user) + ": expected event " + std::to_string(next_event[user]) + ", read " +
              std::to_string(n) + " (in " + shard.to_string() + ")");
    }
    next_event[user] = std::max(next_event[user], n + 1);
  }
  void problem(std::string what) {
    if (problems.size() < 10) problems.push_back(std::move(what));
  }
};

// "[0.500, 0.625)": a shard's hash key range as fractions of the hash space.
std::string short_range(const rill::hash_key_range& r) {
  const long double space = 340282366920938463463374607431768211456.0L;  // 2^128
  std::ostringstream out;
  out << std::fixed << std::setprecision(3) << "[" << static_cast<long double>(r.starting_hash_key.value()) / space
      << ", " << (static_cast<long double>(r.ending_hash_key.value()) + 1) / space << ")";
  return out.str();
}

std::int64_t per_second(std::int64_t n, rill::duration d) { return n * 1000 / std::max<std::int64_t>(d.count(), 1); }

// --data-dir: the records an earlier run left in the stream (-1: no stream), counted with get_records.
std::int64_t count_earlier_run(rill::engine& engine) {
  auto listed = engine.list_shards({.stream_name = kStream});
  if (!listed) return -1;
  std::int64_t n = 0;
  for (const rill::shard& sh : listed->shards) {
    auto it = engine.get_shard_iterator({.stream_name = kStream, .shard_id = sh.shard_id.to_string()});
    std::optional<std::string> next;
    if (it) next = it->shard_iterator;
    while (next) {
      auto r = engine.get_records({.shard_iterator = *next});
      if (!r || r->records.empty()) break;
      n += static_cast<std::int64_t>(r->records.size());
      next = r->next_shard_iterator;
    }
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  rill::engine_options options;  // defaults: the system clock, in-memory storage
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--data-dir") options.data_directory = argv[i + 1];
  }
  auto opened = rill::engine::open(options);
  if (!opened) {
    std::cerr << "open: " << opened.error() << "\n";
    return 1;
  }
  rill::engine& engine = **opened;
  if (const std::int64_t earlier = count_earlier_run(engine); earlier >= 0) {
    std::cout << "found " << earlier << " records from an earlier run in " << options.data_directory
              << "; deleting that stream to start afresh\n\n";
    if (auto deleted = engine.delete_stream({.stream_name = kStream}); !deleted) {
      std::cerr << "delete_stream: " << deleted.error() << "\n";
      return 1;
    }
  }
  if (auto created = engine.create_stream({.stream_name = kStream, .shard_count = kShards}); !created) {
    std::cerr << "create_stream: " << created.error() << "\n";
    return 1;
  }
  std::cout << "rill clickstream: " << kRecords << " click events from " << kUsers << " users into a stream of "
            << kShards << " shards\n  (" << kWriters << " writer threads, put_records batches of " << kBatch << ")\n\n";

  // Write. Only the engine's clock is read, here as everywhere in rill.
  writers_state ws{.engine = engine};
  const rill::timestamp write_start = engine.clock().now();
  {
    std::vector<std::jthread> writers;
    for (int w = 0; w < kWriters; ++w) writers.emplace_back(run_writer, w, std::ref(ws));
  }  // jthreads join here
  const rill::duration write_time = engine.clock().now() - write_start;
  std::cout << "write: " << ws.written.load() << " records in " << write_time.count() << " ms ("
            << per_second(ws.written, write_time) << " records/s)\n       " << ws.split_note << "\n";

  // Read with a stream_reader: it lists the shards, reads each parent to its
  // end before its children, and stops at open shards once they are caught up.
  // Records come as owned_records, free to keep.
  verifier v;
  std::map<rill::shard_id, std::int64_t> records_in;
  const rill::timestamp read_start = engine.clock().now();
  rill::stream_reader reader(engine, {.stream_name = kStream});
  while (!reader.done()) {
    auto batch = reader.next();  // one get_records call: up to 10000 records or 10 MiB
    if (!batch) {
      std::cerr << "read: " << batch.error() << "\n";
      return 1;
    }
    for (const rill::owned_record& r : batch->records) v.check(batch->shard_id, r);
    records_in[batch->shard_id] += static_cast<std::int64_t>(batch->records.size());
  }
  auto listed = engine.list_shards({.stream_name = kStream});
  if (!listed) {
    std::cerr << "list_shards: " << listed.error() << "\n";
    return 1;
  }
  const rill::duration read_time = engine.clock().now() - read_start;
  std::cout << "read:  " << v.records << " records in " << read_time.count() << " ms ("
            << per_second(v.records, read_time) << " records/s), parents before children, checking each record\n\n";

  // The lineage: the split parent is closed; its children list it as parent.
  std::cout << std::left << std::setw(22) << "shard" << std::setw(22) << "parent" << std::setw(22) << "adjacent parent"
            << std::setw(8) << "state" << std::setw(17) << "hash range"
            << "records\n";
  for (const rill::shard& sh : listed->shards) {
    const bool closed = sh.sequence_number_range.ending_sequence_number.has_value();
    std::cout << std::setw(22) << sh.shard_id.to_string() << std::setw(22)
              << (sh.parent_shard_id ? sh.parent_shard_id->to_string() : "-") << std::setw(22)
              << (sh.adjacent_parent_shard_id ? sh.adjacent_parent_shard_id->to_string() : "-") << std::setw(8)
              << (closed ? "closed" : "open") << std::setw(17) << short_range(sh.hash_key_range)
              << records_in[sh.shard_id] << "\n";
    if (records_in[sh.shard_id] != ws.landed[sh.shard_id.index()]) {
      v.problem(sh.shard_id.to_string() + ": read " + std::to_string(records_in[sh.shard_id]) + " records, put " +
                std::to_string(ws.landed[sh.shard_id.index()]));
    }
  }

  // Everything written was read, once, in order for each user.
  if (reader.finished_shards().size() != listed->shards.size()) {
    v.problem("some shards were never reached from their parents");
  }
  if (v.records != kRecords || ws.written != kRecords) {
    v.problem("wrote " + std::to_string(ws.written) + " and read " + std::to_string(v.records) + " of " +
              std::to_string(kRecords) + " records");
  }
  for (int u = 0; u < kUsers; ++u) {
    if (v.next_event[u] != ws.events_per_user[u]) {
      v.problem("user-" + std::to_string(u) + ": wrote " + std::to_string(ws.events_per_user[u]) +
                " events, read up to " + std::to_string(v.next_event[u]));
    }
  }
  v.problems.insert(v.problems.begin(), ws.problems.begin(), ws.problems.end());
  if (!v.problems.empty()) {
    std::cout << "\nFAILED:\n";
    for (const auto& p : v.problems) std::cout << "  " << p << "\n";
    return 1;
  }
  std::cout << "\nOK: every record read exactly once; each user's events in order with no gap; sequence numbers "
               "increasing in every shard\n";
  return 0;
}
