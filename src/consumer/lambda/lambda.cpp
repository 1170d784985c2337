// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The Lambda-style event source mapping (rill/lambda.hpp). Written against
// rill::kinesis only.
#include "rill/lambda.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <limits>
#include <random>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "consumer/lease_ops.hpp"
#include "rill/kpl.hpp"
#include "rill/logging.hpp"

namespace rill::lambda {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

error invalid(std::string message) { return error(error_code::invalid_argument_exception, std::move(message)); }

constexpr std::size_t kMaxWindowStateBytes = std::size_t{1} << 20;  // Lambda's 1 MB state limit

/// A record's arrival time back from Lambda's seconds-with-milliseconds form (exact).
timestamp arrival_of(const kinesis_event_record& r) {
  return timestamp(duration(std::llround(r.kinesis.approximate_arrival_timestamp * 1000.0)));
}

double lambda_seconds(timestamp t) { return static_cast<double>(t.time_since_epoch().count()) / 1000.0; }

std::size_t state_bytes(const window_state& s) {
  std::size_t n = 0;
  for (const auto& [k, v] : s) n += k.size() + v.size();
  return n;
}

}  // namespace

std::string kinesis_event_record::event_id() const {
  const std::string seq = kinesis.sequence_number.to_string();
  const std::string_view shard = shard_id();
  std::string out;
  out.reserve(shard.size() + 1 + seq.size());
  out.append(shard).append(1, ':').append(seq);
  return out;
}

std::string kinesis_data::data_base64() const {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(data[i]) << 16) | (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// --- reading: shard lineage, with GetRecords or SubscribeToShard -------------

/// The records of one read, viewing `buffer`.
struct feed_batch {
  std::optional<shard_id> shard{};  // absent: no shard was read
  std::vector<record> records{};
  std::shared_ptr<const void> buffer{};
  bool shard_done = false;
  /// With shard_done: the shard's children (GetRecords' / the last event's ChildShards).
  std::vector<std::string> children{};
  /// The read ended at the newest record of the shard.
  bool caught_up = false;
};

/// Follows shard lineage as rill::stream_reader does (tail mode: parents are
/// finished before their children are read, children of finished parents start
/// at TRIM_HORIZON), but hands out the service's buffers instead of copies, and
/// reads either with GetRecords or through a fan-out subscription per shard.
class event_source_mapping::feed {
 public:
  feed(kinesis& client, const event_source_mapping_options& o, event_source_mapping& m)
      : client_(client), o_(o), m_(m) {}

  /// Shards listed and not done.
  [[nodiscard]] std::size_t size() const noexcept { return shards_.size(); }
  /// Counts shards found and finished.
  [[nodiscard]] std::uint64_t changes() const noexcept { return changes_; }

  result<feed_batch> next() {
    if (needs_listing_) {
      if (auto r = refresh(); !r) return r.error();
    }
    if (shards_.empty()) return feed_batch{};
    shard_state* pick = nullptr;
    auto at = cursor_ ? shards_.upper_bound(*cursor_) : shards_.begin();
    for (std::size_t n = 0, size = shards_.size(); n < size && !pick; ++n) {
      if (at == shards_.end()) at = shards_.begin();
      if (ready(at->second)) pick = &at->second;
      ++at;
    }
    if (!pick) {
      needs_listing_ = true;
      return feed_batch{};
    }
    cursor_ = pick->info.shard_id;
    return o_.consumer_arn ? read_fanout(*pick) : read_polling(*pick);
  }

 private:
  struct shard_state {
    rill::shard info{};
    std::optional<std::string> iterator{};
    std::optional<std::string> last_sequence_number{};  // polling: after the last record handed out
    std::optional<std::string> continuation{};          // fan-out: the last continuation
    std::shared_ptr<subscription> sub{};
    bool started = false;
    bool leased = false;  // the mapping holds the shard's lease
    // Resume AT (not AFTER) last_sequence_number / continuation: the
    // checkpoint may be inside a KPL aggregate (the mapping drops what it processed).
    bool inclusive = false;
  };

  /// Takes the shard's lease (once); false with `done` set: the table says the shard has ended.
  result<bool> lease(shard_state& s, std::optional<feed_batch>& done) {
    if (s.leased) return true;
    auto start = m_.acquire(s.info, parent_read(s));
    if (!start) return start.error();
    s.leased = true;
    if (start->finished) {
      done = finish(s.info.shard_id);
      return false;
    }
    if (start->after) {
      s.last_sequence_number = start->after;
      s.continuation = start->after;
      s.inclusive = start->inclusive;
    }
    return true;
  }

  result<void> refresh() {
    std::vector<shard> listed;
    auto page = client_.list_shards({.stream_name = o_.stream_name, .stream_arn = o_.stream_arn});
    for (;;) {
      if (!page) return page.error();
      listed.insert(listed.end(), page->shards.begin(), page->shards.end());
      if (!page->next_token) break;
      page = client_.list_shards({.next_token = page->next_token});
    }
    std::set<shard_id> present;
    for (shard& s : listed) {
      present.insert(s.shard_id);
      if (done_.contains(s.shard_id)) continue;
      bool stored = false;
      if (!shards_.contains(s.shard_id)) {
        // A shard new to this instance: the lease table may say it has ended
        // (a previous mapping of this identity finished it) or is under way.
        auto l = m_.stored_lease(s.shard_id);
        if (!l) return l.error();
        if (*l && (*l)->checkpoint.is_shard_end()) {
          m_.ended_.insert(s.shard_id);
          done_.insert(s.shard_id);
          continue;
        }
        stored = l->has_value();
      }
      const bool closed = s.sequence_number_range.ending_sequence_number.has_value();
      if (!listed_ && !stored && closed && o_.starting_position == shard_iterator_type::latest) {
        done_.insert(s.shard_id);
        skipped_.insert(s.shard_id);
        continue;
      }
      auto [it, inserted] = shards_.try_emplace(s.shard_id);
      if (inserted) ++changes_;
      it->second.info = std::move(s);
    }
    for (auto it = shards_.begin(); it != shards_.end();) {
      if (!present.contains(it->first)) {
        done_.insert(it->first);
        vanished_.insert(it->first);
        m_.release_lease(it->first.to_string());  // past retention: nothing more to checkpoint
        it = shards_.erase(it);
      } else {
        ++it;
      }
    }
    listed_ = true;
    needs_listing_ = false;
    return {};
  }

  /// Parents first: a child is read once each listed parent is done here and
  /// its SHARD_END is in the lease table (the KCL's rule). A parent no longer
  /// listed (past retention) or skipped (closed, at LATEST) does not block.
  bool ready(const shard_state& s) const {
    for (const auto& p : {s.info.parent_shard_id, s.info.adjacent_parent_shard_id}) {
      if (!p) continue;
      if (shards_.contains(*p)) return false;
      if (done_.contains(*p) && !skipped_.contains(*p) && !vanished_.contains(*p) && !m_.ended_.contains(*p))
        return false;
    }
    return true;
  }

  bool parent_read(const shard_state& s) const {
    for (const auto& p : {s.info.parent_shard_id, s.info.adjacent_parent_shard_id}) {
      if (p && done_.contains(*p) && !skipped_.contains(*p)) return true;
    }
    return false;
  }

  feed_batch finish(shard_id id) {
    ++changes_;
    shards_.erase(id);
    done_.insert(id);
    needs_listing_ = true;
    return feed_batch{.shard = id, .shard_done = true};
  }

  result<feed_batch> read_polling(shard_state& s) {
    const shard_id id = s.info.shard_id;
    if (!s.started) {
      std::optional<feed_batch> ended;
      auto leased = lease(s, ended);
      if (!leased) return leased.error();
      if (!*leased) return std::move(*ended);
      get_shard_iterator_request req{
          .stream_name = o_.stream_name, .stream_arn = o_.stream_arn, .shard_id = id.to_string()};
      if (s.last_sequence_number) {
        req.shard_iterator_type =
            s.inclusive ? shard_iterator_type::at_sequence_number : shard_iterator_type::after_sequence_number;
        req.starting_sequence_number = s.last_sequence_number;
      } else {
        req.shard_iterator_type = parent_read(s) ? shard_iterator_type::trim_horizon : o_.starting_position;
        if (req.shard_iterator_type == shard_iterator_type::at_timestamp)
          req.timestamp = o_.starting_position_timestamp;
      }
      auto it = client_.get_shard_iterator(req);
      if (!it) {
        if (it.error().code() != error_code::resource_not_found_exception) return it.error();
        return finish(id);
      }
      s.iterator = std::move(it->shard_iterator);
      s.started = true;
    }
    auto got = client_.get_records({.shard_iterator = *s.iterator, .limit = std::clamp(o_.batch_size, 1, 10000)});
    if (!got) {
      switch (got.error().code()) {
        case error_code::expired_iterator_exception: s.started = false; return feed_batch{.shard = id};
        case error_code::resource_not_found_exception: return finish(id);
        default: return got.error();
      }
    }
    feed_batch b{.shard = id, .records = std::move(got->records), .buffer = std::move(got->buffer)};
    b.caught_up = got->millis_behind_latest == 0;
    if (!b.records.empty()) {
      s.last_sequence_number = b.records.back().sequence_number.to_string();
      s.inclusive = false;
    }
    if (!got->next_shard_iterator) {
      auto done = finish(id);
      done.records = std::move(b.records);
      done.buffer = std::move(b.buffer);
      done.caught_up = true;
      for (const auto& c : got->child_shards) done.children.push_back(c.shard_id.to_string());
      return done;
    }
    s.iterator = std::move(got->next_shard_iterator);
    return b;
  }

  result<feed_batch> read_fanout(shard_state& s) {
    const shard_id id = s.info.shard_id;
    if (!s.sub || s.sub->ended()) {
      s.sub.reset();
      std::optional<feed_batch> ended;
      auto leased = lease(s, ended);
      if (!leased) return leased.error();
      if (!*leased) return std::move(*ended);
      starting_position from;
      if (s.continuation) {
        from.type = s.inclusive ? shard_iterator_type::at_sequence_number : shard_iterator_type::after_sequence_number;
        from.sequence_number = s.continuation;
      } else {
        from.type = parent_read(s) ? shard_iterator_type::trim_horizon : o_.starting_position;
        if (from.type == shard_iterator_type::at_timestamp) from.timestamp = o_.starting_position_timestamp;
      }
      subscribe_to_shard_request req;
      req.consumer_arn = *o_.consumer_arn;
      req.shard_id = id.to_string();
      req.starting_position = std::move(from);
      // One event at most a batch, as a GetRecords call with Limit = BatchSize.
      req.options.max_event_records = std::clamp(o_.batch_size, 1, 10000);
      auto sub = client_.subscribe_to_shard(req);
      if (!sub) {
        // A shard gone (expired) is dropped by the next listing; a consumer
        // gone, or the 5 s takeover rule, is the caller's to see.
        needs_listing_ = true;
        return sub.error();
      }
      s.sub = std::move(*sub);
    }
    auto ev = s.sub->try_pull();
    if (!ev) {
      s.sub.reset();
      needs_listing_ = true;
      return ev.error();
    }
    if (!ev->has_value()) return feed_batch{.shard = id, .caught_up = true};
    auto& e = **ev;
    feed_batch b{.shard = id, .records = std::move(e.records), .buffer = std::move(e.buffer)};
    b.caught_up = e.millis_behind_latest == 0;
    if (!e.continuation_sequence_number) {
      // The end of a closed shard: its children are listed next.
      auto done = finish(id);
      done.records = std::move(b.records);
      done.buffer = std::move(b.buffer);
      done.caught_up = true;
      for (const auto& c : e.child_shards) done.children.push_back(c.shard_id.to_string());
      return done;
    }
    s.continuation = std::move(e.continuation_sequence_number);
    s.inclusive = false;
    return b;
  }

  kinesis& client_;
  const event_source_mapping_options& o_;
  event_source_mapping& m_;
  std::map<shard_id, shard_state> shards_;  // listed, not yet done
  std::set<shard_id> done_;
  std::set<shard_id> skipped_;
  std::set<shard_id> vanished_;  // no longer listed
  bool listed_ = false;
  bool needs_listing_ = true;
  std::uint64_t changes_ = 0;
  std::optional<shard_id> cursor_;
};

// --- batching and invoking ---------------------------------------------------------

struct event_source_mapping::pending_shard {
  std::string shard_id;
  event_source_info source;                 // the records view it
  std::vector<kinesis_event_record> items;  // [head, size) are buffered, in Lambda's shape already
  std::size_t head = 0;
  // The buffers items view, each with the end of its items (an index into items).
  std::vector<std::pair<std::shared_ptr<const void>, std::size_t>> buffers;
  timestamp first_buffered{};
  // Tumbling windows.
  std::optional<time_window> window;
  window_state state;
  bool final_due = false;
  bool terminated_early = false;
  std::int32_t final_attempts = 0;
  bool done = false;                  // the shard has ended
  bool end_recorded = false;          // ... and SHARD_END is in the lease table
  std::vector<std::string> children;  // recorded with SHARD_END (childShardIds)
  timestamp caught_up_at{duration(std::numeric_limits<std::int64_t>::min())};
  timestamp newest_arrival{duration(std::numeric_limits<std::int64_t>::min())};

  [[nodiscard]] std::size_t buffered() const noexcept { return items.size() - head; }

  /// Drops processed items and the buffers only they viewed.
  void compact() {
    if (head == 0) return;
    if (head == items.size()) {
      items.clear();
      buffers.clear();
      head = 0;
      return;
    }
    if (head < 4096 && head * 2 < items.size()) return;
    items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(head));
    std::size_t keep = 0;
    while (keep < buffers.size() && buffers[keep].second <= head) ++keep;
    buffers.erase(buffers.begin(), buffers.begin() + static_cast<std::ptrdiff_t>(keep));
    for (auto& b : buffers) b.second -= head;
    head = 0;
  }
};

// --- checkpoints: the KCL lease table ---------------------------------------------

std::string event_source_mapping::lease_key(std::string_view shard) const {
  if (opt_.mapping_uuid.empty()) return std::string(shard);
  std::string key;
  key.reserve(opt_.mapping_uuid.size() + 1 + shard.size());
  key.append(opt_.mapping_uuid).append(1, ':').append(shard);
  return key;
}

result<std::optional<kcl::lease>> event_source_mapping::stored_lease(const shard_id& shard) {
  auto l = store_->get_lease(lease_key(shard.to_string()));
  if (!l) {
    return error(l.error().code(),
                 fmt::format("Reading the lease of shard {} failed: {}", shard.to_string(), l.error().message()));
  }
  return l;
}

result<event_source_mapping::start_point> event_source_mapping::acquire(const rill::shard& info, bool parent_read) {
  const std::string shard = info.shard_id.to_string();
  const std::string key = lease_key(shard);
  const auto seeded = opt_.initial_checkpoints.find(shard);
  std::optional<kcl::lease> current;
  for (int attempt = 0; attempt < 2 && !current; ++attempt) {
    auto got = stored_lease(info.shard_id);
    if (!got) return got.error();
    if (*got) {
      current = std::move(**got);
      break;
    }
    // No lease yet: create it, owned by this instance, at the initial
    // checkpoint if one was given, else at the starting position.
    kcl::lease l;
    l.lease_key = key;
    l.lease_owner = owner_;
    if (seeded != opt_.initial_checkpoints.end()) {
      l.checkpoint = {seeded->second, 0};
    } else if (parent_read || opt_.starting_position == shard_iterator_type::trim_horizon) {
      l.checkpoint = kcl::extended_sequence_number::trim_horizon();
    } else {
      l.checkpoint = opt_.starting_position == shard_iterator_type::latest
                         ? kcl::extended_sequence_number::latest()
                         : kcl::extended_sequence_number::at_timestamp();
    }
    for (const auto& p : {info.parent_shard_id, info.adjacent_parent_shard_id}) {
      if (p) l.parent_shard_ids.push_back(p->to_string());
    }
    l.starting_hash_key = info.hash_key_range.starting_hash_key.to_string();
    l.ending_hash_key = info.hash_key_range.ending_hash_key.to_string();
    auto created = store_->create_lease_if_not_exists(l);
    if (!created) {
      return error(created.error().code(),
                   fmt::format("Creating the lease of shard {} failed: {}", shard, created.error().message()));
    }
    if (*created == kcl::write_status::applied) current = std::move(l);
    // else: created meanwhile by another instance; read it again
  }
  if (!current) {
    return error(error_code::resource_in_use_exception,
                 fmt::format("The lease {} is being created by another instance of the event source mapping", key));
  }
  kcl::lease& l = *current;
  start_point start;
  if (l.checkpoint.is_shard_end()) {
    ended_.insert(info.shard_id);
    start.finished = true;
    return start;
  }
  if (l.lease_owner != owner_) {
    if (l.lease_owner) {
      // Another instance holds it: take it over only once it has expired (its
      // counter has not moved for more than failover_time on our clock), by
      // the KCL scheduler's own rule.
      const timestamp now = clock_.now();
      auto [seen, fresh] = observed_.try_emplace(key);
      if (!kcl::detail::sight_expired(seen->second.first, seen->second.second, fresh, l, now, opt_.failover_time)) {
        return error(error_code::resource_in_use_exception,
                     fmt::format("The lease {} of event source mapping {} is held by {} (leaseCounter {}); it is "
                                 "taken over if not renewed for more than {} ms",
                                 key, opt_.mapping_uuid, *l.lease_owner, l.lease_counter, opt_.failover_time.count()));
      }
    }
    auto taken = store_->take_lease(l, owner_);
    if (!taken) {
      return error(taken.error().code(), fmt::format("Taking the lease {} failed: {}", key, taken.error().message()));
    }
    if (*taken == kcl::write_status::condition_failed) {
      return error(error_code::resource_in_use_exception,
                   fmt::format("The lease {} changed while this instance took it over; retry", key));
    }
    observed_.erase(key);
  }
  if (l.checkpoint.is_sentinel() && seeded != opt_.initial_checkpoints.end()) {
    // initial_checkpoints seed a lease that has no sequence checkpoint yet.
    l.checkpoint = {seeded->second, 0};
    auto r = store_->update_lease(l, owner_);
    if (!r || *r != kcl::write_status::applied) {
      return error(r ? error_code::resource_in_use_exception : r.error().code(),
                   fmt::format("Seeding the lease {} from initial_checkpoints failed{}", key,
                               r ? std::string() : ": " + r.error().message()));
    }
  }
  if (!l.checkpoint.is_sentinel()) {
    checkpoints_[shard] = l.checkpoint.sequence_number;
    start.after = l.checkpoint.sequence_number;
    start.inclusive = opt_.deaggregate;
  }
  held_[shard] = held_lease{std::move(l), false};
  return start;
}

bool event_source_mapping::write_checkpoint(const std::string& shard, held_lease& h) {
  h.dirty = true;
  h.l.owner_switches_since_checkpoint = 0;
  h.l.pending_checkpoint.reset();
  h.l.pending_checkpoint_state.reset();
  auto r = store_->update_lease(h.l, owner_);
  if (!r) {
    retry_writes_ = true;
    if (!store_error_) {
      store_error_ = error(r.error().code(),
                           fmt::format("Writing the checkpoint {} of shard {} to the lease table failed (retried at "
                                       "the next poll; nothing is skipped): {}",
                                       h.l.checkpoint.to_string(), shard, r.error().message()));
    }
    return false;
  }
  if (*r == kcl::write_status::condition_failed) {
    lose(shard);
    return false;
  }
  h.dirty = false;
  return true;
}

void event_source_mapping::lose(const std::string& shard) {
  if (lost_) return;
  const std::string key = lease_key(shard);
  std::string owner = "another instance";
  if (auto now = store_->get_lease(key); now && *now && (*now)->lease_owner) owner = *(*now)->lease_owner;
  lost_ = error(error_code::resource_in_use_exception,
                fmt::format("The lease {} of event source mapping {} was taken by {}; this instance ({}) stops. A new "
                            "mapping resumes from the lease table",
                            key, opt_.mapping_uuid, owner, owner_));
  logger()->warn("lambda: {}", lost_->message());
  held_.erase(shard);
}

void event_source_mapping::advance(pending_shard& p, const kinesis_event_record& last) {
  std::string& checkpoint = checkpoints_[p.shard_id];
  checkpoint = last.kinesis.sequence_number.to_string();
  if (lost_) return;
  auto it = held_.find(p.shard_id);
  if (it == held_.end()) return;
  held_lease& h = it->second;
  h.l.checkpoint.sequence_number = checkpoint;
  h.l.checkpoint.sub_sequence_number = static_cast<std::int64_t>(last.kinesis.sub_sequence_number.value_or(0));
  write_checkpoint(p.shard_id, h);
}

void event_source_mapping::end_shard(pending_shard& p) {
  if (p.end_recorded || lost_) return;
  auto it = held_.find(p.shard_id);
  if (it == held_.end()) {
    // Not leased here (the table said SHARD_END already).
    p.end_recorded = true;
    return;
  }
  held_lease& h = it->second;
  h.l.checkpoint = kcl::extended_sequence_number::shard_end();
  if (!p.children.empty()) h.l.child_shard_ids = p.children;
  if (!write_checkpoint(p.shard_id, h)) return;
  p.end_recorded = true;
  if (auto id = shard_id::parse(p.shard_id)) ended_.insert(*id);
  // An ended shard is not processed again: give its lease back (as the KCL).
  if (auto r = store_->evict_lease(h.l, owner_); !r) {
    logger()->warn("lambda: releasing the ended lease {} failed: {}", h.l.lease_key, r.error().message());
  }
  held_.erase(it);
}

void event_source_mapping::release_lease(const std::string& shard) {
  auto it = held_.find(shard);
  if (it == held_.end()) return;
  if (auto r = store_->evict_lease(it->second.l, owner_); !r) {
    logger()->warn("lambda: releasing the lease {} failed: {}", it->second.l.lease_key, r.error().message());
  }
  held_.erase(it);
}

result<void> event_source_mapping::maintain_leases(timestamp now) {
  if (lost_) return *lost_;
  // Checkpoints whose write failed: written before anything more is read.
  if (retry_writes_) {
    retry_writes_ = false;
    for (auto it = held_.begin(); it != held_.end();) {
      auto next = std::next(it);
      if (it->second.dirty && !write_checkpoint(it->first, it->second)) break;
      it = next;
    }
    if (lost_) return *lost_;
    if (store_error_) return *std::exchange(store_error_, std::nullopt);
  }
  if (ends_due_) {
    ends_due_ = false;
    for (auto& [id, p] : pending_) {
      if (p->end_recorded || !p->done) continue;
      if (p->buffered() != 0 || p->final_due || p->window) {
        ends_due_ = true;  // not yet: its last batch or its window's final invocation is still to come
        continue;
      }
      end_shard(*p);
      if (!p->end_recorded) ends_due_ = true;
      if (lost_) return *lost_;
      if (store_error_) return *std::exchange(store_error_, std::nullopt);
    }
  }
  if (last_renewal_ && now - *last_renewal_ < opt_.failover_time / 3) return {};
  last_renewal_ = now;
  for (auto it = held_.begin(); it != held_.end();) {
    auto next = std::next(it);
    auto r = store_->renew_lease(it->second.l);
    if (!r) {
      return error(r.error().code(),
                   fmt::format("Renewing the lease {} failed: {}", it->second.l.lease_key, r.error().message()));
    }
    if (*r == kcl::write_status::condition_failed) {
      lose(it->first);
      return *lost_;
    }
    it = next;
  }
  return {};
}

event_source_mapping::event_source_mapping(kinesis& client, rill::clock& clock, event_source_mapping_options options,
                                           function fn)
    : client_(client), clock_(clock), opt_(std::move(options)), fn_(std::move(fn)) {
  checkpoints_ = opt_.initial_checkpoints;
  store_ = opt_.lease_store ? opt_.lease_store : kcl::make_memory_lease_store();
  owner_ = opt_.worker_identifier;
  if (owner_.empty()) {
    // Unique across processes (random, drawn once per process) and within one (a counter).
    static const std::uint64_t process_id = [] {
      std::random_device rd;
      return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    }();
    static std::atomic<std::uint64_t> instances{0};
    const std::uint64_t r = process_id + 0x9e3779b97f4a7c15ULL * ++instances;
    owner_ = fmt::format("{}{}{:016x}", opt_.mapping_uuid, opt_.mapping_uuid.empty() ? "" : "-", r);
  }
  feed_ = std::make_unique<feed>(client_, opt_, *this);
}

event_source_mapping::~event_source_mapping() {
  std::vector<std::string> shards;
  for (const auto& [shard, h] : held_) shards.push_back(shard);
  for (const std::string& shard : shards) {
    auto it = held_.find(shard);
    if (it == held_.end()) continue;
    if (it->second.dirty && !write_checkpoint(shard, it->second) && lost_) continue;  // lose() dropped it
    it = held_.find(shard);
    if (it == held_.end()) continue;
    if (auto r = store_->evict_lease(it->second.l, owner_); !r) {
      logger()->warn("lambda: releasing the lease {} failed: {}", it->second.l.lease_key, r.error().message());
    }
  }
}

result<void> event_source_mapping::validate() const {
  if (opt_.batch_size < 1 || opt_.batch_size > 10000) return invalid("BatchSize must be between 1 and 10000.");
  if (opt_.maximum_batching_window < duration::zero() || opt_.maximum_batching_window > std::chrono::seconds(300)) {
    return invalid("MaximumBatchingWindowInSeconds must be between 0 and 300.");
  }
  if (opt_.parallelization_factor < 1 || opt_.parallelization_factor > 10) {
    return invalid("ParallelizationFactor must be between 1 and 10.");
  }
  if (opt_.maximum_retry_attempts < -1 || opt_.maximum_retry_attempts > 10000) {
    return invalid("MaximumRetryAttempts must be -1 or between 0 and 10000.");
  }
  if (opt_.maximum_record_age_in_seconds != -1 &&
      (opt_.maximum_record_age_in_seconds < 60 || opt_.maximum_record_age_in_seconds > 604800)) {
    return invalid("MaximumRecordAgeInSeconds must be -1 or between 60 and 604800.");
  }
  if (opt_.tumbling_window < duration::zero() || opt_.tumbling_window > std::chrono::seconds(900) ||
      opt_.tumbling_window % std::chrono::seconds(1) != duration::zero()) {
    return invalid("TumblingWindowInSeconds must be a whole number of seconds between 0 and 900.");
  }
  if (opt_.starting_position != shard_iterator_type::trim_horizon &&
      opt_.starting_position != shard_iterator_type::latest &&
      opt_.starting_position != shard_iterator_type::at_timestamp) {
    return invalid("StartingPosition must be TRIM_HORIZON, LATEST or AT_TIMESTAMP.");
  }
  if ((opt_.starting_position == shard_iterator_type::at_timestamp) != opt_.starting_position_timestamp.has_value()) {
    return invalid("StartingPositionTimestamp is required with AT_TIMESTAMP and only allowed with it.");
  }
  if (opt_.consumer_arn && opt_.consumer_arn->empty()) return invalid("The consumer ARN must not be empty.");
  if (opt_.lease_store && opt_.mapping_uuid.empty()) {
    return invalid(
        "A mapping_uuid (the event source mapping's UUID) is required with a lease_store: its leases are "
        "kept under it.");
  }
  if (opt_.failover_time <= duration::zero()) return invalid("failover_time must be positive.");
  return {};
}

time_window event_source_mapping::window_of(timestamp t) const {
  const auto w = opt_.tumbling_window.count();
  const auto ms = t.time_since_epoch().count();
  const auto start = (ms >= 0 ? ms / w : (ms - w + 1) / w) * w;
  return {timestamp(duration(start)), timestamp(duration(start + w))};
}

result<void> event_source_mapping::poll() {
  if (auto v = validate(); !v) return v;
  store_error_.reset();
  if (auto m = maintain_leases(clock_.now()); !m) return m;
  if (stream_arn_.empty()) {
    auto d = client_.describe_stream_summary({.stream_name = opt_.stream_name, .stream_arn = opt_.stream_arn});
    if (!d) return d.error();
    stream_arn_ = d->stream_description_summary.stream_arn;
  }
  auto batch = feed_->next();
  if (!batch) return batch.error();
  const timestamp now = clock_.now();
  if (batch->shard) {
    const std::string shard = batch->shard->to_string();
    auto& slot = pending_[shard];
    if (!slot) {
      slot = std::make_unique<pending_shard>();
      slot->shard_id = shard;
    }
    pending_shard& p = *slot;
    if (batch->caught_up) p.caught_up_at = now;
    if (!batch->caught_up && batch->records.empty()) ++empty_reads_behind_;  // more to come: not idle
    if (batch->shard_done) {
      p.done = true;
      ends_due_ = true;
      if (!batch->children.empty()) p.children = std::move(batch->children);
    }
    const auto done_seq = checkpoints_.find(shard);
    const std::optional<sequence_number> done =
        done_seq == checkpoints_.end() ? std::nullopt : sequence_number::parse(done_seq->second);
    // Resumed inside a KPL aggregate: its user records up to this one were processed.
    std::int64_t done_sub = -1;
    if (done && opt_.deaggregate) {
      if (auto h = held_.find(shard); h != held_.end()) done_sub = h->second.l.checkpoint.sub_sequence_number;
    }
    const std::size_t before = p.items.size();
    if (p.buffered() == 0) p.first_buffered = now;
    p.items.reserve(p.items.size() + batch->records.size());
    // Each record is put in Lambda's shape once, here; invocations view them.
    if (p.source.shard_id.empty()) p.source = {shard, opt_.aws_region, stream_arn_, {}};
    // A prototype copied into each new slot: value-initializing a slot
    // compiles to `rep stos` (tens of cycles to start, per record); copying 96
    // bytes written once per poll is a few plain moves.
    kinesis_event_record proto{};
    proto.source = &p.source;
    const auto add = [&](const record& r, std::string_view key, std::string_view data,
                         std::optional<std::uint64_t> sub) {
      // The hot loop: every field is stored straight into the vector's slot
      // (no temporary per record, whose copy would stall on store forwarding).
      kinesis_event_record& e = p.items.emplace_back(proto);
      e.kinesis.partition_key = key;
      e.kinesis.sequence_number = r.sequence_number;
      e.kinesis.data = data;
      e.kinesis.approximate_arrival_timestamp = lambda_seconds(r.approximate_arrival_timestamp);
      if (sub) e.kinesis.sub_sequence_number = sub;
    };
    for (const record& r : batch->records) {
      std::int64_t skip_sub = -1;
      if (done && r.sequence_number <= *done) {
        if (r.sequence_number < *done || done_sub < 0 || !kpl::has_magic(r.data)) continue;
        skip_sub = done_sub;  // the rest of the aggregate the checkpoint is in
      }
      p.newest_arrival = std::max(p.newest_arrival, r.approximate_arrival_timestamp);
      if (opt_.deaggregate && kpl::has_magic(r.data)) {
        auto d = kpl::deaggregate(r);
        for (const auto& u : d.records) {
          if (static_cast<std::int64_t>(u.sub_sequence_number) <= skip_sub) continue;
          add(r, u.partition_key, u.data, u.sub_sequence_number);
        }
        continue;
      }
      add(r, r.partition_key, r.data, std::nullopt);
    }
    if (p.items.size() != before) p.buffers.emplace_back(std::move(batch->buffer), p.items.size());
  }
  for (auto& [id, p] : pending_) flush(*p, now, p->done);
  if (lost_) return *lost_;
  if (store_error_) return *std::exchange(store_error_, std::nullopt);
  // Ended shards: SHARD_END into the table, so their children may start.
  return maintain_leases(now);
}

result<void> event_source_mapping::run_until_caught_up() {
  for (int guard = 0; guard < 1'000'000; ++guard) {
    // A pass: every ready shard answers twice (polls go round robin over
    // them) with nothing new, no shard found or finished.
    bool any = false;
    for (std::size_t i = 0; i < 2 * feed_->size() + 4; ++i) {
      const auto before = stats_.records_processed + stats_.records_failed + stats_.invocations;
      const auto changes_before = feed_->changes() + empty_reads_behind_;
      std::size_t buffered_before = 0;
      for (auto& [id, p] : pending_) buffered_before += p->buffered();
      if (auto r = poll(); !r) return r;
      std::size_t buffered = 0;
      for (auto& [id, p] : pending_) buffered += p->buffered();
      if (buffered != buffered_before || feed_->changes() + empty_reads_behind_ != changes_before ||
          stats_.records_processed + stats_.records_failed + stats_.invocations != before) {
        any = true;
      }
    }
    std::size_t buffered = 0;
    for (auto& [id, p] : pending_) buffered += p->buffered();
    // Open windows are left open: they end when their time has passed.
    if (!any && buffered == 0) return {};
    if (!any && buffered > 0) {
      // Wait out the batching window on the clock.
      clock_.sleep_for(std::max<duration>(opt_.maximum_batching_window, std::chrono::milliseconds(1)));
      const timestamp now = clock_.now();
      for (auto& [id, p] : pending_) flush(*p, now, p->done);
    }
  }
  return error(error_code::internal_failure, "run_until_caught_up did not converge");
}

void event_source_mapping::flush(pending_shard& p, timestamp now, bool force) {
  const auto size = static_cast<std::size_t>(opt_.batch_size);
  const bool windows = opt_.tumbling_window > duration::zero();
  while (!lost_ && !store_error_) {
    if (p.final_due) {
      if (!invoke_final(p)) break;  // retried on the next poll: the shard waits (as on Lambda)
      continue;
    }
    if (p.buffered() == 0) break;
    std::size_t n = std::min(size, p.buffered());
    bool cut = false;
    if (windows) {
      const time_window w = window_of(arrival_of(p.items[p.head]));
      if (p.window && p.window->start != w.start) {
        p.final_due = true;  // a later window's record: the current window has ended
        continue;
      }
      if (!p.window) {
        p.window = w;
        p.state.clear();
      }
      for (std::size_t i = 1; i < n; ++i) {
        if (arrival_of(p.items[p.head + i]) >= w.end) {
          n = i;
          cut = true;
          break;
        }
      }
      if (!cut && n == p.buffered() && p.newest_arrival >= w.end) cut = true;
    }
    const bool full = n >= size || cut;
    const bool window_over = now - p.first_buffered >= opt_.maximum_batching_window;
    if (!full && !window_over && !force) break;
    const batch_view batch(p.items.data() + p.head, n);
    const kinesis_event_record last = batch.back();
    if (opt_.parallelization_factor == 1) {
      process(p, batch);
    } else {
      std::vector<std::vector<kinesis_event_record>> parts(static_cast<std::size_t>(opt_.parallelization_factor));
      for (const auto& it : batch) {
        const auto h = hash_key::of_partition_key(it.kinesis.partition_key).value();
        parts[static_cast<std::size_t>(h % static_cast<unsigned>(opt_.parallelization_factor))].push_back(it);
      }
      for (auto& part : parts) {
        if (!part.empty()) process(p, part);
      }
    }
    p.head += n;
    p.first_buffered = now;
    advance(p, last);  // one lease write per batch
  }
  p.compact();
  // A window with nothing more buffered ends once its time has passed and the
  // shard has been read past it (or the shard has ended).
  if (windows && p.window && !p.final_due && p.buffered() == 0) {
    const timestamp end = p.window->end;
    if (p.done || (now >= end && (p.caught_up_at >= end || p.newest_arrival >= end))) {
      p.final_due = true;
      invoke_final(p);
    }
  }
}

void event_source_mapping::fill_event(const pending_shard& p, batch_view batch, std::int32_t attempt) {
  kinesis_event& ev = event_;
  ev.records = batch;
  ev.shard_id = p.shard_id;
  ev.attempt = attempt;
  ev.window = p.window;
  ev.is_final_invoke_for_window = false;
  ev.is_window_terminated_early = false;
  if (opt_.tumbling_window > duration::zero()) ev.state = p.state;
}

bool event_source_mapping::invoke_final(pending_shard& p) {
  kinesis_event& ev = event_;
  ev.records = {};
  ev.shard_id = p.shard_id;
  ev.attempt = p.final_attempts;
  ev.window = p.window;
  ev.state = p.state;
  ev.is_final_invoke_for_window = true;
  ev.is_window_terminated_early = p.terminated_early;
  const function_response resp = fn_(ev);
  ++stats_.invocations;
  if (resp.function_error || !resp.state) {
    ++p.final_attempts;
    if (opt_.maximum_retry_attempts < 0 || p.final_attempts <= opt_.maximum_retry_attempts) return false;
    logger()->warn("lambda: final invocation of a window of shard {} failed {} times; its state is dropped", p.shard_id,
                   p.final_attempts);
  }
  p.window.reset();
  p.state.clear();
  p.final_due = false;
  p.terminated_early = false;
  p.final_attempts = 0;
  return true;
}

void event_source_mapping::fail(const std::string& shard, batch_view batch, const char* condition,
                                std::int32_t invokes) {
  stats_.records_failed += static_cast<std::int64_t>(batch.size());
  if (!opt_.on_failure || batch.empty()) return;
  failure_record f;
  f.condition = condition;
  f.shard_id = shard;
  f.start_sequence_number = batch.front().kinesis.sequence_number.to_string();
  f.end_sequence_number = batch.back().kinesis.sequence_number.to_string();
  f.approximate_arrival_of_first_record = arrival_of(batch.front());
  f.approximate_arrival_of_last_record = arrival_of(batch.back());
  f.batch_size = static_cast<std::int32_t>(batch.size());
  f.stream_arn = stream_arn_;
  f.approximate_invoke_count = invokes;
  opt_.on_failure(f);
}

void event_source_mapping::process(pending_shard& p, batch_view batch) {
  const std::string& shard = p.shard_id;
  const bool windows = opt_.tumbling_window > duration::zero();
  // Work list of (records, attempts made so far); halves of a bisected batch go
  // to the front, first half first, so order within the shard is kept.
  std::deque<std::pair<batch_view, std::int32_t>> work;
  work.emplace_back(batch, 0);
  while (!work.empty()) {
    auto [records, attempts] = work.front();
    work.pop_front();
    while (!records.empty()) {
      if (opt_.maximum_record_age_in_seconds >= 0) {
        const timestamp oldest_allowed = clock_.now() - std::chrono::seconds(opt_.maximum_record_age_in_seconds);
        // Records past the age are dropped to the destination; the rest go on.
        std::size_t expired = 0;
        while (expired < records.size() && arrival_of(records[expired]) < oldest_allowed) {
          ++expired;
        }
        if (expired > 0) {
          fail(shard, records.first(expired), "RecordAgeExceeded", attempts);
          records = records.subspan(expired);
          if (records.empty()) break;
        }
      }
      fill_event(p, records, attempts);
      const function_response resp = fn_(event_);
      ++attempts;
      ++stats_.invocations;
      const bool failed = resp.function_error || (windows && !resp.state);
      std::size_t ok_prefix = records.size();
      if (failed) {
        ok_prefix = 0;
      } else if (opt_.report_batch_item_failures && !resp.batch_item_failures.empty()) {
        // The checkpoint lands just before the lowest failed record; an
        // identifier that names no record of the batch fails the whole batch.
        for (const std::string& id : resp.batch_item_failures) {
          const auto seq = sequence_number::parse(id);
          std::size_t at = records.size();
          if (seq) {
            for (std::size_t i = 0; i < records.size(); ++i) {
              if (records[i].kinesis.sequence_number == *seq) {
                at = i;
                break;
              }
            }
          }
          ok_prefix = std::min(ok_prefix, seq && at < records.size() ? at : 0);
        }
      }
      if (windows && !failed) {
        p.state = *resp.state;
        if (state_bytes(p.state) > kMaxWindowStateBytes) {
          p.final_due = true;  // ends the window early: the final invocation comes next
          p.terminated_early = true;
        }
      }
      stats_.records_processed += static_cast<std::int64_t>(ok_prefix);
      if (ok_prefix > 0 && ok_prefix < records.size() && opt_.parallelization_factor == 1) {
        // ReportBatchItemFailures: the checkpoint lands just before the lowest
        // failure, in the lease table too, before the retry.
        advance(p, records[ok_prefix - 1]);
      }
      records = records.subspan(ok_prefix);
      if (records.empty()) break;
      const bool exhausted = opt_.maximum_retry_attempts >= 0 && attempts > opt_.maximum_retry_attempts;
      if (failed && opt_.bisect_batch_on_function_error && records.size() > 1 && !exhausted) {
        const std::size_t half = records.size() / 2;
        work.emplace_front(records.subspan(half), attempts);
        work.emplace_front(records.first(half), attempts);
        break;
      }
      if (exhausted) {
        fail(shard, records, "RetryAttemptsExhausted", attempts);
        break;
      }
    }
  }
}

}  // namespace rill::lambda
