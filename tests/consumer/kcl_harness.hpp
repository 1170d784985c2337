// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Test harness for the KCL scheduler: a journal every processor writes to, a
// recording processor with configurable checkpoint behaviour, and a pausable
// clock (a worker whose clock is paused runs none of its tasks: it stops
// renewing, and resumes later as a zombie).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "rill/engine.hpp"
#include "rill/kcl.hpp"

namespace rill::kcl::testing {

/// One processor tenure of one shard.
struct incarnation {
  int id = 0;
  std::string worker;
  std::string shard;
  timestamp initialized_at{};
  extended_sequence_number initial{};
  std::optional<extended_sequence_number> pending{};
  bool shutdown_requested = false;
  bool lease_lost = false;
  bool shard_ended = false;
  std::vector<extended_sequence_number> delivered;
  // Parents' checkpoints when this incarnation initialized.
  std::vector<extended_sequence_number> parent_checkpoints;
};

struct delivery {
  timestamp at{};
  int incarnation = 0;
  std::string shard;
  extended_sequence_number esn;
  std::string data;
};

struct journal {
  std::vector<incarnation> incarnations;
  std::vector<delivery> deliveries;
  std::map<std::string, int> throws_left;  // shard -> how many process_records calls throw
  int process_calls = 0;
};

struct processor_options {
  bool checkpoint_every_batch = true;
  /// With checkpoint_every_batch: checkpoint only every n-th batch (records after
  /// the last checkpoint are delivered again after a failover).
  int checkpoint_every_n_batches = 1;
  bool checkpoint_at_shard_end = true;
  bool checkpoint_on_shutdown = true;
};

class recording_processor final : public shard_record_processor {
 public:
  recording_processor(journal& j, std::string worker, std::shared_ptr<rill::clock> clock,
                      std::shared_ptr<lease_store> store, processor_options o)
      : j_(j), worker_(std::move(worker)), clock_(std::move(clock)), store_(std::move(store)), o_(o) {}

  void initialize(const initialization_input& in) override {
    incarnation inc;
    inc.id = static_cast<int>(j_.incarnations.size());
    inc.worker = worker_;
    inc.shard = in.shard_id;
    inc.initialized_at = clock_->now();
    inc.initial = in.extended_sequence_number;
    inc.pending = in.pending_checkpoint_sequence_number;
    if (auto l = store_->get_lease(in.shard_id); l && *l) {
      for (const auto& p : (*l)->parent_shard_ids) {
        auto pl = store_->get_lease(p);
        if (pl && *pl) inc.parent_checkpoints.push_back((*pl)->checkpoint);
      }
    }
    id_ = inc.id;
    j_.incarnations.push_back(std::move(inc));
  }
  void process_records(const process_records_input& in) override {
    ++j_.process_calls;
    auto& inc = j_.incarnations[static_cast<std::size_t>(id_)];
    if (auto it = j_.throws_left.find(inc.shard); it != j_.throws_left.end() && it->second > 0) {
      --it->second;
      throw std::runtime_error("processor failure");
    }
    for (const auto& r : in.records) {
      auto esn = extended_sequence_number_of(r);
      inc.delivered.push_back(esn);
      j_.deliveries.push_back({clock_->now(), id_, inc.shard, esn, std::string(r.data)});
    }
    if (o_.checkpoint_every_batch && ++batches_ % o_.checkpoint_every_n_batches == 0)
      last_checkpoint_ = in.checkpointer->checkpoint();
  }
  void lease_lost(const lease_lost_input&) override {
    j_.incarnations[static_cast<std::size_t>(id_)].lease_lost = true;
  }
  void shard_ended(const shard_ended_input& in) override {
    j_.incarnations[static_cast<std::size_t>(id_)].shard_ended = true;
    if (o_.checkpoint_at_shard_end) last_checkpoint_ = in.checkpointer->checkpoint();
  }
  void shutdown_requested(const shutdown_requested_input& in) override {
    j_.incarnations[static_cast<std::size_t>(id_)].shutdown_requested = true;
    if (o_.checkpoint_on_shutdown) last_checkpoint_ = in.checkpointer->checkpoint();
  }

  result<void> last_checkpoint_{};

 private:
  journal& j_;
  std::string worker_;
  std::shared_ptr<rill::clock> clock_;
  std::shared_ptr<lease_store> store_;
  processor_options o_;
  int id_ = -1;
  int batches_ = 0;
};

/// A clock over a manual clock whose schedulers hold back every task while paused.
class pausable_clock final : public rill::clock {
 public:
  explicit pausable_clock(std::shared_ptr<manual_clock> inner) : inner_(std::move(inner)) {}
  timestamp now() const noexcept override { return inner_->now(); }
  std::unique_ptr<rill::scheduler> make_scheduler() override {
    auto s = std::make_unique<sched>(*this, inner_->make_scheduler());
    return s;
  }
  void pause() { paused_ = true; }
  void resume() {
    paused_ = false;
    for (sched* s : live_) s->release();
  }
  bool paused() const { return paused_; }

 private:
  class sched final : public rill::scheduler {
   public:
    sched(pausable_clock& c, std::unique_ptr<rill::scheduler> inner) : c_(c), inner_(std::move(inner)) {
      c_.live_.insert(this);
    }
    ~sched() override {
      inner_->shutdown();
      c_.live_.erase(this);
    }
    task_id call_at(timestamp due, std::function<void()> task) override {
      return inner_->call_at(due, [this, task = std::move(task)]() mutable {
        if (c_.paused_) {
          held_.push_back(std::move(task));
        } else {
          task();
        }
      });
    }
    bool cancel(task_id id) override { return inner_->cancel(id); }
    void shutdown() override {
      inner_->shutdown();
      held_.clear();
    }
    void release() {
      auto tasks = std::move(held_);
      held_.clear();
      for (auto& t : tasks) inner_->call_at(c_.now(), std::move(t));
    }

   private:
    pausable_clock& c_;
    std::unique_ptr<rill::scheduler> inner_;
    std::vector<std::function<void()>> held_;
  };

  std::shared_ptr<manual_clock> inner_;
  bool paused_ = false;
  std::set<sched*> live_;
};

/// The position of the newest record of every shard, by reading the stream.
inline std::map<std::string, extended_sequence_number> tips(rill::kinesis& k, const std::string& stream) {
  std::map<std::string, extended_sequence_number> out;
  auto shards = k.list_shards({.stream_name = stream});
  if (!shards) return out;
  for (const auto& s : shards->shards) {
    const std::string id = s.shard_id.to_string();
    auto it = k.get_shard_iterator({.stream_name = stream, .shard_id = id});
    if (!it) continue;
    std::optional<std::string> iter = it->shard_iterator;
    extended_sequence_number last = extended_sequence_number::trim_horizon();
    while (iter) {
      auto got = k.get_records({.shard_iterator = *iter});
      if (!got) break;
      for (const auto& r : got->records) {
        auto members = kpl::deaggregate(r, s.hash_key_range);
        if (!members.records.empty()) last = extended_sequence_number_of(members.records.back());
      }
      if (got->records.empty() && got->millis_behind_latest == 0) break;
      iter = got->next_shard_iterator;
    }
    out[id] = s.sequence_number_range.ending_sequence_number ? extended_sequence_number::shard_end() : last;
  }
  return out;
}

}  // namespace rill::kcl::testing
