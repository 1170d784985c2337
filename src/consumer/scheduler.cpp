// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The KCL-style worker: shard sync, lease taking (with graceful handoff),
// renewal, and one shard consumer per held lease, all as tasks on one
// rill::scheduler made from the configured clock. Every task takes the worker's
// (recursive) mutex, so a worker's state is touched by one task at a time and
// processor callbacks run one at a time; the checkpointer re-enters it.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "consumer/lease_ops.hpp"
#include "rill/kcl.hpp"
#include "rill/logging.hpp"

namespace rill::kcl {

extended_sequence_number extended_sequence_number_of(const kinesis_client_record& r) {
  return {r.sequence_number.to_string(), static_cast<std::int64_t>(r.sub_sequence_number)};
}

namespace {

constexpr std::string_view metric_namespace = "KinesisClientLibrary";

error shutdown_error(const std::string& shard) {
  return error(error_code::shutdown_exception,
               "Can't update checkpoint - instance doesn't hold the lease for this shard (" + shard + ")");
}

std::optional<hash_key_range> range_of(const lease& l) {
  auto a = hash_key::parse(l.starting_hash_key), b = hash_key::parse(l.ending_hash_key);
  if (!a || !b) return std::nullopt;
  return hash_key_range{*a, *b};
}

enum class consumer_state : std::uint8_t {
  waiting_on_parent_shards,
  initializing,
  processing,
  shard_ending,
  shutdown_requested,
  shutting_down,
};

std::string_view to_string(consumer_state s) {
  switch (s) {
    case consumer_state::waiting_on_parent_shards: return "WAITING_ON_PARENT_SHARDS";
    case consumer_state::initializing: return "INITIALIZING";
    case consumer_state::processing: return "PROCESSING";
    case consumer_state::shard_ending: return "SHUTTING_DOWN";
    case consumer_state::shutdown_requested: return "SHUTDOWN_REQUESTED";
    case consumer_state::shutting_down: return "SHUTTING_DOWN";
  }
  return "UNKNOWN";
}

}  // namespace

struct scheduler::core : std::enable_shared_from_this<scheduler::core> {
  // One held lease and its consumer.
  struct consumer {
    lease l;
    timestamp last_renewal{};
    std::uint64_t token = 0;
    consumer_state state = consumer_state::waiting_on_parent_shards;
    bool lost = false;
    bool handoff_requested = false;
    std::unique_ptr<shard_record_processor> processor;
    bool initialized = false;
    std::unique_ptr<record_retrieval> retrieval;
    std::shared_ptr<record_processor_checkpointer> checkpointer;
    extended_sequence_number last_checkpoint{};
    extended_sequence_number largest_permitted{};
    // Records at or before this position are dropped (resume inside an aggregate).
    std::optional<std::pair<rill::sequence_number, std::uint64_t>> resume_after;
    std::optional<hash_key_range> range;
    std::vector<child_shard> children;
    std::optional<get_records_result> batch;
    std::vector<kinesis_client_record> records;
    std::size_t batch_bytes = 0;
    int attempts = 0;
    double bytes_since_renewal = 0;
    rill::scheduler::task_id task = 0;
    bool task_pending = false;
    // Push-style retrieval idle: the next step runs when it signals.
    bool awaiting_push = false;
  };
  struct incoming_handoff {
    timestamp started{};
  };
  struct observation {
    std::int64_t counter = 0;
    timestamp last_change{};
    std::uint64_t round = 0;
  };

  config cfg;
  std::unique_ptr<rill::scheduler> sched;
  mutable std::recursive_mutex mu;
  bool started = false;
  bool stopped = false;
  std::mt19937_64 rng;
  duration renew_interval{};
  duration take_interval{};
  rill::scheduler::task_id renew_task = 0, take_task = 0, sync_task = 0;
  bool take_soon_pending = false;
  // Hash maps: every taker run looks each lease of the table up here.
  std::unordered_map<std::string, std::unique_ptr<consumer>> held;
  std::unordered_map<std::string, incoming_handoff> incoming;
  // The lease table as last scanned (reused: scan_leases copy-assigns into it),
  // and per lease of it what the taker found (kMine, kExpired).
  std::vector<lease> table;
  std::vector<std::uint8_t> flags;
  static constexpr std::uint8_t kMine = 1, kExpired = 2;
  std::unordered_map<std::string, observation> observed;
  std::uint64_t observation_round = 0;
  std::uint64_t next_token = 1;
  std::map<std::string, std::pair<timestamp, int>, std::less<>> log_budget;

  explicit core(config c) : cfg(std::move(c)) {
    if (!cfg.retrieval) cfg.retrieval = make_polling_retrieval_factory();
    std::uint64_t seed = cfg.random_seed;
    if (seed == 0) seed = std::hash<std::string>{}(cfg.worker_identifier) | 1;
    rng.seed(seed);
    renew_interval = cfg.failover_time_millis / 3 - cfg.epsilon_millis;
    take_interval = (cfg.failover_time_millis + cfg.epsilon_millis) * 2;
    sched = cfg.clock->make_scheduler();
  }

  timestamp now() const { return cfg.clock->now(); }
  const std::string& me() const { return cfg.worker_identifier; }

  // --- logging and metrics ---------------------------------------------------

  // At most 5 messages per kind per minute of clock time.
  template <class... Args>
  void warn(std::string_view kind, spdlog::format_string_t<Args...> fmt, Args&&... args) {
    auto& [start, count] = log_budget[std::string(kind)];
    const auto t = now();
    if (t - start >= std::chrono::minutes(1)) {
      start = t;
      count = 0;
    }
    if (++count > 5) return;
    rill::logger()->warn(fmt, std::forward<Args>(args)...);
  }

  void metric(std::string_view name, double value, std::string_view unit, std::string_view operation,
              const std::string* shard = nullptr) {
    if (!cfg.metrics) return;
    if (shard) {
      const metric_dimension dims[] = {{"Operation", std::string(operation)}, {"ShardId", *shard}};
      cfg.metrics->put(metric_namespace, name, dims, value, unit);
    } else {
      const metric_dimension dims[] = {{"Operation", std::string(operation)}, {"WorkerIdentifier", me()}};
      cfg.metrics->put(metric_namespace, name, dims, value, unit);
    }
  }

  // --- task plumbing -----------------------------------------------------------

  template <class F>
  rill::scheduler::task_id at(duration delay, F f) {
    return sched->call_at(now() + delay, [this, f = std::move(f)]() mutable {
      std::lock_guard lock(mu);
      if (stopped) return;
      f();
    });
  }

  void schedule_consumer(consumer& c, duration delay) {
    c.awaiting_push = false;
    if (delay == record_retrieval::until_ready) {  // a push-style retrieval signals instead
      if (c.task_pending) sched->cancel(c.task);
      c.task_pending = false;
      c.awaiting_push = true;
      return;
    }
    if (c.task_pending) sched->cancel(c.task);
    c.task_pending = true;
    c.task = at(delay, [this, key = c.l.lease_key, token = c.token] { run_consumer(key, token); });
  }

  void schedule_take_soon() {
    if (take_soon_pending || stopped) return;
    take_soon_pending = true;
    at(duration{0}, [this] {
      take_soon_pending = false;
      take_leases();
    });
  }

  // --- validity, holding, losing ------------------------------------------------

  bool valid(const consumer& c) const { return !c.lost && now() - c.last_renewal < cfg.failover_time_millis; }

  consumer* find(const std::string& key, std::uint64_t token) {
    auto it = held.find(key);
    if (it == held.end() || it->second->token != token) return nullptr;
    return it->second.get();
  }

  void hold(lease l) {
    auto c = std::make_unique<consumer>();
    c->token = next_token++;
    c->last_renewal = now();
    c->range = range_of(l);
    c->l = std::move(l);
    c->state = consumer_state::waiting_on_parent_shards;
    const std::string key = c->l.lease_key;
    c->checkpointer = make_checkpointer(key, c->token);
    metric("LeaseTaken", 1, "Count", "TakeLeases");
    auto& ref = *c;
    held[key] = std::move(c);
    schedule_consumer(ref, duration{0});
  }

  void remove(const std::string& key) {
    auto it = held.find(key);
    if (it == held.end()) return;
    if (it->second->task_pending) sched->cancel(it->second->task);
    held.erase(it);
  }

  // The lease is gone (stolen, expired locally, or a checkpoint found it moved).
  void lose(const std::string& key) {
    auto it = held.find(key);
    if (it == held.end()) return;
    consumer& c = *it->second;
    c.state = consumer_state::shutting_down;
    if (c.initialized) call_lease_lost(c);
    metric("LeaseLost", 1, "Count", "RenewAllLeases");
    remove(key);
  }

  void call_lease_lost(consumer& c) {
    try {
      c.processor->lease_lost({});
    } catch (const std::exception& e) {
      warn("lease_lost", "kcl {}: leaseLost() of {} threw: {}", me(), c.l.lease_key, e.what());
    } catch (...) {
      warn("lease_lost", "kcl {}: leaseLost() of {} threw", me(), c.l.lease_key);
    }
  }

  // --- the checkpointer -------------------------------------------------------

  struct checkpointer_impl;
  std::shared_ptr<record_processor_checkpointer> make_checkpointer(const std::string& key, std::uint64_t token);

  result<void> write_checkpoint(const std::string& key, std::uint64_t token, const extended_sequence_number& esn,
                                bool pending, std::optional<std::string> state) {
    consumer* c = find(key, token);
    if (!c || !valid(*c) || c->state == consumer_state::shutting_down) return shutdown_error(key);
    if (!esn.valid())
      return error(error_code::invalid_argument_exception, "Invalid sequence number " + esn.to_string());
    if (esn.is_sentinel() && !(esn.is_shard_end() && c->largest_permitted.is_shard_end()))
      return error(error_code::invalid_argument_exception, "Cannot checkpoint at " + esn.to_string());
    if (esn < c->last_checkpoint || c->largest_permitted < esn)
      return error(error_code::invalid_argument_exception,
                   "Could not checkpoint at extended sequence number " + esn.to_string() +
                       " as it did not fall into acceptable range between the last checkpoint " +
                       c->last_checkpoint.to_string() + " and the greatest extended sequence number passed to " +
                       "this record processor " + c->largest_permitted.to_string());
    if (!pending && esn == c->l.checkpoint && !c->l.pending_checkpoint) return {};
    lease next = c->l;
    if (pending) {
      next.pending_checkpoint = esn;
      next.pending_checkpoint_state = std::move(state);
    } else {
      next.checkpoint = esn;
      next.pending_checkpoint.reset();
      next.pending_checkpoint_state.reset();
      next.owner_switches_since_checkpoint = 0;
    }
    auto r = cfg.lease_store->update_lease(next, me());
    if (!r) return r.error();
    if (*r == write_status::condition_failed) {
      // Another worker asked for the lease (graceful handoff): this worker is now
      // its checkpoint owner and may still checkpoint; the handoff follows at once.
      auto fresh = cfg.lease_store->get_lease(key);
      if (!c->handoff_requested && fresh && *fresh && (*fresh)->checkpoint_owner == me() &&
          (*fresh)->lease_owner != me()) {
        c->l = **fresh;
        c->handoff_requested = true;
        schedule_consumer(*c, duration{0});
        return write_checkpoint(key, token, esn, pending, std::move(next.pending_checkpoint_state));
      }
      c->lost = true;  // the next step reports lease_lost
      return shutdown_error(key);
    }
    c->l = std::move(next);
    if (!pending) c->last_checkpoint = esn;
    return {};
  }

  // --- the shard consumer -------------------------------------------------------

  void run_consumer(const std::string& key, std::uint64_t token) {
    consumer* c = find(key, token);
    if (!c) return;
    c->task_pending = false;
    if (!valid(*c)) {
      lose(key);
      return;
    }
    if (c->handoff_requested) {
      handoff_out(*c, c->l);
      return;
    }
    switch (c->state) {
      case consumer_state::waiting_on_parent_shards:
        for (const auto& p : c->l.parent_shard_ids) {
          auto parent = cfg.lease_store->get_lease(p);
          if (!parent) {
            schedule_consumer(*c, cfg.task_backoff_time_millis);
            return;
          }
          // A missing parent lease does not block (KCL BlockOnParentShardTask).
          if (*parent && !(*parent)->checkpoint.is_shard_end()) {
            schedule_consumer(*c, cfg.parent_shard_poll_interval_millis);
            return;
          }
        }
        c->state = consumer_state::initializing;
        [[fallthrough]];
      case consumer_state::initializing: initialize(*c); return;
      case consumer_state::processing: process_batch(*c); return;
      case consumer_state::shard_ending: end_shard(*c); return;
      case consumer_state::shutdown_requested:
      case consumer_state::shutting_down: return;
    }
  }

  void initialize(consumer& c) {
    if (c.l.checkpoint.is_shard_end()) {  // finished meanwhile: nothing to do
      release_finished(c);
      return;
    }
    if (!c.processor) c.processor = cfg.shard_record_processor_factory();
    if (!c.initialized) {
      initialization_input in;
      in.shard_id = c.l.lease_key;
      in.extended_sequence_number = c.l.checkpoint;
      in.pending_checkpoint_sequence_number = c.l.pending_checkpoint;
      in.pending_checkpoint_state = c.l.pending_checkpoint_state;
      try {
        c.processor->initialize(in);
      } catch (const std::exception& e) {
        warn("initialize", "kcl {}: initialize() of {} threw: {}; retrying", me(), c.l.lease_key, e.what());
        schedule_consumer(c, cfg.task_backoff_time_millis);
        return;
      } catch (...) {
        warn("initialize", "kcl {}: initialize() of {} threw; retrying", me(), c.l.lease_key);
        schedule_consumer(c, cfg.task_backoff_time_millis);
        return;
      }
      c.initialized = true;
    }
    retrieval_start start;
    start.application_name = cfg.application_name;
    start.stream_name = cfg.stream_name;
    start.shard_id = c.l.lease_key;
    start.position = c.l.checkpoint;
    start.timestamp = cfg.initial_position_in_stream.timestamp;
    start.max_records = cfg.max_records;
    c.resume_after.reset();
    if (!c.l.checkpoint.is_sentinel()) {
      if (auto s = rill::sequence_number::parse(c.l.checkpoint.sequence_number))
        c.resume_after.emplace(*s, static_cast<std::uint64_t>(c.l.checkpoint.sub_sequence_number));
    }
    start.clock = cfg.clock;
    c.retrieval = cfg.retrieval->create(*cfg.kinesis, start);
    // Push-style: a signal runs the consumer's next step at once, on this
    // worker's scheduler (so on a manual clock inside the same advance()).
    std::weak_ptr<core> w = weak_from_this();
    (void)c.retrieval->set_ready_callback([w, key = c.l.lease_key, token = c.token] {
      auto self = w.lock();
      if (!self) return;
      self->at(duration{0}, [s = self.get(), key, token] {
        consumer* cc = s->find(key, token);
        if (!cc || !cc->awaiting_push) return;
        cc->awaiting_push = false;
        s->run_consumer(key, token);
      });
    });
    c.last_checkpoint = c.l.checkpoint;
    c.largest_permitted = c.l.checkpoint;
    c.state = consumer_state::processing;
    schedule_consumer(c, duration{0});
  }

  void fetch(consumer& c) {
    auto r = c.retrieval->get_next_batch();
    if (!r) {
      warn("get_records", "kcl {}: reading {} failed: {}; backing off", me(), c.l.lease_key, r.error().to_string());
      return;
    }
    c.batch = std::move(*r);
    c.records.clear();
    c.attempts = 0;
    c.batch_bytes = 0;
    std::size_t dropped = 0;
    c.records.reserve(c.batch->records.size());
    std::vector<kinesis_client_record> outside;
    for (const auto& rec : c.batch->records) {
      c.batch_bytes += rec.data.size() + rec.partition_key.size();
      const std::size_t before = c.records.size();
      if (!kpl::has_magic(rec.data)) {  // a plain record: built in place (the common, hot case)
        c.records.emplace_back(rec.sequence_number, std::uint64_t{0}, rec.approximate_arrival_timestamp,
                               rec.partition_key, std::nullopt, rec.data, rec.encryption_type, false);
      } else {
        kpl::deaggregate_into(rec, c.range, c.records, &outside);
      }
      dropped += outside.size();
      outside.clear();
      if (c.resume_after) {
        // Drop what is at or before the checkpoint; once past it, stop looking.
        auto keep = std::remove_if(c.records.begin() + static_cast<std::ptrdiff_t>(before), c.records.end(),
                                   [&](const kinesis_client_record& u) {
                                     if (u.sequence_number != c.resume_after->first)
                                       return u.sequence_number < c.resume_after->first;
                                     return u.sub_sequence_number <= c.resume_after->second;
                                   });
        c.records.erase(keep, c.records.end());
        if (c.records.size() > before || rec.sequence_number > c.resume_after->first) c.resume_after.reset();
      }
    }
    if (dropped)
      warn("out_of_range", "kcl {}: {} KPL user records of {} lie outside its hash range and were skipped", me(),
           dropped, c.l.lease_key);
  }

  void process_batch(consumer& c) {
    if (!c.batch) {
      fetch(c);
      if (!c.batch) {
        schedule_consumer(c, cfg.task_backoff_time_millis);
        return;
      }
    }
    const bool at_end = !c.batch->next_shard_iterator;
    const std::string shard = c.l.lease_key;
    if (!c.records.empty() || cfg.call_process_records_even_for_empty_record_list) {
      if (!c.records.empty()) c.largest_permitted = extended_sequence_number_of(c.records.back());
      process_records_input in;
      in.records = c.records;
      in.millis_behind_latest = c.batch->millis_behind_latest;
      in.checkpointer = c.checkpointer;
      const std::uint64_t token = c.token;
      std::string what;
      try {
        c.processor->process_records(in);
      } catch (const std::exception& e) {
        what = e.what();
        if (what.empty()) what = "exception";
      } catch (...) {
        what = "unknown exception";
      }
      // The processor may have lost the lease meanwhile (a failed checkpoint).
      if (!find(shard, token)) return;
      if (!what.empty()) {
        metric("ProcessRecords.Exceptions", 1, "Count", "ProcessTask", &shard);
        if (++c.attempts <= cfg.process_records_retry_attempts) {
          warn("process_records", "kcl {}: processRecords() of {} threw: {}; delivering the batch again", me(), shard,
               what);
          schedule_consumer(c, cfg.task_backoff_time_millis);
          return;
        }
        warn("process_records", "kcl {}: processRecords() of {} threw: {}; skipping {} records", me(), shard, what,
             c.records.size());
        metric("ProcessRecords.SkippedRecords", static_cast<double>(c.records.size()), "Count", "ProcessTask", &shard);
      } else {
        metric("RecordsProcessed", static_cast<double>(c.records.size()), "Count", "ProcessTask", &shard);
        metric("DataBytesProcessed", static_cast<double>(c.batch_bytes), "Bytes", "ProcessTask", &shard);
      }
    }
    metric("MillisBehindLatest", static_cast<double>(c.batch->millis_behind_latest), "Milliseconds", "ProcessTask",
           &shard);
    c.bytes_since_renewal += static_cast<double>(c.batch_bytes);
    if (at_end) {
      c.children = std::move(c.batch->child_shards);
      c.batch.reset();
      c.records.clear();
      c.state = consumer_state::shard_ending;
      schedule_consumer(c, duration{0});
      return;
    }
    const bool had_records = !c.batch->records.empty();
    c.batch.reset();
    c.records.clear();
    schedule_consumer(c, c.retrieval->next_call_delay(had_records).value_or(cfg.idle_time_between_reads_in_millis));
  }

  lease child_lease(const child_shard& ch) const {
    lease l;
    l.lease_key = ch.shard_id.to_string();
    for (const auto& p : ch.parent_shards) l.parent_shard_ids.push_back(p.to_string());
    l.checkpoint = cfg.initial_position_in_stream.position == initial_position::at_timestamp
                       ? extended_sequence_number::at_timestamp()
                       : extended_sequence_number::trim_horizon();
    l.starting_hash_key = ch.hash_key_range.starting_hash_key.to_string();
    l.ending_hash_key = ch.hash_key_range.ending_hash_key.to_string();
    return l;
  }

  void end_shard(consumer& c) {
    // 1. Leases for the children (at TRIM_HORIZON), so that nothing after the
    //    parent is missed; whichever parent gets here first creates them.
    // A merge child's other parent may itself be a child whose lease nobody
    // created yet; a missing parent lease does not block, so list the shards
    // first and create every missing lease, ancestors before descendants.
    bool missing_parent = false;
    for (const auto& ch : c.children) {
      for (const auto& p : ch.parent_shards) {
        if (p.to_string() == c.l.lease_key) continue;
        auto pl = cfg.lease_store->get_lease(p.to_string());
        if (!pl) {
          schedule_consumer(c, cfg.task_backoff_time_millis);
          return;
        }
        missing_parent = missing_parent || !*pl;
      }
    }
    if (missing_parent && !sync_shards()) {
      schedule_consumer(c, cfg.task_backoff_time_millis);
      return;
    }
    std::vector<std::string> child_ids;
    for (const auto& ch : c.children) {
      child_ids.push_back(ch.shard_id.to_string());
      auto r = cfg.lease_store->create_lease_if_not_exists(child_lease(ch));
      if (!r) {
        schedule_consumer(c, cfg.task_backoff_time_millis);
        return;
      }
    }
    // 2. childShardIds on the parent.
    if (!child_ids.empty() && c.l.child_shard_ids != child_ids) {
      lease next = c.l;
      next.child_shard_ids = child_ids;
      auto r = cfg.lease_store->update_lease(next, me());
      if (!r) {
        schedule_consumer(c, cfg.task_backoff_time_millis);
        return;
      }
      if (*r == write_status::condition_failed) {
        lose(c.l.lease_key);
        return;
      }
      c.l = std::move(next);
    }
    // 3. The processor must checkpoint SHARD_END; until it does, the children wait.
    c.largest_permitted = extended_sequence_number::shard_end();
    const std::uint64_t token = c.token;
    const std::string key = c.l.lease_key;
    if (!c.l.checkpoint.is_shard_end()) {
      try {
        c.processor->shard_ended({.checkpointer = c.checkpointer});
      } catch (const std::exception& e) {
        warn("shard_ended", "kcl {}: shardEnded() of {} threw: {}", me(), key, e.what());
      } catch (...) {
        warn("shard_ended", "kcl {}: shardEnded() of {} threw", me(), key);
      }
      if (!find(key, token)) return;
    }
    if (!c.l.checkpoint.is_shard_end()) {
      warn("shard_end_checkpoint",
           "kcl {}: Application didn't checkpoint at end of shard {}; shardEnded() is called again after {} ms, and "
           "the children wait",
           me(), key, cfg.task_backoff_time_millis.count());
      metric("ShardEnded.MissingCheckpoint", 1, "Count", "ShutdownTask", &key);
      schedule_consumer(c, cfg.task_backoff_time_millis);
      return;
    }
    release_finished(c);
    schedule_take_soon();  // the children are available now
  }

  // A lease at SHARD_END is not processed again: give it back.
  void release_finished(consumer& c) {
    lease next = c.l;
    (void)cfg.lease_store->evict_lease(next, me());
    remove(c.l.lease_key);
  }

  // --- renewal and handoff ---------------------------------------------------------

  void renew_leases() {
    const auto t = now();
    const double seconds = std::chrono::duration<double>(renew_interval).count();
    // One pass over the held leases, renewing each in place (no copy of a
    // lease or its key: this runs for every held lease every renewal
    // interval); leases lost or asked for are dealt with after the pass, since
    // that removes them from `held`.
    struct after_pass {
      std::string key;
      std::uint64_t token = 0;
      std::optional<lease> handoff;  // set: hand over; else: lost
    };
    std::vector<after_pass> later;
    for (auto& [key, cp] : held) {
      consumer& c = *cp;
      if (!valid(c)) {
        later.push_back({key, c.token, std::nullopt});
        continue;
      }
      if (c.state == consumer_state::shutdown_requested || c.state == consumer_state::shutting_down) continue;
      const double kbps = seconds > 0 ? c.bytes_since_renewal / 1024.0 / seconds : 0;
      const double old_kbps = c.l.throughput_kbps;
      c.l.throughput_kbps = 0.5 * old_kbps + 0.5 * kbps;
      bool done = false;
      for (int attempt = 0; attempt < 2 && !done; ++attempt) {  // RENEWAL_RETRIES = 2
        auto r = cfg.lease_store->renew_lease(c.l);             // updates c.l only when it applies
        if (!r) continue;
        done = true;
        if (*r == write_status::applied) {
          c.last_renewal = t;
          c.bytes_since_renewal = 0;
        } else {
          c.l.throughput_kbps = old_kbps;  // condition failed: nothing was written
          auto fresh = cfg.lease_store->get_lease(key);
          if (fresh && *fresh && (*fresh)->checkpoint_owner == me() && (*fresh)->lease_owner != me()) {
            later.push_back({key, c.token, std::move(**fresh)});
          } else {
            later.push_back({key, c.token, std::nullopt});
          }
        }
      }
      if (!done) c.l.throughput_kbps = old_kbps;
    }
    int lost = 0;
    for (auto& a : later) {
      consumer* c = find(a.key, a.token);
      if (!c) continue;
      if (a.handoff) {
        handoff_out(*c, std::move(*a.handoff));
      } else {
        ++lost;
        lose(a.key);
      }
    }
    check_incoming();
    metric("CurrentLeases", static_cast<double>(held.size()), "Count", "RenewAllLeases");
    metric("LeasesHeld", static_cast<double>(held.size()), "Count", "RenewAllLeases");
    if (lost) metric("LostLeases", lost, "Count", "RenewAllLeases");
  }

  // Another worker asked for this lease: let the processor checkpoint, then hand it over.
  void handoff_out(consumer& c, lease fresh) {
    const std::string key = c.l.lease_key;
    const std::uint64_t token = c.token;
    c.l = std::move(fresh);
    c.state = consumer_state::shutdown_requested;
    if (c.initialized) {
      try {
        c.processor->shutdown_requested({.checkpointer = c.checkpointer});
      } catch (const std::exception& e) {
        warn("shutdown_requested", "kcl {}: shutdownRequested() of {} threw: {}", me(), key, e.what());
      } catch (...) {
        warn("shutdown_requested", "kcl {}: shutdownRequested() of {} threw", me(), key);
      }
    }
    consumer* still = find(key, token);
    if (!still) return;
    lease next = still->l;
    (void)cfg.lease_store->evict_lease(next, me());
    still->state = consumer_state::shutting_down;
    if (still->initialized) call_lease_lost(*still);
    metric("LeasesHandedOff", 1, "Count", "RenewAllLeases");
    remove(key);
  }

  // Leases handed to this worker: start once the old owner let go, or force.
  void check_incoming() {
    const auto t = now();
    const duration force_after =
        std::max(cfg.graceful_lease_handoff_timeout_millis, cfg.failover_time_millis + cfg.epsilon_millis);
    std::vector<std::string> keys;
    for (const auto& [k, v] : incoming) keys.push_back(k);
    for (const auto& key : keys) {
      auto fresh = cfg.lease_store->get_lease(key);
      if (!fresh) continue;
      if (!*fresh || (*fresh)->lease_owner != me()) {
        incoming.erase(key);
        continue;
      }
      lease l = **fresh;
      if (!l.checkpoint_owner) {
        incoming.erase(key);
        hold(std::move(l));
        continue;
      }
      if (t - incoming[key].started >= force_after) {
        warn("handoff_timeout", "kcl {}: {} did not hand over {} within {} ms; taking it", me(), *l.checkpoint_owner,
             key, force_after.count());
        auto r = cfg.lease_store->take_lease(l, me());
        if (!r) continue;
        incoming.erase(key);
        if (*r == write_status::applied) hold(std::move(l));
      }
    }
  }

  // --- taking and balancing -----------------------------------------------------------

  void take_leases() {
    if (auto r = cfg.lease_store->scan_leases(table); !r) {
      table.clear();
      warn("list_leases", "kcl {}: listing leases failed: {}", me(), r.error().to_string());
      return;
    }
    std::vector<lease>* all = &table;
    const auto t = now();
    // Per lease of the scan, looked up once here: held or incoming here
    // (mine), and expired (counter unchanged for the failover time).
    flags.assign(all->size(), 0);
    {
      ++observation_round;
      for (std::size_t i = 0; i < all->size(); ++i) {
        const lease& l = (*all)[i];
        auto [it, inserted] = observed.try_emplace(l.lease_key);
        observation& o = it->second;
        o.round = observation_round;
        if (detail::sight_expired(o.counter, o.last_change, inserted, l, t, cfg.failover_time_millis))
          flags[i] |= kExpired;
        if (held.count(l.lease_key) || incoming.count(l.lease_key)) flags[i] |= kMine;
      }
      if (observed.size() != all->size())
        std::erase_if(observed, [&](const auto& kv) { return kv.second.round != observation_round; });
    }
    // Leases this worker's previous incarnation left in the table.
    for (std::size_t i = 0; i < all->size(); ++i) {
      lease& l = (*all)[i];
      if (flags[i] & kMine) continue;
      if (l.checkpoint_owner == me() && l.lease_owner != me()) {
        lease c = l;
        (void)cfg.lease_store->evict_lease(c, me());  // complete the handoff it never finished
        l = c;
        continue;
      }
      if (l.lease_owner != me() || l.checkpoint.is_shard_end()) continue;
      if (l.checkpoint_owner) {
        incoming[l.lease_key] = {t};
        flags[i] |= kMine;
      } else {
        lease c = l;
        if (auto r = cfg.lease_store->take_lease(c, me()); r && *r == write_status::applied) {
          hold(std::move(c));
          flags[i] |= kMine;
        }
      }
    }
    std::map<std::string, int> counts;
    std::map<std::string, double> loads;
    counts[me()] = 0;
    loads[me()] = 0;
    std::vector<const lease*> available;
    int eligible = 0;
    for (std::size_t i = 0; i < all->size(); ++i) {
      const lease& l = (*all)[i];
      if (l.checkpoint.is_shard_end()) continue;
      ++eligible;
      if (flags[i] & kMine) {
        ++counts[me()];
        loads[me()] += l.throughput_kbps;
      } else if (!l.lease_owner || (flags[i] & kExpired)) {
        available.push_back(&l);
      } else {
        ++counts[*l.lease_owner];
        loads[*l.lease_owner] += l.throughput_kbps;
      }
    }
    const int workers = static_cast<int>(counts.size());
    int target = workers >= eligible ? 1 : (eligible + workers - 1) / workers;
    if (target > cfg.max_leases_for_worker) {
      metric("LeaseSpillover", target - cfg.max_leases_for_worker, "Count", "TakeLeases");
      target = cfg.max_leases_for_worker;
    }
    int need = target - counts[me()];
    metric("TotalLeases", eligible, "Count", "TakeLeases");
    metric("NeededLeases", std::max(need, 0), "Count", "TakeLeases");
    int taken = 0, expired_taken = 0, stolen = 0;
    if (need > 0 && !available.empty()) {
      std::shuffle(available.begin(), available.end(), rng);
      for (const lease* l : available) {
        if (need <= 0) break;
        lease c = *l;
        const bool was_owned = c.lease_owner.has_value();
        auto r = cfg.lease_store->take_lease(c, me());
        if (!r || *r != write_status::applied) continue;
        --need;
        ++taken;
        if (was_owned) ++expired_taken;
        hold(std::move(c));
      }
    } else if (available.empty()) {
      if (cfg.balancing == lease_balancing::throughput) {
        stolen = steal_by_throughput(*all, t, counts, loads);
      } else if (need > 0) {
        stolen = steal_by_count(*all, t, counts, target, need);
      }
    }
    metric("TakenLeases", taken, "Count", "TakeLeases");
    metric("ExpiredLeases", expired_taken, "Count", "TakeLeases");
    metric("StolenLeases", stolen, "Count", "TakeLeases");
  }

  std::vector<const lease*> stealable(const std::vector<lease>& all, timestamp t, const std::string& victim) {
    (void)t;
    std::vector<const lease*> out;
    for (std::size_t i = 0; i < all.size(); ++i) {
      const lease& l = all[i];
      if (l.lease_owner == victim && !l.checkpoint_owner && !l.checkpoint.is_shard_end() && !(flags[i] & kExpired))
        out.push_back(&l);
    }
    return out;
  }

  bool steal(const lease& l) {
    lease c = l;
    if (cfg.graceful_lease_handoff_enabled) {
      auto r = cfg.lease_store->initiate_handoff(c, me());
      if (!r || *r != write_status::applied) return false;
      incoming[c.lease_key] = {now()};
      return true;
    }
    auto r = cfg.lease_store->take_lease(c, me());
    if (!r || *r != write_status::applied) return false;
    hold(std::move(c));
    return true;
  }

  int steal_by_count(const std::vector<lease>& all, timestamp t, const std::map<std::string, int>& counts, int target,
                     int need) {
    std::string victim;
    int most = -1;
    for (const auto& [owner, n] : counts)
      if (owner != me() && n > most) {
        most = n;
        victim = owner;
      }
    if (victim.empty()) return 0;
    int n = 0;
    if (most > target) {
      n = std::min(need, most - target);
    } else if (most == target && need > 1) {
      n = 1;
    }
    n = std::min(n, cfg.max_leases_to_steal_at_one_time);
    if (n <= 0) return 0;
    auto candidates = stealable(all, t, victim);
    std::shuffle(candidates.begin(), candidates.end(), rng);
    int stolen = 0;
    for (const lease* l : candidates) {
      if (stolen >= n) break;
      if (steal(*l)) ++stolen;
    }
    return stolen;
  }

  int steal_by_throughput(const std::vector<lease>& all, timestamp t, const std::map<std::string, int>& counts,
                          const std::map<std::string, double>& loads) {
    double total = 0;
    for (const auto& [o, v] : loads) total += v;
    const double avg = total / static_cast<double>(counts.size());
    const double mine = loads.at(me());
    if (total <= 0 || mine >= avg * (1 - cfg.rebalance_threshold_percentage / 100)) return 0;
    std::string victim;
    double most = -1;
    for (const auto& [owner, v] : loads)
      if (owner != me() && v > most) {
        most = v;
        victim = owner;
      }
    if (victim.empty() || most <= avg) return 0;
    // Move leases that narrow the gap without overshooting: each at most what
    // this worker lacks and what the victim has in excess.
    double budget = std::min(avg - mine, most - avg);
    auto candidates = stealable(all, t, victim);
    std::sort(candidates.begin(), candidates.end(), [](const lease* a, const lease* b) {
      return a->throughput_kbps != b->throughput_kbps ? a->throughput_kbps > b->throughput_kbps
                                                      : a->lease_key < b->lease_key;
    });
    int stolen = 0;
    for (const lease* l : candidates) {
      if (stolen >= cfg.max_leases_to_steal_at_one_time) break;
      if (l->throughput_kbps <= 0 || l->throughput_kbps > budget) continue;
      if (steal(*l)) {
        ++stolen;
        budget -= l->throughput_kbps;
      }
    }
    return stolen;
  }

  // --- shard sync ---------------------------------------------------------------------

  bool sync_shards() {
    std::vector<rill::shard> shards;
    list_shards_request req;
    req.stream_name = cfg.stream_name;
    for (;;) {
      auto r = cfg.kinesis->list_shards(req);
      if (!r) {
        warn("list_shards", "kcl {}: ListShards failed: {}", me(), r.error().to_string());
        return false;
      }
      for (auto& s : r->shards) shards.push_back(std::move(s));
      if (!r->next_token) break;
      req = {};
      req.next_token = r->next_token;
    }
    auto existing = cfg.lease_store->list_leases();
    if (!existing) return false;
    std::unordered_set<std::string> known;
    known.reserve(existing->size() + shards.size());
    for (const auto& l : *existing) known.insert(l.lease_key);
    const auto pos = cfg.initial_position_in_stream.position;
    for (const auto& s : shards) {  // parents come before their children
      const std::string key = s.shard_id.to_string();
      if (known.count(key)) continue;
      lease l;
      l.lease_key = key;
      bool parent_known = false;
      for (const auto& p : {s.parent_shard_id, s.adjacent_parent_shard_id}) {
        if (!p) continue;
        l.parent_shard_ids.push_back(p->to_string());
        parent_known = parent_known || known.count(p->to_string()) > 0;
      }
      const bool open = !s.sequence_number_range.ending_sequence_number;
      if (parent_known) {
        l.checkpoint = pos == initial_position::at_timestamp ? extended_sequence_number::at_timestamp()
                                                             : extended_sequence_number::trim_horizon();
      } else if (pos == initial_position::latest) {
        if (!open) continue;  // nothing to read at LATEST in a closed shard
        l.checkpoint = extended_sequence_number::latest();
      } else {
        l.checkpoint = pos == initial_position::at_timestamp ? extended_sequence_number::at_timestamp()
                                                             : extended_sequence_number::trim_horizon();
      }
      l.starting_hash_key = s.hash_key_range.starting_hash_key.to_string();
      l.ending_hash_key = s.hash_key_range.ending_hash_key.to_string();
      auto r = cfg.lease_store->create_lease_if_not_exists(l);
      if (!r) return false;
      known.insert(key);
    }
    return true;
  }

  // --- lifecycle ----------------------------------------------------------------------

  void start() {
    std::lock_guard lock(mu);
    if (started || stopped) return;
    started = true;
    run_sync();
    run_take();
    renew_task = at(renew_interval, [this] { run_renew(); });
  }
  void run_sync() {
    sync_task = at(duration{0}, [this] {
      (void)sync_shards();
      sync_task = at(cfg.shard_sync_interval_millis, [this] { run_sync_loop(); });
    });
  }
  void run_sync_loop() {
    (void)sync_shards();
    sync_task = at(cfg.shard_sync_interval_millis, [this] { run_sync_loop(); });
  }
  void run_take() {
    take_task = at(duration{0}, [this] { run_take_loop(); });
  }
  void run_take_loop() {
    take_leases();
    take_task = at(take_interval, [this] { run_take_loop(); });
  }
  void run_renew() {
    renew_leases();
    renew_task = at(renew_interval, [this] { run_renew(); });
  }

  void stop() {
    {
      std::lock_guard lock(mu);
      if (stopped) return;
      stopped = true;
    }
    sched->shutdown();
    std::lock_guard lock(mu);
    held.clear();
    incoming.clear();
  }

  result<void> graceful_shutdown() {
    std::optional<error> failure;
    {
      std::lock_guard lock(mu);
      if (stopped) return {};
      std::vector<std::string> keys;
      for (const auto& [k, c] : held) keys.push_back(k);
      for (const auto& key : keys) {
        auto it = held.find(key);
        if (it == held.end()) continue;
        consumer& c = *it->second;
        const std::uint64_t token = c.token;
        if (!valid(c)) {
          lose(key);
          continue;
        }
        c.state = consumer_state::shutdown_requested;
        if (c.initialized) {
          try {
            c.processor->shutdown_requested({.checkpointer = c.checkpointer});
          } catch (const std::exception& e) {
            warn("shutdown_requested", "kcl {}: shutdownRequested() of {} threw: {}", me(), key, e.what());
          } catch (...) {
            warn("shutdown_requested", "kcl {}: shutdownRequested() of {} threw", me(), key);
          }
        }
        consumer* still = find(key, token);
        if (!still) continue;
        lease next = still->l;
        auto r = cfg.lease_store->evict_lease(next, me());
        if (!r && !failure) failure = r.error();
        still->state = consumer_state::shutting_down;
        if (still->initialized) call_lease_lost(*still);
        remove(key);
      }
      for (const auto& [key, h] : incoming) {
        auto fresh = cfg.lease_store->get_lease(key);
        if (fresh && *fresh && (*fresh)->lease_owner == me()) {
          lease next = **fresh;
          (void)cfg.lease_store->evict_lease(next, me());
        }
      }
      incoming.clear();
    }
    stop();
    if (failure) return *failure;
    return {};
  }
};

namespace {

class prepared_impl final : public prepared_checkpointer {
 public:
  prepared_impl(std::shared_ptr<record_processor_checkpointer> parent, extended_sequence_number esn)
      : parent_(std::move(parent)), esn_(std::move(esn)) {}
  extended_sequence_number pending_checkpoint() const override { return esn_; }
  result<void> checkpoint() override { return parent_->checkpoint(esn_.sequence_number, esn_.sub_sequence_number); }

 private:
  std::shared_ptr<record_processor_checkpointer> parent_;
  extended_sequence_number esn_;
};

}  // namespace

struct scheduler::core::checkpointer_impl final : public record_processor_checkpointer,
                                                  public std::enable_shared_from_this<checkpointer_impl> {
 public:
  checkpointer_impl(std::weak_ptr<core> c, std::string key, std::uint64_t token)
      : core_(std::move(c)), key_(std::move(key)), token_(token) {}

  result<void> checkpoint() override {
    return with([&](core& c, consumer& s) { return c.write_checkpoint(key_, token_, s.largest_permitted, false, {}); });
  }
  result<void> checkpoint(const kinesis_client_record& record) override {
    return checkpoint(record.sequence_number.to_string(), static_cast<std::int64_t>(record.sub_sequence_number));
  }
  result<void> checkpoint(const std::string& sequence_number, std::int64_t sub) override {
    extended_sequence_number esn{sequence_number, sub};
    return with([&](core& c, consumer&) { return c.write_checkpoint(key_, token_, esn, false, {}); });
  }
  result<std::shared_ptr<prepared_checkpointer>> prepare_checkpoint(std::optional<std::string> state) override {
    extended_sequence_number esn;
    auto r = with([&](core& c, consumer& s) {
      esn = s.largest_permitted;
      return c.write_checkpoint(key_, token_, esn, true, std::move(state));
    });
    if (!r) return r.error();
    return std::shared_ptr<prepared_checkpointer>(std::make_shared<prepared_impl>(shared_from_this(), esn));
  }
  result<std::shared_ptr<prepared_checkpointer>> prepare_checkpoint(const std::string& sequence_number,
                                                                    std::int64_t sub,
                                                                    std::optional<std::string> state) override {
    extended_sequence_number esn{sequence_number, sub};
    auto r = with([&](core& c, consumer&) { return c.write_checkpoint(key_, token_, esn, true, std::move(state)); });
    if (!r) return r.error();
    return std::shared_ptr<prepared_checkpointer>(std::make_shared<prepared_impl>(shared_from_this(), esn));
  }
  extended_sequence_number last_checkpoint_value() const override {
    auto c = core_.lock();
    if (!c) return last_;
    std::lock_guard lock(c->mu);
    if (auto* s = c->find(key_, token_)) last_ = s->last_checkpoint;
    return last_;
  }
  extended_sequence_number largest_permitted_checkpoint_value() const override {
    auto c = core_.lock();
    if (!c) return largest_;
    std::lock_guard lock(c->mu);
    if (auto* s = c->find(key_, token_)) largest_ = s->largest_permitted;
    return largest_;
  }

 private:
  template <class F>
  result<void> with(F f) {
    auto c = core_.lock();
    if (!c) return shutdown_error(key_);
    std::lock_guard lock(c->mu);
    auto* s = c->find(key_, token_);
    if (!s || c->stopped) return shutdown_error(key_);
    auto r = f(*c, *s);
    if (auto* after = c->find(key_, token_)) {
      last_ = after->last_checkpoint;
      largest_ = after->largest_permitted;
    }
    return r;
  }

  std::weak_ptr<core> core_;
  std::string key_;
  std::uint64_t token_;
  mutable extended_sequence_number last_{};
  mutable extended_sequence_number largest_{};
};

std::shared_ptr<record_processor_checkpointer> scheduler::core::make_checkpointer(const std::string& key,
                                                                                  std::uint64_t token) {
  return std::make_shared<checkpointer_impl>(weak_from_this(), key, token);
}

// --- scheduler -----------------------------------------------------------------------------

result<std::unique_ptr<scheduler>> scheduler::create(config c) {
  auto invalid = [](std::string m) { return error(error_code::validation_exception, std::move(m)); };
  if (c.stream_name.empty()) return invalid("config.stream_name is required");
  if (c.worker_identifier.empty()) return invalid("config.worker_identifier is required");
  if (!c.kinesis) return invalid("config.kinesis is required");
  if (!c.lease_store) return invalid("config.lease_store is required");
  if (!c.clock) return invalid("config.clock is required");
  if (!c.shard_record_processor_factory) return invalid("config.shard_record_processor_factory is required");
  if (c.epsilon_millis.count() < 0 || c.failover_time_millis / 3 - c.epsilon_millis <= duration{0})
    return invalid("config.failover_time_millis must exceed 3 * epsilon_millis");
  if (c.max_records < 1 || c.max_records > 10000) return invalid("config.max_records must be in 1..10000");
  if (c.max_leases_for_worker < 1) return invalid("config.max_leases_for_worker must be at least 1");
  if (c.max_leases_to_steal_at_one_time < 1) return invalid("config.max_leases_to_steal_at_one_time must be >= 1");
  if (c.idle_time_between_reads_in_millis.count() < 0 || c.task_backoff_time_millis.count() < 0 ||
      c.parent_shard_poll_interval_millis.count() < 0 || c.shard_sync_interval_millis.count() <= 0)
    return invalid("config intervals must not be negative");
  if (c.process_records_retry_attempts < 0) return invalid("config.process_records_retry_attempts must be >= 0");
  if (c.initial_position_in_stream.position == initial_position::at_timestamp &&
      !c.initial_position_in_stream.timestamp)
    return invalid("config.initial_position_in_stream: AT_TIMESTAMP needs a timestamp");
  return std::unique_ptr<scheduler>(new scheduler(std::make_shared<core>(std::move(c))));
}

scheduler::scheduler(std::shared_ptr<core> c) : core_(std::move(c)) {}
scheduler::~scheduler() { core_->stop(); }
void scheduler::start() { core_->start(); }
result<void> scheduler::graceful_shutdown() { return core_->graceful_shutdown(); }
void scheduler::shutdown() { core_->stop(); }
const std::string& scheduler::worker_identifier() const noexcept { return core_->cfg.worker_identifier; }

std::vector<shard_info> scheduler::shards() const {
  std::lock_guard lock(core_->mu);
  std::vector<shard_info> out;
  for (const auto& [k, c] : core_->held) out.push_back({k, std::string(to_string(c->state)), c->l.checkpoint});
  for (const auto& [k, h] : core_->incoming) out.push_back({k, "PENDING_HANDOFF", {}});
  std::sort(out.begin(), out.end(), [](const shard_info& a, const shard_info& b) { return a.shard_id < b.shard_id; });
  return out;
}

}  // namespace rill::kcl
