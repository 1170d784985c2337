// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Enhanced fan-out retrieval (KCL 2.x FanOutRecordsPublisher), through the
// public rill::kinesis calls only. One subscription per shard retrieval, pulled
// (try_pull, never blocking) by the scheduler's shard consumer; when it ends for
// any reason the next call subscribes again AFTER_SEQUENCE_NUMBER the last
// continuation sequence number, so within one lease tenure nothing is skipped or
// repeated. Events become get_records_result batches whose records view the
// event (kept alive by the result's buffer), so the scheduler handles both modes
// alike: deaggregation, checkpoints, and the end of a shard (no continuation,
// child shards).
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

class fan_out_retrieval final : public record_retrieval {
 public:
  fan_out_retrieval(rill::kinesis& kinesis, retrieval_start start, std::shared_ptr<registration> reg)
      : kinesis_(kinesis), start_(std::move(start)), reg_(std::move(reg)) {}

  result<get_records_result> get_next_batch() override {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!sub_) {
        if (auto s = subscribe(); !s) return s.error();
      }
      auto pulled = sub_->try_pull();
      if (!pulled) {  // taken over, consumer or stream gone, engine down: subscribe again next call
        sub_.reset();
        if (pulled.error().code() == error_code::resource_not_found_exception) reg_->forget(start_.stream_name);
        return pulled.error();
      }
      if (*pulled) return to_batch(std::move(**pulled));
      if (!sub_->ended()) return idle_batch();
      sub_.reset();  // ended normally (its 5 minutes): resubscribe from the continuation at once
    }
    return idle_batch();
  }

  std::optional<duration> next_call_delay(bool had_records) const override {
    return had_records ? duration{0} : reg_->config().idle_poll_interval;
  }

 private:
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
    auto s = kinesis_.subscribe_to_shard(req);
    if (!s) {
      if (s.error().code() == error_code::resource_not_found_exception) reg_->forget(start_.stream_name);
      return s.error();
    }
    sub_ = std::move(*s);
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
      sub_.reset();
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
