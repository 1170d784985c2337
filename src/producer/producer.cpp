// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The KPL-style producer (rill/producer.hpp). One pipeline per stream, as in
// the KPL (docs/producer.md has the picture):
//
//   add_user_record -> shard prediction -> aggregator (per predicted shard)
//     -> limiter (per predicted shard token bucket) -> collector (per stream)
//     -> PutRecords on a sender (≤ MaxConnections in flight) -> result handling
//        success: finish; failure: backoff, then back into the aggregator
//        (or "Expired" past RecordTtl, or failed at once with FailIfThrottled)
//
// All state lives under one mutex. Timers (deadlines, token refills, backoff,
// shard-map refresh retries) run on one control scheduler; PutRecords calls run
// as tasks on sender schedulers, outside the lock. Aggregates are serialized on
// the sender, outside the lock. Callbacks and futures complete outside the lock.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <unordered_map>

#include "rill/kpl.hpp"
#include "rill/logging.hpp"
#include "rill/producer.hpp"

namespace rill {
namespace {

constexpr std::string_view ns_default = "KinesisProducerLibrary";
constexpr timestamp never = timestamp::max();
constexpr std::size_t shard_bytes_flush = 256 * 1024;  // KPL collector: per-shard bytes that force a send
constexpr double bucket_records_per_s = 1000;          // Kinesis per-shard write limits
constexpr double bucket_bytes_per_s = 1024 * 1024;
constexpr double bucket_bytes_capacity = 10 * 1024 * 1024;  // KPL kBytesPerRecordLimit-based capacity

// --- completions -------------------------------------------------------------

struct completion {
  virtual ~completion() = default;
  virtual void complete(user_record_result&& r) = 0;
};

struct promise_completion final : completion {
  std::promise<user_record_result> promise;
  void complete(user_record_result&& r) override { promise.set_value(std::move(r)); }
};

struct callback_completion final : completion {
  user_record_callback callback;
  explicit callback_completion(user_record_callback cb) : callback(std::move(cb)) {}
  void complete(user_record_result&& r) override {
    if (callback) callback(r);
  }
};

// --- a user record: one allocation, header then pk | ehk | data ---------------

struct user_rec {
  hash_key key;  // first: it is 16-byte aligned, so the header packs into 64 bytes
  user_rec* next = nullptr;
  std::unique_ptr<completion> done;
  std::unique_ptr<std::vector<attempt>> attempts;  // only once an attempt failed
  timestamp arrival;
  timestamp deadline;
  std::uint32_t data_len = 0;
  std::uint16_t pk_len = 0;
  std::uint8_t ehk_len = 0;
  bool has_ehk = false;

  char* bytes() noexcept { return reinterpret_cast<char*>(this + 1); }
  const char* bytes() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  std::string_view pk() const noexcept { return {bytes(), pk_len}; }
  std::optional<std::string_view> ehk() const noexcept {
    if (!has_ehk) return std::nullopt;
    return std::string_view(bytes() + pk_len, ehk_len);
  }
  std::string_view data() const noexcept { return {bytes() + pk_len + ehk_len, data_len}; }

  static user_rec* make(std::string_view pk, std::optional<std::string_view> ehk, std::string_view data) {
    std::size_t n = sizeof(user_rec) + pk.size() + (ehk ? ehk->size() : 0) + data.size();
    void* mem = ::operator new(n);
    auto* r = new (mem) user_rec();
    r->pk_len = static_cast<std::uint16_t>(pk.size());
    r->has_ehk = ehk.has_value();
    r->ehk_len = static_cast<std::uint8_t>(ehk ? ehk->size() : 0);
    r->data_len = static_cast<std::uint32_t>(data.size());
    char* p = r->bytes();
    if (!pk.empty()) std::memcpy(p, pk.data(), pk.size());
    if (ehk && !ehk->empty()) std::memcpy(p + pk.size(), ehk->data(), ehk->size());
    if (!data.empty()) std::memcpy(p + pk.size() + r->ehk_len, data.data(), data.size());
    return r;
  }
  static void destroy(user_rec* r) noexcept {
    r->~user_rec();
    ::operator delete(r);
  }
};
static_assert(alignof(user_rec) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
static_assert(sizeof(user_rec) == 64);

// Upper bound of what a user record adds to an aggregate whose record count is `count`.
std::size_t aggregate_cost(const user_rec& r, std::size_t count) {
  using kpl::varint_size;
  std::size_t idx = varint_size(count);
  std::size_t rec = 1 + idx + 1 + varint_size(r.data_len) + r.data_len;
  std::size_t n = 1 + varint_size(r.pk_len) + r.pk_len;
  if (r.has_ehk) {
    rec += 1 + idx;
    n += 1 + varint_size(r.ehk_len) + r.ehk_len;
  }
  return n + 1 + varint_size(rec) + rec;
}

// --- a Kinesis record: one user record alone, or an aggregate -----------------

struct kin_rec {
  std::vector<user_rec*> members;
  std::optional<std::uint32_t> predicted;
  timestamp deadline = never;
  timestamp expiration = never;
  std::size_t estimated_size = 0;  // data + partition key, an upper bound until serialized
  // Filled on the sender, outside the lock.
  std::string bytes;
  std::string ehk;

  bool aggregated() const noexcept { return members.size() > 1; }
  std::string_view data() const noexcept { return aggregated() ? std::string_view(bytes) : members[0]->data(); }
  std::string_view pk() const noexcept { return aggregated() ? kpl::aggregate_partition_key : members[0]->pk(); }
};
using kin_ptr = std::unique_ptr<kin_rec>;

struct shard_info {
  hash_key start;
  hash_key end;
  std::uint32_t index = 0;
  bool open = true;
};

struct aggregator {
  user_rec* head = nullptr;
  user_rec* tail = nullptr;
  std::size_t count = 0;
  std::size_t body = 0;  // upper bound of the protobuf bytes
  timestamp deadline = never;
};

struct limiter {
  double records = bucket_records_per_s;
  double bytes = bucket_bytes_capacity;
  timestamp last{};
  bool started = false;
  std::deque<kin_ptr> queue;
};

enum class map_state : std::uint8_t { invalid, ready };

struct stream_state {
  std::string name;
  map_state state = map_state::invalid;
  std::vector<shard_info> open_by_end;                  // sorted by end
  std::unordered_map<std::uint32_t, shard_info> known;  // open and closed
  std::uint32_t refresh_failures = 0;
  bool refresh_scheduled = false;
  std::unordered_map<std::uint32_t, aggregator> aggregators;
  std::unordered_map<std::uint32_t, limiter> limiters;
  std::vector<kin_ptr> collected;
  std::size_t collected_bytes = 0;
  std::unordered_map<std::uint32_t, std::size_t> collected_shard_bytes;
  timestamp collected_deadline = never;
  scheduler::task_id timer = 0;
  timestamp timer_due = never;

  std::optional<std::uint32_t> predict(hash_key k) const {
    if (state != map_state::ready || open_by_end.empty()) return std::nullopt;
    auto it = std::lower_bound(open_by_end.begin(), open_by_end.end(), k,
                               [](const shard_info& s, hash_key h) { return s.end < h; });
    if (it == open_by_end.end() || k < it->start) return std::nullopt;
    return it->index;
  }
};

struct batch {
  stream_state* stream = nullptr;
  std::vector<kin_ptr> recs;
  std::size_t sender = 0;
};

struct finished {
  std::unique_ptr<completion> done;
  user_record_result result;
  std::size_t data_bytes = 0;
};

// Records finished under the lock, completed and counted once it is released.
struct completions {
  std::vector<finished> items;  // with a future or callback
  std::size_t plain = 0;        // without: only counted
  std::size_t plain_bytes = 0;
  [[nodiscard]] bool empty() const noexcept { return items.empty() && plain == 0; }
};

bool valid_utf8_key(std::string_view s, std::size_t& utf16_units) {
  utf16_units = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned c = *p;
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      n = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < n) return false;
    for (std::size_t i = 1; i < n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    utf16_units += cp >= 0x10000 ? 2 : 1;
    p += n;
  }
  return true;
}

bool valid_stream_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

// ---------------------------------------------------------------------------

struct producer::impl {
  rill::kinesis& kinesis;
  producer_configuration config;
  std::shared_ptr<rill::clock> clock;
  std::unique_ptr<scheduler> control;
  duration buffered;
  duration ttl;
  duration slack;
  int metrics_level = 2;  // 0 none, 1 summary, 2 detailed
  int granularity = 2;    // 0 global, 1 stream, 2 shard
  std::string metrics_ns;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  std::map<std::string, std::unique_ptr<stream_state>, std::less<>> streams;
  std::atomic<std::uint64_t> outstanding{0};
  std::atomic<std::uint64_t> outstanding_data{0};
  std::atomic<std::uint64_t> received_since_report{0};

  // Senders: batches waiting for a connection, batches in flight.
  std::deque<std::unique_ptr<batch>> waiting;
  std::vector<std::unique_ptr<scheduler>> senders;
  std::vector<std::size_t> idle_senders;
  std::unordered_map<std::size_t, std::unique_ptr<batch>> in_flight;  // by sender

  // Records waiting for their retry.
  std::multimap<timestamp, std::pair<stream_state*, user_rec*>> retries;
  scheduler::task_id retry_timer = 0;
  timestamp retry_due = never;

  impl(rill::kinesis& k, producer_configuration c)
      : kinesis(k),
        config(std::move(c)),
        clock(config.clock ? config.clock : std::make_shared<system_clock>()),
        control(clock->make_scheduler()),
        buffered(
            static_cast<std::int64_t>(std::min<std::uint64_t>(config.record_max_buffered_time, 1'000'000'000'000ULL))),
        ttl(static_cast<std::int64_t>(std::min<std::uint64_t>(config.record_ttl, 1'000'000'000'000ULL))),
        slack(std::min<std::int64_t>(50, buffered.count() / 5)),
        metrics_ns(config.metrics_namespace.empty() ? std::string(ns_default) : config.metrics_namespace) {
    metrics_level = config.metrics_level == "none" ? 0 : config.metrics_level == "summary" ? 1 : 2;
    granularity = config.metrics_granularity == "global" ? 0 : config.metrics_granularity == "stream" ? 1 : 2;
    if (!config.metrics) metrics_level = 0;
  }

  // --- metrics ---------------------------------------------------------------

  void metric(std::string_view name, double value, std::string_view unit, const stream_state* s,
              std::optional<std::uint32_t> shard, bool summary) {
    if (metrics_level == 0 || (metrics_level == 1 && !summary)) return;
    config.metrics->put(metrics_ns, name, {}, value, unit);
    if (granularity >= 1 && s) {
      metric_dimension d[2] = {{"StreamName", s->name}, {"ShardId", ""}};
      config.metrics->put(metrics_ns, name, std::span(d, 1), value, unit);
      if (granularity >= 2 && shard) {
        d[1].value = rill::shard_id(*shard).to_string();
        config.metrics->put(metrics_ns, name, std::span(d, 2), value, unit);
      }
    }
  }
  // Errors are counted as they happen and recorded once per PutRecords call or timer run.
  std::map<std::pair<const stream_state*, std::string>, std::size_t, std::less<>> error_counts;

  void error_metric(std::string_view code, const stream_state* s) {
    if (metrics_level == 0) return;
    ++error_counts[{s, std::string(code)}];
  }
  void record_errors() {
    for (const auto& [key, n] : error_counts) {
      const auto& [s, code] = key;
      auto v = static_cast<double>(n);
      metric("AllErrors", v, "Count", s, std::nullopt, true);
      metric_dimension d[2] = {{"ErrorCode", code}, {"StreamName", s ? s->name : ""}};
      config.metrics->put(metrics_ns, "ErrorsByCode", std::span(d, 1), v, "Count");
      if (granularity >= 1 && s) config.metrics->put(metrics_ns, "ErrorsByCode", std::span(d, 2), v, "Count");
    }
    error_counts.clear();
  }

  // --- finishing records (under the lock) -------------------------------------

  void add_attempt(user_rec* r, timestamp start, timestamp end, bool success, std::string_view code,
                   std::string_view message) {
    if (!r->attempts) r->attempts = std::make_unique<std::vector<attempt>>();
    timestamp prev = r->attempts->empty() ? r->arrival : r->attempts->back().start + r->attempts->back().duration;
    attempt a;
    a.start = start;
    a.delay = std::max(duration(0), start - prev);
    a.duration = end - start;
    a.success = success;
    a.error_code = std::string(code);
    a.error_message = std::string(message);
    r->attempts->push_back(std::move(a));
  }

  void finish(user_rec* r, user_record_result&& res, completions& out) {
    // Outstanding until its future or callback has completed (complete_all).
    if (r->done) {
      if (r->attempts) res.attempts = std::move(*r->attempts);
      out.items.push_back({std::move(r->done), std::move(res), r->data_len});
    } else {
      ++out.plain;
      out.plain_bytes += r->data_len;
    }
    user_rec::destroy(r);
  }

  void fail(stream_state* s, user_rec* r, std::string_view code, std::string_view message, completions& out) {
    timestamp now = clock->now();
    add_attempt(r, now, now, false, code, message);
    error_metric(code, s);
    if (code == "Expired") metric("UserRecordExpired", 1, "Count", s, std::nullopt, false);
    user_record_result res;
    finish(r, std::move(res), out);
  }

  bool expired(const user_rec* r, timestamp now) const { return now >= r->arrival + ttl; }

  // A failed attempt: retry after a backoff, or fail.
  void retry_or_fail(stream_state* s, user_rec* r, std::string_view code, std::string_view message, timestamp start,
                     timestamp end, completions& out) {
    add_attempt(r, start, end, false, code, message);
    error_metric(code, s);
    if (config.fail_if_throttled && code == "ProvisionedThroughputExceededException") {
      user_record_result res;
      finish(r, std::move(res), out);
      return;
    }
    timestamp now = clock->now();
    if (expired(r, now)) {
      fail(s, r, "Expired", fmt::format("Record has reached expiration after {} attempts", r->attempts->size()), out);
      return;
    }
    std::size_t failures = r->attempts->size();
    std::uint64_t backoff = config.retry_backoff_base;
    for (std::size_t i = 1; i < failures && backoff < config.retry_backoff_max; ++i) backoff *= 2;
    backoff = std::min(backoff, config.retry_backoff_max);
    timestamp due = std::min(now + duration(static_cast<std::int64_t>(backoff)), r->arrival + ttl);
    retries.emplace(due, std::make_pair(s, r));
    arm_retry(due);
  }

  // --- the pipeline (under the lock) -------------------------------------------

  void arm_stream(stream_state* s, timestamp due) {
    if (closed || due >= s->timer_due) return;
    if (s->timer != 0) control->cancel(s->timer);
    s->timer_due = due;
    s->timer = control->call_at(due, [this, s] { on_stream_timer(s); });
  }

  void arm_retry(timestamp due) {
    if (closed || due >= retry_due) return;
    if (retry_timer != 0) control->cancel(retry_timer);
    retry_due = due;
    retry_timer = control->call_at(due, [this] { on_retry_timer(); });
  }

  void add_to_pipeline(stream_state* s, user_rec* r, completions& out) {
    auto predicted = s->predict(r->key);
    if (config.aggregation_enabled && predicted) {
      aggregator& a = s->aggregators[*predicted];
      std::size_t cost = aggregate_cost(*r, a.count);
      if (a.count > 0 && kpl::fixed_overhead + a.body + cost > config.aggregation_max_size)
        flush_aggregator(s, *predicted, out);
      if (a.count == 0 && kpl::fixed_overhead + cost > config.aggregation_max_size) {
        // Bigger than an aggregate may be: it goes alone.
        to_limiter(s, single(r, predicted), out);
        return;
      }
      r->next = nullptr;
      if (a.tail) {
        a.tail->next = r;
      } else {
        a.head = r;
      }
      a.tail = r;
      ++a.count;
      a.body += cost;
      a.deadline = std::min(a.deadline, std::min(r->deadline, r->arrival + ttl));
      if (a.count >= config.aggregation_max_count || kpl::fixed_overhead + a.body >= config.aggregation_max_size) {
        flush_aggregator(s, *predicted, out);
      } else {
        arm_stream(s, a.deadline);
      }
      return;
    }
    to_limiter(s, single(r, predicted), out);
  }

  kin_ptr single(user_rec* r, std::optional<std::uint32_t> predicted) {
    auto k = std::make_unique<kin_rec>();
    k->members.push_back(r);
    k->predicted = predicted;
    k->deadline = std::min(r->deadline, r->arrival + ttl);
    k->expiration = r->arrival + ttl;
    k->estimated_size = r->pk_len + r->data_len;
    return k;
  }

  void flush_aggregator(stream_state* s, std::uint32_t shard, completions& out) {
    aggregator& a = s->aggregators[shard];
    if (a.count == 0) return;
    kin_ptr k;
    if (a.count == 1) {
      k = single(a.head, shard);
    } else {
      k = std::make_unique<kin_rec>();
      k->members.reserve(a.count);
      for (user_rec* r = a.head; r; r = r->next) {
        k->members.push_back(r);
        k->expiration = std::min(k->expiration, r->arrival + ttl);
      }
      k->predicted = shard;
      k->deadline = a.deadline;
      k->estimated_size = kpl::aggregate_partition_key.size() + kpl::fixed_overhead + a.body;
    }
    a = aggregator{};
    to_limiter(s, std::move(k), out);
  }

  void refill(limiter& l, timestamp now) {
    double pct = static_cast<double>(config.rate_limit) / 100.0;
    if (!l.started) {
      l.started = true;
      l.last = now;
      l.records = bucket_records_per_s * pct;
      l.bytes = bucket_bytes_capacity;
      return;
    }
    double secs = static_cast<double>((now - l.last).count()) / 1000.0;
    l.last = now;
    l.records = std::min(bucket_records_per_s * pct, l.records + secs * bucket_records_per_s * pct);
    l.bytes = std::min(bucket_bytes_capacity, l.bytes + secs * bucket_bytes_per_s * pct);
  }

  bool try_take(limiter& l, const kin_rec& k) {
    auto need = static_cast<double>(k.estimated_size);
    if (l.records >= 1 && l.bytes >= std::min(need, bucket_bytes_capacity)) {
      l.records -= 1;
      l.bytes -= need;
      return true;
    }
    return false;
  }

  // When the head of the queue will have its tokens.
  timestamp next_tokens(const limiter& l, const kin_rec& k, timestamp now) const {
    double pct = static_cast<double>(config.rate_limit) / 100.0;
    double need_r = std::max(0.0, 1 - l.records) / (bucket_records_per_s * pct);
    double need_b = std::max(0.0, std::min(static_cast<double>(k.estimated_size), bucket_bytes_capacity) - l.bytes) /
                    (bucket_bytes_per_s * pct);
    auto ms = static_cast<std::int64_t>(std::ceil(std::max(need_r, need_b) * 1000.0));
    return now + duration(std::max<std::int64_t>(1, ms));
  }

  void to_limiter(stream_state* s, kin_ptr k, completions& out) {
    if (!k->predicted) {
      to_collector(s, std::move(k), out);
      return;
    }
    limiter& l = s->limiters[*k->predicted];
    refill(l, clock->now());
    if (l.queue.empty() && try_take(l, *k)) {
      to_collector(s, std::move(k), out);
      return;
    }
    // Oldest expiration first (a retried record goes ahead of younger ones), so
    // that waiting behind the limiter does not make a retried record expire.
    auto pos = std::upper_bound(l.queue.begin(), l.queue.end(), k->expiration,
                                [](timestamp e, const kin_ptr& q) { return e < q->expiration; });
    l.queue.insert(pos, std::move(k));
    arm_stream(s, next_tokens(l, *l.queue.front(), clock->now()));
  }

  void drain_limiters(stream_state* s, completions& out) {
    timestamp now = clock->now();
    std::vector<user_rec*> requeue;  // re-added after the loop: re-adding may create limiters
    for (auto& [shard, l] : s->limiters) {
      if (l.queue.empty()) continue;
      refill(l, now);
      while (!l.queue.empty()) {
        kin_rec& head = *l.queue.front();
        if (head.expiration <= now) {
          // Expired members fail; the others go back into the aggregator.
          kin_ptr k = std::move(l.queue.front());
          l.queue.pop_front();
          for (user_rec* r : k->members) {
            if (expired(r, now)) {
              fail(s, r, "Expired", "Expiration reached while waiting in limiter", out);
            } else {
              requeue.push_back(r);
            }
          }
          continue;
        }
        if (!try_take(l, head)) break;
        kin_ptr k = std::move(l.queue.front());
        l.queue.pop_front();
        // Held back by the limiter: its deadline has passed; give the collector
        // `slack` to batch it with others (the KPL's collector does the same).
        k->deadline = std::max(k->deadline, now + slack);
        to_collector(s, std::move(k), out);
      }
      if (!l.queue.empty()) arm_stream(s, next_tokens(l, *l.queue.front(), now));
    }
    for (user_rec* r : requeue) add_to_pipeline(s, r, out);
  }

  void to_collector(stream_state* s, kin_ptr k, completions& out) {
    std::size_t size = k->estimated_size;
    if (!s->collected.empty() && s->collected_bytes + size > config.collection_max_size) send_collected(s);
    s->collected_bytes += size;
    std::size_t shard_bytes = 0;
    if (k->predicted) shard_bytes = (s->collected_shard_bytes[*k->predicted] += size);
    s->collected_deadline = std::min(s->collected_deadline, k->deadline);
    s->collected.push_back(std::move(k));
    if (s->collected.size() >= config.collection_max_count || s->collected_bytes >= config.collection_max_size ||
        shard_bytes >= shard_bytes_flush) {
      send_collected(s);
    } else {
      arm_stream(s, s->collected_deadline);
    }
    (void)out;
  }

  void send_collected(stream_state* s) {
    if (s->collected.empty()) return;
    auto b = std::make_unique<batch>();
    b->stream = s;
    b->recs = std::move(s->collected);
    s->collected.clear();
    s->collected_bytes = 0;
    s->collected_shard_bytes.clear();
    s->collected_deadline = never;
    waiting.push_back(std::move(b));
    dispatch();
  }

  void dispatch() {
    while (!closed && !waiting.empty() && in_flight.size() < config.max_connections) {
      std::size_t idx = 0;
      if (!idle_senders.empty()) {
        idx = idle_senders.back();
        idle_senders.pop_back();
      } else {
        idx = senders.size();
        senders.push_back(clock->make_scheduler());
      }
      auto b = std::move(waiting.front());
      waiting.pop_front();
      b->sender = idx;
      in_flight.emplace(idx, std::move(b));
      senders[idx]->call_at(clock->now(), [this, idx] { run_batch(idx); });
    }
  }

  // Everything of a stream that is due (within `slack`, so that shards due
  // together share PutRecords calls; nothing waits past its deadline).
  void process_due(stream_state* s, completions& out, bool everything) {
    timestamp now = clock->now();
    // Only when something is due now does the stream send; it then takes along
    // what would fall due within `slack`.
    bool due_now = everything || (!s->collected.empty() && s->collected_deadline <= now);
    for (auto& [shard, a] : s->aggregators) due_now = due_now || (a.count > 0 && a.deadline <= now);
    if (due_now) {
      timestamp threshold = everything ? never : now + slack;
      std::vector<std::uint32_t> due;
      for (auto& [shard, a] : s->aggregators)
        if (a.count > 0 && a.deadline <= threshold) due.push_back(shard);
      std::sort(due.begin(), due.end());
      for (auto shard : due) flush_aggregator(s, shard, out);
    }
    drain_limiters(s, out);
    if (!s->collected.empty() && (due_now || s->collected_deadline <= now)) send_collected(s);
  }

  void rearm(stream_state* s) {
    timestamp next = never;
    for (auto& [shard, a] : s->aggregators)
      if (a.count > 0) next = std::min(next, a.deadline);
    if (!s->collected.empty()) next = std::min(next, s->collected_deadline);
    timestamp now = clock->now();
    for (auto& [shard, l] : s->limiters)
      if (!l.queue.empty()) next = std::min(next, next_tokens(l, *l.queue.front(), now));
    if (next != never) arm_stream(s, next);
  }

  // Outside the lock: completes futures and callbacks, then counts the records finished.
  void complete_all(completions& out) {
    if (out.empty()) return;
    std::size_t bytes = out.plain_bytes;
    for (auto& f : out.items) {
      f.done->complete(std::move(f.result));
      bytes += f.data_bytes;
    }
    {
      std::lock_guard lock(mu);
      outstanding.fetch_sub(out.items.size() + out.plain, std::memory_order_relaxed);
      outstanding_data.fetch_sub(bytes, std::memory_order_relaxed);
    }
    cv.notify_all();
    out = completions{};
  }

  void on_stream_timer(stream_state* s) {
    completions out;
    {
      std::lock_guard lock(mu);
      s->timer = 0;
      s->timer_due = never;
      if (closed) return;
      process_due(s, out, false);
      rearm(s);
      record_errors();
    }
    if (!out.empty()) cv.notify_all();
    complete_all(out);
  }

  void on_retry_timer() {
    completions out;
    {
      std::lock_guard lock(mu);
      retry_timer = 0;
      retry_due = never;
      if (closed) return;
      timestamp now = clock->now();
      while (!retries.empty() && retries.begin()->first <= now) {
        auto [s, r] = retries.begin()->second;
        retries.erase(retries.begin());
        if (expired(r, now)) {
          fail(s, r, "Expired",
               fmt::format("Record has reached expiration after {} attempts", r->attempts ? r->attempts->size() : 0),
               out);
          continue;
        }
        r->deadline = now + buffered / 2;
        add_to_pipeline(s, r, out);
      }
      if (!retries.empty()) arm_retry(retries.begin()->first);
      record_errors();
    }
    if (!out.empty()) cv.notify_all();
    complete_all(out);
  }

  // --- shard map ---------------------------------------------------------------

  // ListShards, all pages, outside the lock.
  result<std::vector<shard>> list_all_shards(const std::string& stream) {
    std::vector<shard> all;
    list_shards_request req;
    req.stream_name = stream;
    for (;;) {
      auto r = kinesis.list_shards(req);
      if (!r) return r.error();
      for (auto& sh : r->shards) all.push_back(std::move(sh));
      if (!r->next_token) break;
      req = list_shards_request{};
      req.next_token = r->next_token;
    }
    return all;
  }

  void apply_shards(stream_state* s, const std::vector<shard>& shards) {
    s->open_by_end.clear();
    for (const auto& sh : shards) {
      shard_info info{sh.hash_key_range.starting_hash_key, sh.hash_key_range.ending_hash_key, sh.shard_id.index(),
                      !sh.sequence_number_range.ending_sequence_number.has_value()};
      s->known[info.index] = info;
      if (info.open) s->open_by_end.push_back(info);
    }
    for (auto& [idx, info] : s->known) {
      bool open = std::any_of(s->open_by_end.begin(), s->open_by_end.end(),
                              [&](const shard_info& o) { return o.index == idx; });
      info.open = open;
    }
    std::sort(s->open_by_end.begin(), s->open_by_end.end(),
              [](const shard_info& a, const shard_info& b) { return a.end < b.end; });
    s->state = map_state::ready;
    s->refresh_failures = 0;
  }

  void refresh_failed(stream_state* s, const error& e) {
    s->state = map_state::invalid;
    ++s->refresh_failures;
    if (s->refresh_failures == 1)
      rill::logger()->warn("producer: ListShards for stream {} failed: {}", s->name, e.to_string());
    if (s->refresh_scheduled || closed) return;
    s->refresh_scheduled = true;
    double backoff = std::min(30000.0, 1000.0 * std::pow(1.5, static_cast<double>(s->refresh_failures - 1)));
    control->call_at(clock->now() + duration(static_cast<std::int64_t>(backoff)), [this, s] {
      {
        std::lock_guard lock(mu);
        s->refresh_scheduled = false;
        if (closed || s->state == map_state::ready) return;
      }
      refresh(s);
    });
  }

  void refresh(stream_state* s) {
    auto shards = list_all_shards(s->name);
    std::lock_guard lock(mu);
    if (closed) return;
    if (shards) {
      apply_shards(s, *shards);
    } else {
      refresh_failed(s, shards.error());
    }
  }

  // --- sending (on a sender, outside the lock) ------------------------------------

  void run_batch(std::size_t idx) {
    batch* b = nullptr;
    {
      std::lock_guard lock(mu);
      auto it = in_flight.find(idx);
      if (it == in_flight.end()) return;
      b = it->second.get();
    }
    thread_local kpl::aggregated_record_builder builder;
    put_records_request req;
    req.stream_name = b->stream->name;
    req.records.reserve(b->recs.size());
    for (auto& k : b->recs) {
      if (k->aggregated()) {
        builder.clear();
        for (user_rec* r : k->members) builder.add(r->pk(), r->ehk(), r->data());
        builder.serialize_to(k->bytes);
        k->ehk = k->members[0]->key.to_string();
      } else if (k->members[0]->has_ehk) {
        k->ehk = std::string(*k->members[0]->ehk());
      } else {
        k->ehk = k->members[0]->key.to_string();
      }
      req.records.push_back({k->data(), k->pk(), std::string_view(k->ehk)});
    }
    timestamp start = clock->now();
    auto res = kinesis.put_records(req);
    timestamp end = clock->now();

    // A record that landed on a shard other than the predicted one, or on a
    // shard the map does not know: the map is stale; refresh it before judging.
    bool stale = false;
    if (res) {
      std::lock_guard lock(mu);
      for (std::size_t i = 0; i < res->records.size() && i < b->recs.size(); ++i) {
        const auto& e = res->records[i];
        if (!e.ok()) continue;
        auto& k = *b->recs[i];
        if ((k.predicted && *k.predicted != e.shard_id.index()) || !b->stream->known.contains(e.shard_id.index()))
          stale = true;
      }
    }
    if (stale) refresh(b->stream);

    completions out;
    {
      std::lock_guard lock(mu);
      handle_result(*b, res, start, end, out);
      record_errors();
      in_flight.erase(idx);
      idle_senders.push_back(idx);
      dispatch();
    }
    cv.notify_all();
    complete_all(out);
  }

  void handle_result(batch& b, const result<put_records_result>& res, timestamp start, timestamp end,
                     completions& out) {
    stream_state* s = b.stream;
    metric("Request Time", static_cast<double>((end - start).count()), "Milliseconds", s, std::nullopt, false);
    metric("KinesisRecordsPerPutRecordsRequest", static_cast<double>(b.recs.size()), "Count", s, std::nullopt, false);
    std::size_t users = 0;
    for (auto& k : b.recs) users += k->members.size();
    metric("UserRecordsPerPutRecordsRequest", static_cast<double>(users), "Count", s, std::nullopt, false);
    metric("UserRecordsPending", static_cast<double>(outstanding.load()), "Count", s, std::nullopt, false);
    if (auto n = received_since_report.exchange(0); n > 0)
      metric("UserRecordsReceived", static_cast<double>(n), "Count", s, std::nullopt, false);

    struct shard_sums {
      std::size_t user_records = 0, user_bytes = 0, kinesis_records = 0, kinesis_bytes = 0, buffering_ms = 0,
                  retries = 0;
    };
    std::map<std::uint32_t, shard_sums> per_shard;
    if (!res || res->records.size() != b.recs.size()) {
      std::string code = res ? "Record Count Mismatch" : std::string(res.error().name());
      std::string message =
          res ? fmt::format("PutRecords returned {} results for {} records", res->records.size(), b.recs.size())
              : res.error().message();
      if (res) {
        for (auto& k : b.recs)
          for (user_rec* r : k->members) {
            add_attempt(r, start, end, false, code, message);
            error_metric(code, s);
            user_record_result ur;
            finish(r, std::move(ur), out);
          }
      } else {
        for (auto& k : b.recs)
          for (user_rec* r : k->members) retry_or_fail(s, r, code, message, start, end, out);
      }
      return;
    }
    for (std::size_t i = 0; i < b.recs.size(); ++i) {
      kin_rec& k = *b.recs[i];
      const auto& e = res->records[i];
      if (!e.ok()) {
        std::string code(to_string(*e.error_code));
        for (user_rec* r : k.members) retry_or_fail(s, r, code, e.error_message, start, end, out);
        continue;
      }
      std::uint32_t actual = e.shard_id.index();
      const shard_info* info = nullptr;
      if (auto it = s->known.find(actual); it != s->known.end()) info = &it->second;
      std::size_t put = 0, bytes = 0, buffering = 0, retried = 0;
      shard_sums& sums = per_shard[actual];
      const std::size_t kinesis_bytes = k.data().size();  // before the members are finished (a single one is viewed)
      for (std::size_t pos = 0; pos < k.members.size(); ++pos) {
        user_rec* r = k.members[pos];
        bool in_range = !k.aggregated() || !k.predicted || *k.predicted == actual ||
                        (info && info->start <= r->key && r->key <= info->end);
        if (!in_range) {
          retry_or_fail(s, r, "Wrong Shard",
                        fmt::format("Record did not end up in expected shard ({} instead of {})",
                                    e.shard_id.to_string(), rill::shard_id(*k.predicted).to_string()),
                        start, end, out);
          continue;
        }
        if (pos == 0) buffering = static_cast<std::size_t>(std::max<std::int64_t>(0, (start - r->arrival).count()));
        retried += r->attempts ? r->attempts->size() : 0;
        if (r->done) add_attempt(r, start, end, true, "", "");  // nobody to tell: skip building the result
        ++put;
        bytes += r->data_len;
        user_record_result ur;
        ur.successful = true;
        ur.shard_id = e.shard_id;
        ur.sequence_number = e.sequence_number;
        ur.sub_sequence_number = k.aggregated() ? pos : 0;
        finish(r, std::move(ur), out);
      }
      if (put > 0) {
        sums.user_records += put;
        sums.user_bytes += bytes;
        sums.kinesis_records += 1;
        sums.kinesis_bytes += kinesis_bytes;
        sums.buffering_ms += buffering;
        sums.retries += retried;
      }
    }
    // One sample per PutRecords call and shard: counts summed, distributions averaged.
    for (const auto& [shard, m] : per_shard) {
      if (m.kinesis_records == 0) continue;
      auto kr = static_cast<double>(m.kinesis_records);
      auto ur = static_cast<double>(m.user_records);
      metric("UserRecordsPut", ur, "Count", s, shard, true);
      metric("UserRecordsDataPut", static_cast<double>(m.user_bytes), "Bytes", s, shard, false);
      metric("KinesisRecordsPut", kr, "Count", s, shard, true);
      metric("KinesisRecordsDataPut", static_cast<double>(m.kinesis_bytes), "Bytes", s, shard, false);
      metric("UserRecordsPerKinesisRecord", ur / kr, "Count", s, shard, false);
      metric("BufferingTime", static_cast<double>(m.buffering_ms) / kr, "Milliseconds", s, shard, true);
      metric("RetriesPerRecord", static_cast<double>(m.retries) / ur, "Count", s, shard, false);
    }
  }

  // --- shutdown ------------------------------------------------------------------------

  void shutdown() {
    {
      std::lock_guard lock(mu);
      if (closed) return;
      closed = true;
    }
    cv.notify_all();
    control->shutdown();
    for (auto& s : senders) s->shutdown();
    completions out;
    {
      std::lock_guard lock(mu);
      auto fail_all = [&](stream_state* s, user_rec* r) {
        fail(s, r, "Shutdown", "The producer was shut down before the record was put", out);
      };
      for (auto& [name, s] : streams) {
        for (auto& [shard, a] : s->aggregators) {
          for (user_rec* r = a.head; r;) {
            user_rec* next = r->next;
            fail_all(s.get(), r);
            r = next;
          }
          a = aggregator{};
        }
        for (auto& [shard, l] : s->limiters) {
          for (auto& k : l.queue)
            for (user_rec* r : k->members) fail_all(s.get(), r);
          l.queue.clear();
        }
        for (auto& k : s->collected)
          for (user_rec* r : k->members) fail_all(s.get(), r);
        s->collected.clear();
      }
      for (auto& b : waiting)
        for (auto& k : b->recs)
          for (user_rec* r : k->members) fail_all(b->stream, r);
      waiting.clear();
      for (auto& [idx, b] : in_flight)
        for (auto& k : b->recs)
          for (user_rec* r : k->members) fail_all(b->stream, r);
      in_flight.clear();
      for (auto& [due, sr] : retries) fail_all(sr.first, sr.second);
      retries.clear();
      record_errors();
    }
    cv.notify_all();
    complete_all(out);
  }

  // --- entry ------------------------------------------------------------------------------

  result<void> add(const user_record_request& req, std::unique_ptr<completion> done) {
    if (!valid_stream_name(req.stream_name))
      return error(
          error_code::validation_exception,
          fmt::format("StreamName must match [a-zA-Z0-9_.-]+ and have 1..128 characters, got \"{}\"", req.stream_name));
    std::size_t units = 0;
    if (!valid_utf8_key(req.partition_key, units))
      return error(error_code::validation_exception, "PartitionKey must be valid UTF-8");
    if (units < 1 || units > 256)
      return error(error_code::validation_exception,
                   fmt::format("PartitionKey must have 1..256 characters, got {}", units));
    if (req.data.size() > config.max_user_record_size)
      return error(error_code::validation_exception, fmt::format("Data must be less than or equal to {} bytes, got {}",
                                                                 config.max_user_record_size, req.data.size()));
    hash_key key;
    if (req.explicit_hash_key) {
      auto k = hash_key::parse(*req.explicit_hash_key);
      if (!k)
        return error(error_code::invalid_argument_exception,
                     fmt::format("ExplicitHashKey must be a decimal integer in [0, 2^128-1], got \"{}\"",
                                 *req.explicit_hash_key));
      key = *k;
    } else {
      key = hash_key::of_partition_key(req.partition_key);
    }

    stream_state* s = nullptr;
    bool load = false;
    {
      std::unique_lock lock(mu);
      if (!wait_for_room(lock, req.data.size())) {
        return closed ? error(error_code::resource_in_use_exception, "The producer has been shut down")
                      : error(error_code::limit_exceeded_exception,
                              fmt::format("Outstanding records ({}) or bytes ({}) at the configured bound",
                                          outstanding.load(), outstanding_data.load()));
      }
      auto it = streams.find(req.stream_name);
      if (it == streams.end()) {
        auto st = std::make_unique<stream_state>();
        st->name = req.stream_name;
        s = st.get();
        streams.emplace(req.stream_name, std::move(st));
        load = true;
      } else {
        s = it->second.get();
      }
    }
    if (load) refresh(s);

    user_rec* r = user_rec::make(req.partition_key, req.explicit_hash_key, req.data);
    r->key = key;
    r->done = std::move(done);
    completions out;
    {
      std::lock_guard lock(mu);
      if (closed) {
        user_rec::destroy(r);
        return error(error_code::resource_in_use_exception, "The producer has been shut down");
      }
      r->arrival = clock->now();
      r->deadline = r->arrival + buffered;
      outstanding.fetch_add(1, std::memory_order_relaxed);
      outstanding_data.fetch_add(r->data_len, std::memory_order_relaxed);
      received_since_report.fetch_add(1, std::memory_order_relaxed);
      add_to_pipeline(s, r, out);
    }
    complete_all(out);
    return {};
  }

  bool wait_for_room(std::unique_lock<std::mutex>& lock, std::size_t bytes) {
    auto room = [&] {
      return closed ||
             (outstanding.load() < config.max_outstanding_records &&
              outstanding_data.load() + bytes <= config.max_outstanding_bytes) ||
             outstanding.load() == 0;
    };
    if (!room()) {
      if (config.back_pressure == back_pressure_mode::fail) return false;
      cv.wait(lock, room);
    }
    return !closed;
  }

  void flush(std::optional<std::string_view> stream) {
    completions out;
    {
      std::lock_guard lock(mu);
      if (closed) return;
      for (auto& [name, s] : streams) {
        if (stream && name != *stream) continue;
        process_due(s.get(), out, true);
        rearm(s.get());
      }
      record_errors();
    }
    complete_all(out);
  }
};

// ---------------------------------------------------------------------------

producer::producer(rill::kinesis& kinesis, producer_configuration config) {
  if (auto v = config.validate(); !v) throw std::invalid_argument(v.error().to_string());
  impl_ = std::make_shared<impl>(kinesis, std::move(config));
}

result<std::unique_ptr<producer>> producer::make(rill::kinesis& kinesis, producer_configuration config) {
  if (auto v = config.validate(); !v) return v.error();
  return std::make_unique<producer>(kinesis, std::move(config));
}

producer::~producer() { shutdown(); }

result<std::future<user_record_result>> producer::add_user_record(const user_record_request& request) {
  auto c = std::make_unique<promise_completion>();
  auto future = c->promise.get_future();
  if (auto r = impl_->add(request, std::move(c)); !r) return r.error();
  return future;
}

result<void> producer::add_user_record(const user_record_request& request, user_record_callback callback) {
  std::unique_ptr<completion> c;
  if (callback) c = std::make_unique<callback_completion>(std::move(callback));
  return impl_->add(request, std::move(c));
}

void producer::flush() { impl_->flush(std::nullopt); }
void producer::flush(std::string_view stream_name) { impl_->flush(stream_name); }

void producer::flush_sync() {
  impl_->flush(std::nullopt);
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->closed || impl_->outstanding.load() == 0; });
}

std::uint64_t producer::outstanding_records_count() const { return impl_->outstanding.load(); }
std::uint64_t producer::outstanding_bytes() const { return impl_->outstanding_data.load(); }

void producer::shutdown() { impl_->shutdown(); }

}  // namespace rill
