// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Resharding: the topology primitives (add, close, split, merge shards),
// SplitShard, MergeShards, UpdateShardCount, UpdateStreamMode, and the
// on-demand scaler that splits hot shards.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>

#include "rill/logging.hpp"
#include "streams/engine_impl.hpp"
#include "streams/engine_shared.hpp"

namespace rill {

using detail::seconds_of;
using detail::shard_state;
using detail::stream_state;
using detail::uniform_starts;
using detail::validate_shard_id_input;
using detail::validation;

namespace detail {

// The uniform layout of n shards: shard i starts at floor(2^128 / n) * i.
std::vector<hash_key> uniform_starts(std::uint32_t n) {
  using u128 = unsigned __int128;
  const u128 max = ~u128{0};
  // floor(2^128 / n) without 2^128: (2^128 - 1) / n, plus one when n divides 2^128.
  const u128 step = max / n + (max % n + 1 == n ? 1 : 0);
  std::vector<hash_key> starts;
  starts.reserve(n);
  for (u128 i = 0; i < n; ++i) starts.emplace_back(step * i);
  return starts;
}

}  // namespace detail

namespace {

// The creation second of a child shard: after its parents', and after now, so
// every child number exceeds every parent number.
std::uint64_t child_create_seconds(std::uint64_t parent_create_s, timestamp now) {
  return std::max(parent_create_s, seconds_of(now)) + 1;
}

}  // namespace

// --- topology primitives -----------------------------------------------------

std::shared_ptr<shard_state> engine::impl::make_shard(stream_state& s, shard_id id, hash_key start, hash_key end,
                                                      std::optional<shard_id> parent, std::optional<shard_id> adjacent,
                                                      std::uint64_t create_s, timestamp now) {
  auto log = storage->create_log({s.name, s.uid, id});
  if (!log) throw std::runtime_error("rill: storage could not create a shard log: " + log.error().to_string());
  if (s.encryption == encryption_type::kms && s.key_id) (*log)->set_encryption(*s.key_id);
  auto sh = std::make_shared<shard_state>(id, start, end, parent, adjacent, create_s, now, std::move(*log));
  {
    std::unique_lock lock(sh->mu);
    sh->arm(s.limits, now);
  }
  return sh;
}

shard_state* engine::impl::add_shard(stream_state& s, hash_key start, hash_key end, std::optional<shard_id> parent,
                                     std::optional<shard_id> adjacent, std::uint64_t create_s, timestamp now) {
  auto sh = make_shard(s, shard_id(s.next_index), start, end, parent, adjacent, create_s, now);
  ++s.next_index;
  s.shards.push_back(sh);
  return sh.get();
}

std::size_t engine::impl::open_position(const stream_state& s, const shard_state& sh) const {
  auto it = std::lower_bound(s.open.begin(), s.open.end(), sh.start,
                             [](const shard_state* x, hash_key k) { return x->start < k; });
  assert(it != s.open.end() && *it == &sh);
  return static_cast<std::size_t>(it - s.open.begin());
}

void engine::impl::replace_open(stream_state& s, std::size_t first, std::size_t count,
                                std::initializer_list<shard_state*> with) {
  auto at = s.open.erase(s.open.begin() + static_cast<std::ptrdiff_t>(first),
                         s.open.begin() + static_cast<std::ptrdiff_t>(first + count));
  s.open.insert(at, with.begin(), with.end());
  s.index_open();
}

void engine::impl::close_shard(shard_state& sh, timestamp t) {
  std::unique_lock lock(sh.mu);
  sh.closed = true;
  sh.closed_at = std::max(t, sh.last_arrival);
  sh.close_offset = sh.log->end_offset();
  lock.unlock();
  if (sh.fanout.armed()) detail::fanout_hub::notify(sh);  // subscribers reach the end
}

void engine::impl::split(stream_state& s, shard_state& parent, hash_key at, timestamp t) {
  const std::size_t pos = open_position(s, parent);
  close_shard(parent, t);
  const std::uint64_t cs = claim_create_seconds(child_create_seconds(parent.create_s, t));
  auto* lo = add_shard(s, parent.start, hash_key(at.value() - 1), parent.id, std::nullopt, cs, t);
  auto* hi = add_shard(s, at, parent.end, parent.id, std::nullopt, cs, t);
  parent.children = {lo->id, hi->id};
  replace_open(s, pos, 1, {lo, hi});
}

void engine::impl::merge(stream_state& s, shard_state& lower, shard_state& upper, timestamp t) {
  const std::size_t pos = open_position(s, lower);
  assert(pos + 1 < s.open.size() && s.open[pos + 1] == &upper);
  close_shard(lower, t);
  close_shard(upper, t);
  const std::uint64_t cs = claim_create_seconds(child_create_seconds(std::max(lower.create_s, upper.create_s), t));
  auto* child = add_shard(s, lower.start, upper.end, lower.id, upper.id, cs, t);
  lower.children = {child->id};
  upper.children = {child->id};
  replace_open(s, pos, 2, {child});
}

result<void> engine::impl::begin_update(const std::shared_ptr<stream_state>& s, std::unique_lock<std::mutex>& control,
                                        std::unique_lock<detail::shared_mutex>& lock, update_fn change,
                                        std::map<std::string, std::string> pending) {
  if (opt.update_stream_delay <= duration::zero()) {
    change(lock);
    // Before the stream lock goes: no put reaches a new shard before the
    // manifest knows it. Exclusive, so that a failed write can undo the change.
    if (!lock.owns_lock()) lock.lock();
    auto r = persist_locked(*s);
    if (!r) restore_durable(*s);  // nothing acknowledged that is not durable
    lock.unlock();                // before control_mu, which comes first in the lock order
    if (!control.owns_lock()) control.lock();
    reserve_shards(*s, 0);
    recount(s);
    return r;
  }
  s->status = stream_status::updating;
  s->on_updated = std::move(change);
  s->pending = std::move(pending);
  std::weak_ptr<stream_state> weak = s;
  sched->call_at(now() + opt.update_stream_delay, [this, weak] {
    auto st = weak.lock();
    if (!st) return;
    // The stream's control lock only: the change's per-shard work does not
    // hold up other streams' control calls; control_mu only for the recount.
    std::lock_guard stream_control(st->control_mu);
    {
      std::unique_lock lock(st->mu);
      if (st->status != stream_status::updating) return;  // deleted meanwhile
      auto fn = std::move(st->on_updated);
      st->on_updated = nullptr;
      st->pending.clear();
      if (fn) fn(lock);
      if (!lock.owns_lock()) lock.lock();
      st->status = stream_status::active;
      (void)persist_locked(*st);  // logged; retried by the stream's next change
    }
    std::lock_guard control(control_mu);
    reserve_shards(*st, 0);
    recount(st);
  });
  lock.unlock();
  return {};
}

// --- uniform scaling ------------------------------------------------------------

namespace {

// The splits and merges that take the open shards to `target` shards of equal
// size, planned before anything changes. A target boundary within a tiny
// tolerance (a 2^-32 part of a target shard's width) of a current boundary
// keeps the current one, so the rounding of two uniform layouts (n and 2n
// shards, say) costs no sliver shards: doubling is one split per shard, halving
// one merge per pair, and in general every target boundary that falls inside a
// shard costs one split and every current boundary that falls inside a target
// shard one merge, the fewest any sequence of splits and merges can do.
struct reshard_plan {
  // A shard of the plan: an open shard (its position in `open`) or one the plan
  // creates (its number among the created shards).
  struct node {
    hash_key start;
    hash_key end;
    std::int64_t open_pos = -1;
    std::int64_t created = -1;
    std::uint64_t create_s = 0;
  };
  struct op {
    bool split = false;
    node a;       // the parent (split) or the lower parent (merge)
    node b;       // the upper parent (merge)
    hash_key at;  // split: where the upper child starts
    std::int64_t first_child = 0;
  };
  struct child {
    hash_key start;
    hash_key end;
    node parent;
    std::optional<node> adjacent;
    std::uint64_t create_s = 0;
  };
  std::vector<op> ops;
  std::vector<child> children;      // by creation number
  std::vector<node> result;         // the open shards afterwards, by hash key
  std::int64_t peak_extra = 0;      // most open shards above the current count at any step
  std::uint64_t last_create_s = 0;  // the latest creation second of a child
};

// `last_create_s`: the engine's last claimed creation second; every child
// gets a later one (plan.last_create_s is the last the plan uses).
reshard_plan plan_uniform(const std::vector<shard_state*>& open, std::uint32_t target, timestamp t,
                          std::uint64_t last_create_s) {
  using u128 = unsigned __int128;
  reshard_plan plan;
  const auto ideal = uniform_starts(target);
  const u128 tol = (target > 1 ? ideal[1].value() : ~u128{0}) >> 32;
  // The target boundaries (starts of shards 1..target-1), snapped to a current
  // boundary when one is within the tolerance.
  std::vector<hash_key> bounds;
  bounds.reserve(target);
  for (std::size_t j = 1; j < ideal.size(); ++j) {
    const u128 b = ideal[j].value();
    auto it = std::lower_bound(open.begin() + 1, open.end(), ideal[j],
                               [](const shard_state* x, hash_key k) { return x->start < k; });
    u128 best = b;
    u128 best_diff = tol + 1;
    if (it != open.end() && (*it)->start.value() - b <= tol) {
      best = (*it)->start.value();
      best_diff = (*it)->start.value() - b;
    }
    if (it != open.begin() + 1 && b - (*(it - 1))->start.value() < best_diff) best = (*(it - 1))->start.value();
    bounds.emplace_back(best);
  }
  std::int64_t extra = 0;
  auto make_node_open = [&](std::size_t i) {
    return reshard_plan::node{open[i]->start, open[i]->end, static_cast<std::int64_t>(i), -1, open[i]->create_s};
  };
  auto create = [&](hash_key start, hash_key end, const reshard_plan::node& parent,
                    std::optional<reshard_plan::node> adjacent) {
    const std::uint64_t ps = std::max(parent.create_s, adjacent ? adjacent->create_s : 0);
    const std::uint64_t cs = std::max(child_create_seconds(ps, t), last_create_s + 1);
    plan.last_create_s = std::max(plan.last_create_s, cs);
    plan.children.push_back({start, end, parent, adjacent, cs});
    return reshard_plan::node{start, end, -1, static_cast<std::int64_t>(plan.children.size() - 1), cs};
  };
  std::size_t next = 1;
  reshard_plan::node cur = make_node_open(0);
  for (std::size_t j = 0; j < target; ++j) {
    const hash_key hi = j + 1 < target ? hash_key(bounds[j].value() - 1) : hash_key::max();
    for (;;) {
      if (cur.end == hi) {
        plan.result.push_back(cur);
        if (next < open.size()) cur = make_node_open(next++);
        break;
      }
      if (hi < cur.end) {  // a target boundary inside `cur`: split there
        reshard_plan::op o;
        o.split = true;
        o.a = cur;
        o.at = hash_key(hi.value() + 1);
        o.first_child = static_cast<std::int64_t>(plan.children.size());
        auto lo = create(cur.start, hi, cur, std::nullopt);
        auto up = create(o.at, cur.end, cur, std::nullopt);
        plan.ops.push_back(o);
        plan.result.push_back(lo);
        cur = up;
        plan.peak_extra = std::max(plan.peak_extra, ++extra);
        break;
      }
      // `cur` ends inside the target shard: merge it with the next one.
      assert(next < open.size());
      reshard_plan::op o;
      o.a = cur;
      o.b = make_node_open(next++);
      o.first_child = static_cast<std::int64_t>(plan.children.size());
      cur = create(o.a.start, o.b.end, o.a, o.b);
      plan.ops.push_back(o);
      --extra;
    }
  }
  return plan;
}

}  // namespace

// --- resharding --------------------------------------------------------------

namespace {

error provisioned_only(std::string_view op) {
  return {error_code::validation_exception,
          fmt::format("{} is only supported for data streams with the provisioned capacity mode.", op)};
}

// Resharding needs an ACTIVE, PROVISIONED stream. Caller holds st.mu.
std::optional<error> reshardable(const stream_state& st, std::string_view op, detail::where w) {
  if (st.status != stream_status::active) return detail::stream_not_active(w, st.status);
  if (st.mode == stream_mode::on_demand) return provisioned_only(op);
  return std::nullopt;
}

error not_eligible(detail::where w, shard_id id, std::string_view what) {
  return {error_code::resource_in_use_exception,
          fmt::format("Shard {} in stream {} under account {} has already been merged or split, and thus is not "
                      "eligible for {}.",
                      id.to_string(), w.stream, w.account, what)};
}

}  // namespace

result<void> engine::split_shard(const split_shard_request& req) {
  auto& d = *impl_;
  validation v;
  validate_shard_id_input(v, req.shard_to_split, "shardToSplit");
  if (!detail::is_decimal(req.new_starting_hash_key, 39)) {
    v.pattern(req.new_starting_hash_key, "newStartingHashKey", detail::kHashKeyPattern);
  }
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
  if (!v.ok()) return v.error();
  if (auto range = d.check_clock_range(d.now()); !range) return range.error();
  auto call = d.begin_control("SplitShard", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto stream = call->stream;  // a copy: the call keeps the stream alive until its locks are released
  auto& st = *stream;
  const auto w = d.at(st.name);
  // Before the stream lock: it takes streams_mu, which comes first in the lock order.
  const std::int64_t current = d.open_shard_total();
  const std::int64_t committed = d.committed_shard_total();
  std::unique_lock lock(st.mu);
  if (auto e = reshardable(st, "SplitShard", w)) return *e;
  shard_state* found = st.live_shard(shard_id::parse(req.shard_to_split), d.now());
  if (!found) return detail::shard_not_found(w, req.shard_to_split);
  shard_state& parent = *found;
  if (parent.closed) return not_eligible(w, parent.id, "splitting");
  auto key = hash_key::parse(req.new_starting_hash_key);
  // The key must leave at least two hash keys in the lower child (AWS's rule).
  if (!key || key->value() <= parent.start.value() + 1 || *key >= parent.end) {
    return detail::invalid_argument(fmt::format(
        "NewStartingHashKey {} used in SplitShard() on shard {} in stream {} under account {} is not both greater "
        "than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
        req.new_starting_hash_key, parent.id.to_string(), st.name, d.opt.account_id, parent.start.to_string(),
        parent.end.to_string()));
  }
  if (committed + 1 > d.opt.shard_limit) {
    return detail::shard_limit_exceeded(d.opt.account_id, d.opt.region, current, d.opt.shard_limit, 1);
  }
  const hash_key at = *key;
  const shard_id pid = parent.id;
  logger()->info("SplitShard {} of stream {} at {}", pid.to_string(), st.name, at.to_string());
  d.reserve_shards(st, 1);  // the extra open shard, until the split is applied
  auto updated = d.begin_update(
      stream, call->lock, lock,
      [&d, &st, pid, at](std::unique_lock<detail::shared_mutex>&) {
        auto& p = *st.shards[pid.index()];
        if (!p.closed) d.split(st, p, at, d.now());
      },
      {{"op", "SplitShard"}, {"shard_to_split", pid.to_string()}, {"new_starting_hash_key", at.to_string()}});
  if (!updated) return updated.error();
  return d.finish(*call, stream);
}

result<void> engine::merge_shards(const merge_shards_request& req) {
  auto& d = *impl_;
  validation v;
  validate_shard_id_input(v, req.shard_to_merge, "shardToMerge");
  validate_shard_id_input(v, req.adjacent_shard_to_merge, "adjacentShardToMerge");
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
  if (!v.ok()) return v.error();
  if (auto range = d.check_clock_range(d.now()); !range) return range.error();
  auto call = d.begin_control("MergeShards", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto stream = call->stream;  // a copy: the call keeps the stream alive until its locks are released
  auto& st = *stream;
  const auto w = d.at(st.name);
  std::unique_lock lock(st.mu);
  if (auto e = reshardable(st, "MergeShards", w)) return *e;
  const timestamp t = d.now();
  shard_state* a = st.live_shard(shard_id::parse(req.shard_to_merge), t);
  if (!a) return detail::shard_not_found(w, req.shard_to_merge);
  shard_state* b = st.live_shard(shard_id::parse(req.adjacent_shard_to_merge), t);
  if (!b) return detail::shard_not_found(w, req.adjacent_shard_to_merge);
  if (a->closed) return not_eligible(w, a->id, "merging");
  if (b->closed) return not_eligible(w, b->id, "merging");
  if (a == b || a->end == hash_key::max() || hash_key(a->end.value() + 1) != b->start) {
    return detail::invalid_argument(
        fmt::format("Shards {} and {} in stream {} under account {} are not an adjacent pair of shards eligible for "
                    "merging",
                    a->id.to_string(), b->id.to_string(), st.name, d.opt.account_id));
  }
  const shard_id lo = a->id;
  const shard_id hi = b->id;
  auto updated = d.begin_update(
      stream, call->lock, lock,
      [&d, &st, lo, hi](std::unique_lock<detail::shared_mutex>&) {
        auto& x = *st.shards[lo.index()];
        auto& y = *st.shards[hi.index()];
        if (!x.closed && !y.closed) d.merge(st, x, y, d.now());
      },
      {{"op", "MergeShards"}, {"shard_to_merge", lo.to_string()}, {"adjacent_shard_to_merge", hi.to_string()}});
  if (!updated) return updated.error();
  return d.finish(*call, stream);
}

result<update_shard_count_result> engine::update_shard_count(const update_shard_count_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.target_shard_count < 1) v.value_at_least(req.target_shard_count, "targetShardCount", 1);
  if (req.target_shard_count > 100000) v.value_at_most(req.target_shard_count, "targetShardCount", 100000);
  if (req.scaling_type != scaling_type::uniform_scaling) {
    v.enum_value(static_cast<unsigned>(req.scaling_type), "scalingType", detail::kScalingTypeSet);
  }
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
  if (!v.ok()) return v.error();
  if (auto range = d.check_clock_range(d.now()); !range) return range.error();
  auto call = d.begin_control("UpdateShardCount", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto stream = call->stream;  // a copy: the call keeps the stream alive until its locks are released
  auto& st = *stream;
  const auto w = d.at(st.name);
  // From here on this call holds the stream's control lock, and control_mu
  // (the engine's) only to check and reserve the shard quota: the checks, the
  // plan and the new shards need only this stream, so control calls on other
  // streams (create_stream, ...) do not wait for them.
  call->lock.unlock();
  // The checks and the plan under the stream lock shared (puts go on); the
  // topology and status change only under the stream's control lock, held.
  std::shared_lock check(st.mu);
  if (auto e = reshardable(st, "UpdateShardCount", w)) return *e;
  const auto current = static_cast<std::int32_t>(st.open.size());
  const std::int32_t target = req.target_shard_count;
  if (target > 2 * current) {
    return error(error_code::limit_exceeded_exception,
                 fmt::format("UpdateShardCount cannot scale up over double your current open shard count. Current "
                             "open shard count: {}, Target shard count: {}",
                             current, target));
  }
  if (2 * target < current) {
    return error(error_code::limit_exceeded_exception,
                 fmt::format("UpdateShardCount cannot scale down below half your current open shard count. Current "
                             "open shard count: {}, Target shard count: {}",
                             current, target));
  }
  if (target > 10000 && target > current) {
    return error(error_code::limit_exceeded_exception,
                 fmt::format("UpdateShardCount cannot scale a stream beyond 10000 shards. Current open shard count: "
                             "{}, Target shard count: {}",
                             current, target));
  }
  const auto& cp = d.opt.control_plane;
  if (cp.enabled &&
      st.scalings.count(d.now(), std::chrono::hours(24)) >= static_cast<std::size_t>(cp.max_scalings_per_day) &&
      d.enforce("UpdateShardCount per 24 hours", st.name)) {
    return error(error_code::limit_exceeded_exception,
                 fmt::format("Exceeded the limit of {} UpdateShardCount calls per rolling 24 hours for stream {} under "
                             "account {}. The next call is allowed at {}.",
                             cp.max_scalings_per_day, st.name, d.opt.account_id,
                             detail::java_date(st.scalings.next_free(std::chrono::hours(24)))));
  }
  // The plan is made again when the change runs (the same open shards then:
  // the topology changes only under the stream's control lock, and the stream
  // is UPDATING).
  const std::int64_t peak =
      plan_uniform(st.open, static_cast<std::uint32_t>(target), d.now(), d.last_create_s.load()).peak_extra;
  check.unlock();
  {
    // The quota: the open shards of every stream plus what changes in progress
    // reserved. This change's peak stays reserved until it is applied, so a
    // create_stream meanwhile cannot take the shards it needs.
    call->lock.lock();
    const std::int64_t committed = d.committed_shard_total() - st.reserved_shards;
    if (committed + peak > d.opt.shard_limit) {
      return detail::shard_limit_exceeded(d.opt.account_id, d.opt.region, d.open_shard_total(), d.opt.shard_limit,
                                          peak);
    }
    d.reserve_shards(st, peak);
    call->lock.unlock();
  }
  if (cp.enabled) st.scalings.add(d.now());
  logger()->info("UpdateShardCount on stream {}: {} -> {} open shards", st.name, current, target);
  std::unique_lock lock(st.mu);
  auto updated =
      d.begin_update(stream, call->lock, lock,
                     [&d, &st, target](std::unique_lock<detail::shared_mutex>& held) {
                       // Plan and make the new shards (and their logs) with the stream lock
                       // released: puts and reads go on meanwhile. The topology changes only
                       // under the stream's control lock, which is held, so the plan stays valid.
                       // Neither control_mu nor any other stream's lock is held.
                       held.unlock();
                       const timestamp now = d.now();
                       // The children's creation seconds: claimed at once for the whole plan (a
                       // compare-and-swap on the engine's last one; planned again if another
                       // stream claimed one meanwhile).
                       reshard_plan plan;
                       for (;;) {
                         std::uint64_t last = d.last_create_s.load();
                         plan = plan_uniform(st.open, static_cast<std::uint32_t>(target), now, last);
                         if (d.last_create_s.compare_exchange_strong(last, std::max(last, plan.last_create_s))) break;
                       }
                       std::vector<std::shared_ptr<shard_state>> made;
                       made.reserve(plan.children.size());
                       const std::uint32_t base = st.next_index;
                       auto id_of = [&](const reshard_plan::node& n) {
                         return n.open_pos >= 0 ? st.open[static_cast<std::size_t>(n.open_pos)]->id
                                                : shard_id(base + static_cast<std::uint32_t>(n.created));
                       };
                       for (const auto& c : plan.children) {
                         std::optional<shard_id> adjacent;
                         if (c.adjacent) adjacent = id_of(*c.adjacent);
                         made.push_back(d.make_shard(st, shard_id(base + static_cast<std::uint32_t>(made.size())),
                                                     c.start, c.end, id_of(c.parent), adjacent, c.create_s, now));
                       }
                       std::vector<shard_state*> open;
                       open.reserve(plan.result.size());
                       auto resolve = [&](const reshard_plan::node& n) -> shard_state* {
                         return n.open_pos >= 0 ? st.open[static_cast<std::size_t>(n.open_pos)]
                                                : made[static_cast<std::size_t>(n.created)].get();
                       };
                       for (const auto& n : plan.result) open.push_back(resolve(n));
                       std::vector<hash_key> open_starts;
                       open_starts.reserve(open.size());
                       for (const shard_state* sh : open) open_starts.push_back(sh->start);
                       held.lock();
                       // Apply: close the parents in plan order and swap in the new open shards.
                       for (const auto& o : plan.ops) {
                         shard_state* a = resolve(o.a);
                         const auto first = static_cast<std::size_t>(o.first_child);
                         d.close_shard(*a, now);
                         if (o.split) {
                           a->children = {made[first]->id, made[first + 1]->id};
                         } else {
                           shard_state* b = resolve(o.b);
                           d.close_shard(*b, now);
                           a->children = {made[first]->id};
                           b->children = {made[first]->id};
                         }
                       }
                       st.open = std::move(open);
                       st.open_starts = std::move(open_starts);
                       st.shards.reserve(st.shards.size() + made.size());
                       for (auto& m : made) st.shards.push_back(std::move(m));
                       st.next_index = base + static_cast<std::uint32_t>(plan.children.size());
                     },
                     {{"op", "UpdateShardCount"}, {"target_shard_count", std::to_string(target)}});
  if (!updated) return updated.error();
  if (auto r = d.finish(*call, stream); !r) return r.error();
  return update_shard_count_result{st.name, st.arn, current, target};
}

result<void> engine::update_stream_mode(const update_stream_mode_request& req) {
  auto& d = *impl_;
  {
    validation v;
    engine::impl::validate_ref(v, std::nullopt, req.stream_arn);
    const auto m = req.stream_mode_details.stream_mode;
    if (m != stream_mode::provisioned && m != stream_mode::on_demand) {
      v.enum_value(static_cast<unsigned>(m), "streamModeDetails.streamMode", detail::kStreamModeSet);
    }
    if (!v.ok()) return v.error();
  }
  auto call = d.begin_control("UpdateStreamMode", std::nullopt, req.stream_arn);
  if (!call) return call.error();
  auto stream = call->stream;  // a copy: the call keeps the stream alive until its locks are released
  auto& st = *stream;
  const auto w = d.at(st.name);
  const stream_mode mode = req.stream_mode_details.stream_mode;
  if (mode == stream_mode::on_demand) {
    // Before the stream lock: it takes streams_mu, which comes first in the lock order.
    if (auto quota = d.check_on_demand_quota(); !quota) return quota.error();
  }
  std::unique_lock lock(st.mu);
  if (st.status != stream_status::active) return detail::stream_not_active(w, st.status);
  if (st.mode == mode) {
    return detail::invalid_argument(
        fmt::format("Stream {} under account {} is already in {} mode.", st.name, d.opt.account_id, to_string(mode)));
  }

  const auto& cp = d.opt.control_plane;
  if (cp.enabled) {
    if (st.mode_switches.count(d.now(), std::chrono::hours(24)) >=
            static_cast<std::size_t>(cp.max_mode_switches_per_day) &&
        d.enforce("mode switches per 24 hours", st.name)) {
      return error(error_code::limit_exceeded_exception,
                   fmt::format("Exceeded the limit of {} capacity mode switches per rolling 24 hours for stream {} "
                               "under account {}.",
                               cp.max_mode_switches_per_day, st.name, d.opt.account_id));
    }
    st.mode_switches.add(d.now());
  }
  auto updated =
      d.begin_update(stream, call->lock, lock, [&st, mode](std::unique_lock<detail::shared_mutex>&) { st.mode = mode; },
                     {{"op", "UpdateStreamMode"}, {"stream_mode", std::string(to_string(mode))}});
  if (!updated) return updated.error();
  return d.finish(*call, stream);
}

// --- on-demand scaling -------------------------------------------------------

void engine::impl::scale_on_demand() {
  const auto& od = opt.on_demand;
  const timestamp t = now();
  const std::int64_t this_minute = detail::minute_of(t);
  const std::int64_t minutes = std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::minutes>(od.sustain).count());
  // Only the ON_DEMAND streams, each first under its lock shared: the stream
  // lock is taken exclusive only to split shards found hot.
  std::vector<std::shared_ptr<stream_state>> candidates;
  {
    std::lock_guard control(control_mu);
    for (auto& [uid, weak] : on_demand_set) {
      if (auto s = weak.lock()) candidates.push_back(std::move(s));
    }
  }
  // Each stream under its own control lock: a split changes its topology.
  for (auto& sp : candidates) {
    auto& s = sp;
    std::lock_guard stream_control(s->control_mu);
    std::vector<shard_id> hot;
    {
      std::shared_lock lock(s->mu);
      if (s->mode != stream_mode::on_demand || s->status != stream_status::active) continue;
      const double bytes_cap = static_cast<double>(s->limits.write_bytes_per_second) * 60.0 * od.split_threshold;
      const double records_cap = static_cast<double>(s->limits.write_records_per_second) * 60.0 * od.split_threshold;
      for (auto* sh : s->open) {
        // A shard qualifies once it has lived through `sustain` whole minutes,
        // every one of them above the threshold.
        if (sh->created_at > t - std::chrono::minutes(minutes + 1)) continue;
        std::shared_lock sl(sh->mu);
        bool all_hot = true;
        for (std::int64_t m = this_minute - minutes; m < this_minute && all_hot; ++m) {
          auto [bytes, records] = sh->written_in(m);
          all_hot = static_cast<double>(bytes) > bytes_cap || static_cast<double>(records) > records_cap;
        }
        if (all_hot) hot.push_back(sh->id);
      }
    }
    if (hot.empty()) continue;
    std::unique_lock lock(s->mu);
    for (auto id : hot) {
      if (static_cast<std::int32_t>(s->open.size()) >= od.max_shards) break;
      shard_state* sh = s->shards[id.index()].get();
      if (!sh || sh->closed) continue;
      const auto lo = sh->start.value();
      const auto hi = sh->end.value();
      if (hi - lo < 3) continue;
      const hash_key at(lo + (hi - lo) / 2 + 1);
      logger()->info("on-demand stream {}: splitting hot shard {} at {}", s->name, sh->id.to_string(), at.to_string());
      split(*s, *sh, at, t);
    }
    if (!hot.empty()) (void)persist_locked(*s);  // logged; retried by the stream's next change
  }
}

void engine::impl::schedule_on_demand() {
  if (!opt.on_demand.enabled || opt.on_demand.evaluation_interval <= duration::zero()) return;
  sched->call_at(now() + opt.on_demand.evaluation_interval, [this] {
    scale_on_demand();
    schedule_on_demand();
  });
}

}  // namespace rill
