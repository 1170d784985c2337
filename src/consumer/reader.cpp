// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "rill/reader.hpp"

#include <utility>

namespace rill {

stream_reader::stream_reader(kinesis& client, stream_reader_options options)
    : client_(client), options_(std::move(options)) {}

bool stream_reader::done() const noexcept { return listed_ && shards_.empty(); }

void stream_reader::finish(shard_id id) {
  shards_.erase(id);
  done_.insert(id);
}

result<void> stream_reader::refresh() {
  std::vector<shard> listed;
  auto page = client_.list_shards({.stream_name = options_.stream_name,
                                   .stream_arn = options_.stream_arn,
                                   .max_results = options_.list_shards_max_results});
  for (;;) {
    if (!page) return page.error();
    listed.insert(listed.end(), page->shards.begin(), page->shards.end());
    if (!page->next_token) break;
    page = client_.list_shards({.next_token = page->next_token, .max_results = options_.list_shards_max_results});
  }
  std::set<shard_id> present;
  for (shard& s : listed) {
    present.insert(s.shard_id);
    if (done_.contains(s.shard_id)) continue;
    const bool closed = s.sequence_number_range.ending_sequence_number.has_value();
    if (!listed_ && closed && options_.starting_position == shard_iterator_type::latest) {
      // LATEST means from now on: a shard already closed holds nothing newer.
      done_.insert(s.shard_id);
      skipped_.insert(s.shard_id);
      continue;
    }
    auto [it, inserted] = shards_.try_emplace(s.shard_id);
    it->second.info = std::move(s);
  }
  // A shard no longer listed has expired: nothing of it can be read any more.
  for (auto it = shards_.begin(); it != shards_.end();) {
    if (!present.contains(it->first)) {
      done_.insert(it->first);
      it = shards_.erase(it);
    } else {
      ++it;
    }
  }
  listed_ = true;
  needs_listing_ = false;
  return {};
}

bool stream_reader::ready(const shard_state& s) const {
  // A parent blocks its child while it is listed and not done; a parent that is
  // done, or no longer listed (expired), does not.
  for (const auto& p : {s.info.parent_shard_id, s.info.adjacent_parent_shard_id}) {
    if (p && shards_.contains(*p)) return false;
  }
  return true;
}

result<std::string> stream_reader::start_iterator(shard_state& s) {
  get_shard_iterator_request req{
      .stream_name = options_.stream_name, .stream_arn = options_.stream_arn, .shard_id = s.info.shard_id.to_string()};
  if (s.last_sequence_number) {
    // Renewing an expired iterator: just after the last record handed out.
    req.shard_iterator_type = shard_iterator_type::after_sequence_number;
    req.starting_sequence_number = s.last_sequence_number;
  } else {
    bool parent_read = false;
    for (const auto& p : {s.info.parent_shard_id, s.info.adjacent_parent_shard_id}) {
      if (p && done_.contains(*p) && !skipped_.contains(*p)) parent_read = true;
    }
    // After its parents, a child is read from its first record.
    req.shard_iterator_type = parent_read ? shard_iterator_type::trim_horizon : options_.starting_position;
    if (req.shard_iterator_type == shard_iterator_type::at_timestamp) req.timestamp = options_.timestamp;
  }
  auto r = client_.get_shard_iterator(req);
  if (!r) return r.error();
  return std::move(r->shard_iterator);
}

result<reader_batch> stream_reader::next() {
  if (needs_listing_) {
    if (auto r = refresh(); !r) return r.error();
  }
  if (shards_.empty()) return reader_batch{};

  // Round robin over the ready shards, starting after the last one read.
  shard_state* pick = nullptr;
  auto start = cursor_ ? shards_.upper_bound(*cursor_) : shards_.begin();
  for (std::size_t n = 0, size = shards_.size(); n < size && !pick; ++n) {
    if (start == shards_.end()) start = shards_.begin();
    if (ready(start->second)) pick = &start->second;
    ++start;
  }
  if (!pick) {
    needs_listing_ = true;  // cannot happen with a consistent listing; list again
    return reader_batch{};
  }
  shard_state& s = *pick;
  const shard_id id = s.info.shard_id;
  cursor_ = id;
  reader_batch batch{.shard_id = id};

  if (!s.started) {
    auto it = start_iterator(s);
    if (!it) {
      if (it.error().code() != error_code::resource_not_found_exception) return it.error();
      // Expired (or the stream went away): nothing more to read here.
      finish(id);
      needs_listing_ = true;
      batch.shard_done = true;
      return batch;
    }
    s.iterator = std::move(*it);
    s.started = true;
  }

  ++calls_;
  auto got = client_.get_records({.shard_iterator = *s.iterator, .limit = options_.limit});
  if (!got) {
    switch (got.error().code()) {
      case error_code::expired_iterator_exception:
        s.started = false;  // renewed on the next call, after the last record returned
        return batch;
      case error_code::resource_not_found_exception:
        finish(id);
        needs_listing_ = true;
        batch.shard_done = true;
        return batch;
      default: return got.error();
    }
  }
  batch.millis_behind_latest = got->millis_behind_latest;
  batch.records = got->owned_records();
  if (!batch.records.empty()) s.last_sequence_number = batch.records.back().sequence_number.to_string();
  if (!got->next_shard_iterator) {
    // The end of a closed shard: its children are listed next.
    finish(id);
    needs_listing_ = true;
    batch.shard_done = true;
  } else {
    s.iterator = std::move(got->next_shard_iterator);
    if (options_.read_mode == stream_reader_options::mode::stop_when_caught_up && got->records.empty() &&
        got->millis_behind_latest == 0) {
      finish(id);  // an open shard, caught up
      batch.shard_done = true;
    }
  }
  return batch;
}

result<std::vector<owned_record>> stream_reader::read_all() {
  if (options_.read_mode == stream_reader_options::mode::tail) {
    return error(error_code::invalid_argument_exception, "read_all() needs the stop_when_caught_up mode");
  }
  std::vector<owned_record> out;
  do {
    auto batch = next();
    if (!batch) return batch.error();
    for (auto& r : batch->records) out.push_back(std::move(r));
  } while (!done());
  return out;
}

}  // namespace rill
