// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "server/event_pipe.hpp"

#include <algorithm>
#include <cstring>

#include "server/eventstream.hpp"

namespace rill::wire {
namespace {

std::string_view payload_type(body_format f) {
  return f == body_format::cbor ? "application/x-amz-cbor-1.1" : "application/json";
}

// A record views its event's buffer: serialized while the event is alive.
json record_json(const rill::record& r) {
  json j = json::object();
  j["SequenceNumber"] = r.sequence_number.to_string();
  j["ApproximateArrivalTimestamp"] = timestamp_value(r.approximate_arrival_timestamp);
  j["Data"] = blob_value(r.data);
  j["PartitionKey"] = r.partition_key;
  if (r.encryption_type != encryption_type::none) j["EncryptionType"] = to_string(r.encryption_type);
  return j;
}

}  // namespace

std::string write_subscribe_event(const subscribe_to_shard_event& ev, body_format f) {
  json j = json::object();
  json records = json::array();
  for (const auto& r : ev.records) records.push_back(record_json(r));
  j["Records"] = std::move(records);
  if (ev.continuation_sequence_number) j["ContinuationSequenceNumber"] = *ev.continuation_sequence_number;
  j["MillisBehindLatest"] = ev.millis_behind_latest;
  if (!ev.child_shards.empty() || !ev.continuation_sequence_number) {
    json children = json::array();
    for (const auto& c : ev.child_shards) {
      json parents = json::array();
      for (const auto& p : c.parent_shards) parents.push_back(p.to_string());
      children.push_back(json{{"ShardId", c.shard_id.to_string()},
                              {"ParentShards", std::move(parents)},
                              {"HashKeyRange", json{{"StartingHashKey", c.hash_key_range.starting_hash_key.to_string()},
                                                    {"EndingHashKey", c.hash_key_range.ending_hash_key.to_string()}}}});
    }
    j["ChildShards"] = std::move(children);
  }
  return write_body(j, f);
}

result<std::shared_ptr<event_pipe>> event_pipe::subscribe(rill::kinesis& k, subscribe_to_shard_request req,
                                                          body_format f) {
  auto pipe = std::make_shared<event_pipe>(f);
  // The initial-response event comes first (AWS sends it; the SDKs expect it).
  pipe->queue_ = event_frame("initial-response", payload_type(f), write_body(json::object(), f));
  pipe->outstanding_ = pipe->queue_.size();
  std::weak_ptr<event_pipe> w = pipe;
  req.options.handler = [w](result<subscribe_to_shard_event> r) {
    if (auto p = w.lock()) p->on_event(std::move(r));
  };
  req.options.on_complete = [w] {
    if (auto p = w.lock()) p->on_complete();
  };
  auto sub = k.subscribe_to_shard(req);
  if (!sub) return sub.error();
  std::lock_guard lock(pipe->mu_);
  pipe->sub_ = std::move(*sub);
  if (pipe->pause_wanted_) {
    pipe->pause_wanted_ = false;
    pipe->paused_ = true;
    pipe->sub_->pause();
  }
  return pipe;
}

event_pipe::event_pipe(body_format f) : format_(f) {}

event_pipe::~event_pipe() { close(); }

void event_pipe::attach(std::function<void()> notify) {
  bool ready = false;
  {
    std::lock_guard lock(mu_);
    notify_ = std::move(notify);
    ready = head_ < queue_.size() || ended_;
  }
  if (ready) notify_();
}

void event_pipe::push(std::string frame, bool last) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    if (closed_ || ended_) return;
    if (head_ > 0 && head_ * 2 >= queue_.size()) {
      queue_.erase(0, head_);
      head_ = 0;
    }
    queue_ += frame;
    outstanding_ += frame.size();
    ended_ = last;
    if (!last && !paused_ && outstanding_ > high_water) {
      // Called on the delivery thread, inside the handler: the subscription
      // stops before reading its next event.
      paused_ = true;
      if (sub_) {
        sub_->pause();
      } else {
        pause_wanted_ = true;
      }
    }
    notify = notify_;
  }
  if (notify) notify();
}

void event_pipe::on_event(result<subscribe_to_shard_event> r) {
  if (!r) {
    const error& e = r.error();
    json body = json::object();
    body["message"] = e.message();
    push(exception_frame(e.name(), payload_type(format_), write_body(body, format_)), true);
    return;
  }
  push(event_frame("SubscribeToShardEvent", payload_type(format_), write_subscribe_event(*r, format_)), false);
}

void event_pipe::on_complete() {
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    if (closed_ || ended_) return;
    ended_ = true;
    notify = notify_;
  }
  if (notify) notify();
}

std::string event_pipe::take(bool& ended) {
  std::lock_guard lock(mu_);
  std::string out = queue_.substr(head_);
  queue_.clear();
  head_ = 0;
  ended = ended_;
  return out;
}

std::size_t event_pipe::read(char* buf, std::size_t n, bool& ended) {
  std::size_t k = 0;
  {
    std::lock_guard lock(mu_);
    k = std::min(n, queue_.size() - head_);
    std::memcpy(buf, queue_.data() + head_, k);
    head_ += k;
    if (head_ == queue_.size()) {
      queue_.clear();
      head_ = 0;
    }
    ended = ended_ && head_ == queue_.size();
  }
  written(k);
  return k;
}

void event_pipe::written(std::size_t n) {
  std::shared_ptr<subscription> resume;
  {
    std::lock_guard lock(mu_);
    outstanding_ -= std::min(n, outstanding_);
    if (paused_ && outstanding_ <= low_water) {
      paused_ = false;
      pause_wanted_ = false;
      resume = sub_;
    }
  }
  if (resume) resume->resume();
}

void event_pipe::close() {
  std::shared_ptr<subscription> sub;
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    sub = std::move(sub_);
    notify = std::move(notify_);
    notify_ = nullptr;
    queue_.clear();
    head_ = 0;
  }
  // Outside the lock: cancelling may wait for a handler call in progress, and
  // the notification may hold the last reference to its connection.
  if (sub) sub->cancel();
  sub.reset();
  notify = nullptr;
}

std::size_t event_pipe::outstanding() const {
  std::lock_guard lock(mu_);
  return outstanding_;
}

bool event_pipe::paused() const {
  std::lock_guard lock(mu_);
  return paused_;
}

}  // namespace rill::wire
