// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Enhanced fan-out retrieval (KCL 2.x FanOutRecordsPublisher), through the
// public rill::kinesis calls only. One subscription per shard retrieval, in the
// subscription's callback mode: its handler queues each event (bounded: pause,
// or cancel and renew later) and signals the scheduler's shard consumer, which
// takes the events one per call and waits for the next signal when the queue is
// empty (no polling). When a subscription ends for any reason the next call
// subscribes again AFTER_SEQUENCE_NUMBER the last continuation sequence number,
// so within one lease tenure nothing is skipped or repeated. Events become
// get_records_result batches whose records view the event (kept alive by the
// result's buffer), so the scheduler handles both modes alike: deaggregation,
// checkpoints, and the end of a shard (no continuation, child shards).
#include <algorithm>
#include <deque>
#include <map>
#include <mutex>

#include "rill/kcl.hpp"

namespace rill::kcl {
namespace {

// The consumer ARN per stream, shared by every retrieval of one factory.
class registration {
 public:
  explicit registration(fan_out_config c) : cfg_(std::move(c)) {}

  result<std::string> consumer_arn(rill::kinesis& kinesis, const retrieval_start& start) {
    if (cfg_.consumer_arn) return *cfg_.consumer_arn;
    std::lock_guard lock(mu_);
    if (auto it = arns_.find(start.stream_name); it != arns_.end()) return it->second;
    const std::string name = cfg_.consumer_name.empty() ? start.application_name : cfg_.consumer_name;
    auto summary = kinesis.describe_stream_summary({.stream_name = start.stream_name});
    if (!summary) return summary.error();
    const std::string stream_arn = summary->stream_description_summary.stream_arn;
    auto described = kinesis.describe_stream_consumer({.stream_arn = stream_arn, .consumer_name = name});
    if (!described) {
      if (described.error().code() != error_code::resource_not_found_exception) return described.error();
      // Absent: register it. Another worker may do the same at once: its
      // ResourceInUseException is an error now and a describe next time.
      auto registered = kinesis.register_stream_consumer({.stream_arn = stream_arn, .consumer_name = name});
      if (!registered) return registered.error();
      return ready(start.stream_name, registered->consumer.consumer_arn, registered->consumer.consumer_status);
    }
    const auto& d = described->consumer_description;
    return ready(start.stream_name, d.consumer_arn, d.consumer_status);
  }

  // The consumer went away (deregistered): describe it again next time.
  void forget(const std::string& stream_name) {
    std::lock_guard lock(mu_);
    arns_.erase(stream_name);
  }

  const fan_out_config& config() const { return cfg_; }

 private:
  result<std::string> ready(const std::string& stream, const std::string& arn, consumer_status status) {
    if (status != consumer_status::active)
      return error(error_code::resource_in_use_exception,
                   "Consumer " + arn + " is " + std::string(to_string(status)) + ", not ACTIVE yet");
    arns_[stream] = arn;
    return arn;
  }

  fan_out_config cfg_;
  std::mutex mu_;
  std::map<std::string, std::string> arns_;
};

// What the subscription's handler (on its delivery thread) shares with the
// retrieval (on the worker's scheduler): a bounded queue of events.
struct inbox {
  std::mutex mu;
  std::deque<result<subscribe_to_shard_event>> events;  // an error ends the subscription
  std::deque<std::size_t> sizes;                        // record bytes of each event
  std::size_t bytes = 0;
  std::uint64_t generation = 0;  // of the subscription the handler belongs to
  bool ended = false;            // the current subscription delivers nothing more
  bool waiting = false;          // the consumer found nothing: signal the next arrival
  bool stopped = false;          // over the bound: delivery paused or cancelled
  // A heartbeat while nothing is queued: the continuation moved on.
  std::optional<std::string> idle_continuation;
  bool cancelled = false;           // stopped by cancel() (no pause()): renew when drained
  std::weak_ptr<subscription> sub;  // of this generation, once subscribe_to_shard returned
  std::size_t max_events = 3, max_bytes = 8 << 20;
  std::function<void()> ready;
};

std::size_t bytes_of(const subscribe_to_shard_event& ev) {
  std::size_t n = 0;
  for (const auto& r : ev.records) n += r.data.size() + r.partition_key.size();
  return n;
}

// pause()/resume() where rill::subscription has them (callback-mode
// back-pressure); else the subscription is cancelled and renewed later.
template <class S>
bool pause_delivery(S& s) {
  if constexpr (requires { s.pause(); }) {
    s.pause();
    return true;
  } else {
    (void)s;
    return false;
  }
}
template <class S>
constexpr bool has_pause = requires(S& s) {
  s.pause();
};
constexpr bool pausable = has_pause<subscription>;
template <class S>
void resume_delivery(S& s) {
  if constexpr (requires { s.resume(); }) s.resume();
}

class fan_out_retrieval final : public record_retrieval {
 public:
  fan_out_retrieval(rill::kinesis& kinesis, retrieval_start start, std::shared_ptr<registration> reg)
      : kinesis_(kinesis), start_(std::move(start)), reg_(std::move(reg)), inbox_(std::make_shared<inbox>()) {}

  ~fan_out_retrieval() override {
    {
      std::lock_guard lock(inbox_->mu);
      inbox_->ready = nullptr;
      ++inbox_->generation;
    }
    if (sub_) sub_->cancel();
  }

  bool set_ready_callback(std::function<void()> ready) override {
    std::lock_guard lock(inbox_->mu);
    inbox_->ready = std::move(ready);
    return true;
  }

  result<get_records_result> get_next_batch() override {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!sub_) {
        if (auto s = subscribe(); !s) return s.error();
      }
      std::optional<result<subscribe_to_shard_event>> next;
      bool resume = false, renew = false;
      {
        std::lock_guard lock(inbox_->mu);
        if (!inbox_->events.empty()) {
          next.emplace(std::move(inbox_->events.front()));
          inbox_->events.pop_front();
          inbox_->bytes -= inbox_->sizes.front();
          inbox_->sizes.pop_front();
          if (inbox_->stopped && inbox_->events.empty()) {
            // Caught up with what was delivered: let the subscription go on.
            inbox_->stopped = false;
            if (inbox_->cancelled) {
              renew = true;  // subscribe again after this event's continuation
            } else {
              resume = true;
            }
          }
        } else if (inbox_->ended) {
          if (inbox_->idle_continuation) continuation_ = std::move(inbox_->idle_continuation);
          renew = true;
        } else {
          if (inbox_->idle_continuation) continuation_ = std::move(inbox_->idle_continuation);
          inbox_->idle_continuation.reset();
          inbox_->waiting = true;
        }
      }
      if (resume) resume_delivery(*sub_);
      if (next) {
        auto ev = std::move(*next);
        if (renew) drop_subscription();
        if (!ev) {  // taken over, consumer or stream gone, engine down: subscribe again next call
          drop_subscription();
          if (ev.error().code() == error_code::resource_not_found_exception) reg_->forget(start_.stream_name);
          return ev.error();
        }
        return to_batch(std::move(*ev));
      }
      if (!renew) return idle_batch();
      // Ended normally (its 5 minutes, or cancelled for back-pressure):
      // resubscribe from the continuation at once.
      drop_subscription();
    }
    return idle_batch();
  }

  // Read live (not from the last call): a batch may be delivered again after a
  // backoff, and events may have come meanwhile. Going idle arms the signal.
  std::optional<duration> next_call_delay(bool had_records) const override {
    (void)had_records;
    std::lock_guard lock(inbox_->mu);
    if (!sub_ || !inbox_->events.empty() || inbox_->ended) return duration{0};
    inbox_->waiting = true;
    return until_ready;
  }

 private:
  void drop_subscription() {
    {
      std::lock_guard lock(inbox_->mu);
      ++inbox_->generation;  // late calls of the old handler are ignored
      inbox_->events.clear();
      inbox_->sizes.clear();
      inbox_->bytes = 0;
      inbox_->ended = false;
      inbox_->stopped = false;
      inbox_->cancelled = false;
      inbox_->idle_continuation.reset();
      inbox_->sub.reset();
    }
    if (sub_) sub_->cancel();
    sub_.reset();
  }

  // The handler, on the subscription's delivery thread.
  static void deliver(const std::shared_ptr<inbox>& box, std::uint64_t gen, result<subscribe_to_shard_event> ev) {
    std::function<void()> ready;
    std::shared_ptr<subscription> stop;
    bool cancel = false;
    {
      std::lock_guard lock(box->mu);
      if (gen != box->generation) return;
      const bool heartbeat = ev && ev->records.empty() && ev->continuation_sequence_number && ev->child_shards.empty();
      if (heartbeat && box->events.empty()) {
        box->idle_continuation = std::move(ev->continuation_sequence_number);
        return;  // nothing to process: no wake-up
      }
      const std::size_t size = ev ? bytes_of(*ev) : 0;
      box->bytes += size;
      if (!ev || !ev->continuation_sequence_number) box->ended = true;
      box->events.push_back(std::move(ev));
      box->sizes.push_back(size);
      if (!box->ended) {
        if (box->stopped) {
          // Delivered although stopped: pause() is not implemented here.
          cancel = !box->cancelled;
          box->cancelled = true;
          stop = box->sub.lock();
        } else if (box->events.size() >= box->max_events || box->bytes >= box->max_bytes) {
          box->stopped = true;
          stop = box->sub.lock();
          cancel = !pausable;
          box->cancelled = cancel;
        }
      }
      if (box->waiting) {
        box->waiting = false;
        ready = box->ready;
      }
    }
    if (stop) {
      if (cancel) {
        stop->cancel();
      } else {
        pause_delivery(*stop);
      }
    }
    if (ready) ready();
  }
  static void completed(const std::shared_ptr<inbox>& box, std::uint64_t gen) {
    std::function<void()> ready;
    {
      std::lock_guard lock(box->mu);
      if (gen != box->generation) return;
      box->ended = true;
      if (box->waiting) {
        box->waiting = false;
        ready = box->ready;
      }
    }
    if (ready) ready();
  }

  result<void> subscribe() {
    auto arn = reg_->consumer_arn(kinesis_, start_);
    if (!arn) return arn.error();
    subscribe_to_shard_request req;
    req.consumer_arn = *arn;
    req.shard_id = start_.shard_id;
    req.options.max_event_records = start_.max_records;
    auto& pos = req.starting_position;
    if (continuation_) {
      pos.type = shard_iterator_type::after_sequence_number;
      pos.sequence_number = continuation_;
    } else if (start_.position == extended_sequence_number::trim_horizon()) {
      pos.type = shard_iterator_type::trim_horizon;
    } else if (start_.position == extended_sequence_number::latest()) {
      pos.type = shard_iterator_type::latest;
    } else if (start_.position == extended_sequence_number::at_timestamp()) {
      pos.type = shard_iterator_type::at_timestamp;
      pos.timestamp = start_.timestamp;
    } else {
      // As polling: the aggregate holding the checkpointed sub-record comes
      // again, and the scheduler drops what is at or before the checkpoint.
      pos.type = shard_iterator_type::at_sequence_number;
      pos.sequence_number = start_.position.sequence_number;
    }
    std::uint64_t gen = 0;
    {
      std::lock_guard lock(inbox_->mu);
      gen = ++inbox_->generation;
      inbox_->events.clear();
      inbox_->sizes.clear();
      inbox_->bytes = 0;
      inbox_->ended = false;
      inbox_->stopped = false;
      inbox_->cancelled = false;
      inbox_->idle_continuation.reset();
      inbox_->max_events = static_cast<std::size_t>(std::max(1, reg_->config().max_pending_events));
      inbox_->max_bytes = static_cast<std::size_t>(std::max<std::int64_t>(1, reg_->config().max_pending_bytes));
    }
    // The handler learns its subscription once subscribe_to_shard returned;
    // an event over the bound before that is stopped at the next one.
    auto box = inbox_;
    req.options.handler = [box, gen](result<subscribe_to_shard_event> ev) { deliver(box, gen, std::move(ev)); };
    req.options.on_complete = [box, gen] { completed(box, gen); };
    auto s = kinesis_.subscribe_to_shard(req);
    if (!s) {
      if (s.error().code() == error_code::resource_not_found_exception) reg_->forget(start_.stream_name);
      return s.error();
    }
    sub_ = std::move(*s);
    std::lock_guard lock(inbox_->mu);
    if (gen == inbox_->generation) inbox_->sub = sub_;
    return {};
  }

  // An event as a GetRecords batch: the records view the event, which the
  // result's buffer keeps alive.
  get_records_result to_batch(subscribe_to_shard_event ev) {
    auto owned = std::make_shared<subscribe_to_shard_event>(std::move(ev));
    get_records_result out;
    out.records.reserve(owned->records.size());
    for (const auto& r : owned->records)
      out.records.push_back(
          {r.sequence_number, r.approximate_arrival_timestamp, r.data, r.partition_key, r.encryption_type});
    out.millis_behind_latest = owned->millis_behind_latest;
    if (owned->continuation_sequence_number) {
      continuation_ = owned->continuation_sequence_number;
      out.next_shard_iterator = *continuation_;
    } else {
      out.child_shards = owned->child_shards;  // the end of a closed shard
      drop_subscription();
    }
    out.buffer = std::move(owned);
    return out;
  }

  get_records_result idle_batch() const {
    get_records_result out;
    out.next_shard_iterator = continuation_.value_or(start_.position.sequence_number);
    return out;
  }

  rill::kinesis& kinesis_;
  retrieval_start start_;
  std::shared_ptr<registration> reg_;
  std::shared_ptr<inbox> inbox_;
  std::shared_ptr<subscription> sub_;
  std::optional<std::string> continuation_;
};

class fan_out_factory final : public retrieval_factory {
 public:
  explicit fan_out_factory(fan_out_config c) : reg_(std::make_shared<registration>(std::move(c))) {}
  std::unique_ptr<record_retrieval> create(rill::kinesis& kinesis, const retrieval_start& start) override {
    return std::make_unique<fan_out_retrieval>(kinesis, start, reg_);
  }

 private:
  std::shared_ptr<registration> reg_;
};

}  // namespace

std::shared_ptr<retrieval_factory> make_fan_out_retrieval_factory(fan_out_config c) {
  return std::make_shared<fan_out_factory>(std::move(c));
}

}  // namespace rill::kcl
