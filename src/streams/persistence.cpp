// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Durable engines: the manifest writer, opening a data folder (lock, manifest,
// shard logs, orphans, interrupted transitions), the persist hooks the
// control plane calls, and Start/StopStreamEncryption (which work on the
// in-memory engine too).
#include "streams/persistence.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "rill/logging.hpp"
#include "streams/engine_impl.hpp"
#include "streams/engine_shared.hpp"

namespace rill {
namespace detail {

namespace {

constexpr const char* kManifest = "MANIFEST";
constexpr const char* kLock = "LOCK";

std::map<std::string, std::int64_t> throughput_map(const throughput_limits& l) {
  return {{"enabled", l.enabled ? 1 : 0},
          {"write_bytes_per_second", l.write_bytes_per_second},
          {"write_records_per_second", l.write_records_per_second},
          {"read_calls_per_second", l.read_calls_per_second},
          {"read_bytes_per_second", l.read_bytes_per_second},
          {"large_read_bytes", l.large_read_bytes},
          {"large_read_penalty_ms", l.large_read_penalty.count()},
          {"get_shard_iterator_per_second", l.get_shard_iterator_per_second}};
}

throughput_limits throughput_from(const std::map<std::string, std::int64_t>& m, throughput_limits l) {
  auto get = [&](const char* k, std::int64_t& v) {
    if (auto it = m.find(k); it != m.end()) v = it->second;
  };
  std::int64_t enabled = l.enabled ? 1 : 0, penalty = l.large_read_penalty.count();
  get("enabled", enabled);
  get("write_bytes_per_second", l.write_bytes_per_second);
  get("write_records_per_second", l.write_records_per_second);
  get("read_calls_per_second", l.read_calls_per_second);
  get("read_bytes_per_second", l.read_bytes_per_second);
  get("large_read_bytes", l.large_read_bytes);
  get("large_read_penalty_ms", penalty);
  get("get_shard_iterator_per_second", l.get_shard_iterator_per_second);
  l.enabled = enabled != 0;
  l.large_read_penalty = duration(penalty);
  return l;
}

}  // namespace

manifest::stream to_manifest(const stream_state& s) {
  manifest::stream m;
  m.uid = s.uid;
  m.name = s.name;
  m.created_ms = s.created.time_since_epoch().count();
  m.status = std::string(to_string(s.status));
  m.mode = std::string(to_string(s.mode));
  m.retention_hours = s.retention_hours;
  m.tags = s.tags;
  m.shard_level_metrics.assign(s.shard_level_metrics.begin(), s.shard_level_metrics.end());
  m.throughput = throughput_map(s.limits);
  m.encryption_type = std::string(to_string(s.encryption));
  m.key_id = s.key_id;
  m.max_record_size_kib = s.max_record_kib.load();
  m.resource_policy = s.policy;
  m.next_index = s.next_index;
  m.initial_shards = s.initial_shards;
  if (s.activated_at) m.activated_ms = s.activated_at->time_since_epoch().count();
  if (s.expired_through != timestamp::min()) m.expired_through_ms = s.expired_through.time_since_epoch().count();
  if (s.status == stream_status::updating) m.pending = s.pending;
  for (const auto& sh : s.shards) {
    if (!sh) continue;
    manifest::shard x;
    x.index = sh->id.index();
    x.starting_hash_key = sh->start.to_string();
    x.ending_hash_key = sh->end.to_string();
    if (sh->parent) x.parent = sh->parent->index();
    if (sh->adjacent_parent) x.adjacent_parent = sh->adjacent_parent->index();
    x.create_s = sh->create_s;
    x.created_at_ms = sh->created_at.time_since_epoch().count();
    x.closed = sh->closed;
    x.closed_at_ms = sh->closed_at.time_since_epoch().count();
    x.close_offset = sh->close_offset;
    for (auto c : sh->children) x.children.push_back(c.index());
    m.shards.push_back(std::move(x));
  }
  return m;
}

result<std::unique_ptr<persistence>> persistence::open(std::shared_ptr<file_system> fs, std::string dir) {
  if (auto r = fs->create_dirs(dir); !r) return r.error();
  auto lock = fs->lock_file(dir + "/" + kLock);
  if (!lock) {
    return error(error_code::internal_failure,
                 "rill: the data directory " + dir + " is in use by another engine (" + lock.error().message() + ")");
  }
  std::unique_ptr<persistence> p(new persistence(fs, dir + "/" + kManifest, std::move(*lock)));
  (void)fs->remove(p->path_ + ".tmp");  // a replace that did not finish
  if (fs->exists(p->path_)) {
    auto bytes = read_whole_file(*fs, p->path_);
    if (!bytes) return bytes.error();
    auto st = manifest::decode(*bytes, p->path_);
    if (!st) return st.error();
    p->loaded_ = std::move(*st);
  }
  p->next_uid_ = p->loaded_.next_uid;
  // What the next rewrite starts from: every stream on disk, touched or not.
  for (const auto& s : p->loaded_.streams) p->streams_[s.uid] = s;
  return p;
}

result<void> persistence::save(const stream_state& s) {
  auto m = to_manifest(s);
  std::lock_guard lock(mu_);
  if (erased_.contains(s.uid)) return {};
  const auto before = streams_;
  const auto next_before = next_uid_;
  next_uid_ = std::max(next_uid_, s.uid + 1);
  streams_[s.uid] = std::move(m);
  auto r = write_locked();
  if (!r) rollback_locked(before, next_before);
  return r;
}

result<void> persistence::erase(std::uint64_t uid) {
  std::lock_guard lock(mu_);
  const auto before = streams_;
  const auto next_before = next_uid_;
  streams_.erase(uid);
  next_uid_ = std::max(next_uid_, uid + 1);
  auto r = write_locked();
  if (!r) {
    rollback_locked(before, next_before);
    return r;
  }
  erased_.insert(uid);
  return r;
}

void persistence::rollback_locked(std::map<std::uint64_t, manifest::stream> before, std::uint64_t next_uid) {
  streams_ = std::move(before);
  next_uid_ = next_uid;
  // A write that failed after its rename (the folder sync) may have left the
  // new manifest in place: write the old state again, so that a restart finds
  // what the engine keeps running with. If the disk refuses this too, the
  // next successful write brings it in line.
  if (auto r = write_locked(); !r) {
    logger()->error("rill: could not restore the manifest {}: {}", path_, r.error().to_string());
  }
}

std::optional<manifest::stream> persistence::durable(std::uint64_t uid) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(uid);
  if (it == streams_.end()) return std::nullopt;
  return it->second;
}

result<void> persistence::write_locked() {
  manifest::state st;
  st.next_uid = next_uid_;
  for (const auto& [uid, s] : streams_) st.streams.push_back(s);
  return write_file_atomically(*fs_, path_, manifest::encode(st));
}

}  // namespace detail

using detail::shard_state;
using detail::stream_state;

result<void> engine::impl::persist_locked(const stream_state& s) {
  if (!persist) return {};
  auto r = persist->save(s);
  if (!r) {
    logger()->error("rill: could not write the manifest for stream {}: {}", s.name, r.error().to_string());
    return error(error_code::internal_failure,
                 fmt::format("The change to stream {} could not be made durable ({}); it was not made.", s.name,
                             r.error().message()));
  }
  return {};
}

result<void> engine::impl::persist_erase(const stream_state& s) {
  if (!persist) return {};
  auto r = persist->erase(s.uid);
  if (!r) {
    logger()->error("rill: could not write the manifest after removing stream {}: {}", s.name, r.error().to_string());
    return error(error_code::internal_failure,
                 fmt::format("The deletion of stream {} could not be made durable ({}); it was not made.", s.name,
                             r.error().message()));
  }
  return {};
}

engine::impl::persist_on_exit::~persist_on_exit() {
  if (!d || !s) return;
  std::shared_lock lock(s->mu);
  (void)d->persist_locked(*s);
}

result<void> engine::impl::finish(control_call& call, const std::shared_ptr<stream_state>& stream) {
  call.persisted.d = nullptr;  // done here, with the outcome reported
  if (!persist || !stream) return {};
  auto& s = *stream;
  {
    std::unique_lock lock(s.mu);
    auto r = persist_locked(s);
    if (r) return {};
    restore_durable(s);
  }
  if (!call.lock.owns_lock()) call.lock.lock();  // after s.mu: control_mu comes first in the lock order
  if (s.status != stream_status::updating) reserve_shards(s, 0);
  recount(stream);
  return error(error_code::internal_failure,
               fmt::format("The change to stream {} could not be made durable; it was not made.", s.name));
}

void engine::impl::restore_durable(stream_state& s) {
  auto m = persist ? persist->durable(s.uid) : std::nullopt;
  if (!m) return;  // never written: the caller removes the stream
  s.status = m->status == "UPDATING"   ? stream_status::updating
             : m->status == "CREATING" ? stream_status::creating
                                       : stream_status::active;
  if (s.status != stream_status::updating) {
    s.on_updated = nullptr;
    s.pending.clear();
  }
  s.mode = m->mode == "ON_DEMAND" ? stream_mode::on_demand : stream_mode::provisioned;
  s.retention_hours = m->retention_hours;
  s.tags = m->tags;
  s.shard_level_metrics.clear();
  s.shard_metric_mask = 0;
  for (const auto& name : m->shard_level_metrics) {
    s.shard_level_metrics.insert(name);
    if (auto sm = detail::shard_metric_named(name)) s.shard_metric_mask |= 1U << static_cast<unsigned>(*sm);
  }
  const auto limits = detail::throughput_from(m->throughput, opt.throughput);
  const bool rearm = limits.enabled != s.limits.enabled ||
                     limits.write_bytes_per_second != s.limits.write_bytes_per_second ||
                     limits.write_records_per_second != s.limits.write_records_per_second ||
                     limits.read_calls_per_second != s.limits.read_calls_per_second ||
                     limits.read_bytes_per_second != s.limits.read_bytes_per_second;
  s.limits = limits;
  s.encryption = m->encryption_type == "KMS" ? encryption_type::kms : encryption_type::none;
  s.key_id = m->key_id;
  s.max_record_kib = m->max_record_size_kib;
  s.policy = m->resource_policy;
  s.initial_shards = m->initial_shards;
  s.activated_at.reset();
  if (m->activated_ms) s.activated_at = timestamp(duration(*m->activated_ms));
  s.expired_through = m->expired_through_ms ? timestamp(duration(*m->expired_through_ms)) : timestamp::min();
  // Shards made by the change go, with their files; shards it closed open again.
  for (std::size_t i = m->next_index; i < s.shards.size(); ++i) {
    if (s.shards[i]) storage->remove_log({s.name, s.uid, s.shards[i]->id});
  }
  if (s.shards.size() > m->next_index) s.shards.resize(m->next_index);
  s.next_index = m->next_index;
  for (const auto& x : m->shards) {
    if (x.index >= s.shards.size() || !s.shards[x.index]) continue;
    auto& sh = *s.shards[x.index];
    std::unique_lock sl(sh.mu);
    sh.closed = x.closed;
    sh.closed_at = timestamp(duration(x.closed_at_ms));
    sh.close_offset = x.close_offset;
    sh.children.clear();
    for (auto c : x.children) sh.children.push_back(shard_id(c));
    if (rearm) sh.arm(s.limits, now());
    if (!sh.closed)
      sh.log->set_encryption(s.encryption == encryption_type::kms && s.key_id ? *s.key_id : std::string());
  }
  s.open.clear();
  for (const auto& sh : s.shards) {
    if (sh && !sh->closed) s.open.push_back(sh.get());
  }
  std::sort(s.open.begin(), s.open.end(),
            [](const shard_state* a, const shard_state* b) { return a->start < b->start; });
  s.index_open();
}

result<void> engine::impl::open_durable() {
  auto fs = opt.file_system ? opt.file_system : posix_file_system();
  opt.file_system = fs;
  const std::string& dir = opt.data_directory;
  auto p = detail::persistence::open(fs, dir);
  if (!p) return p.error();
  auto st = open_file_storage({.directory = dir,
                               .file_system = fs,
                               .clock = clock,
                               .sync = opt.sync,
                               .sync_interval = opt.sync_interval,
                               .segment_bytes = opt.segment_bytes,
                               .keys = opt.key_provider});
  if (!st) return st.error();
  storage = *st;
  opt.storage = storage;
  persist = std::move(*p);

  const timestamp t = now();
  std::set<std::tuple<std::string, std::uint64_t, std::uint32_t>> live;
  const auto& loaded = persist->loaded();
  next_uid = std::max<std::uint64_t>(next_uid, loaded.next_uid);
  for (const auto& m : loaded.streams) {
    if (m.status == "DELETING") {  // the deletion finishes now
      for (const auto& sh : m.shards) storage->remove_log({m.name, m.uid, shard_id(sh.index)});
      (void)persist->erase(m.uid);
      continue;
    }
    auto s = std::make_shared<stream_state>();
    s->uid = m.uid;
    s->name = m.name;
    s->arn = arn_of(m.name);
    s->created = timestamp(duration(m.created_ms));
    s->mode = m.mode == "ON_DEMAND" ? stream_mode::on_demand : stream_mode::provisioned;
    s->retention_hours = m.retention_hours;
    s->tags = m.tags;
    for (const auto& name : m.shard_level_metrics) {
      s->shard_level_metrics.insert(name);
      if (auto sm = detail::shard_metric_named(name)) s->shard_metric_mask |= 1U << static_cast<unsigned>(*sm);
    }
    s->limits = detail::throughput_from(m.throughput, opt.throughput);
    s->encryption = m.encryption_type == "KMS" ? encryption_type::kms : encryption_type::none;
    s->key_id = m.key_id;
    s->max_record_kib = m.max_record_size_kib;
    s->policy = m.resource_policy;
    s->next_index = m.next_index;
    s->initial_shards = m.initial_shards;
    if (m.activated_ms) s->activated_at = timestamp(duration(*m.activated_ms));
    s->shards.resize(m.next_index);
    for (const auto& x : m.shards) {
      const shard_log_key key{m.name, m.uid, shard_id(x.index)};
      auto log = storage->open_log(key);
      if (!log) return log.error();
      auto start = hash_key::parse(x.starting_hash_key), end = hash_key::parse(x.ending_hash_key);
      if (!start || !end) {
        return error(error_code::internal_failure, "storage: manifest " + persist->path() + " has a bad hash key");
      }
      std::optional<shard_id> parent, adjacent;
      if (x.parent) parent = shard_id(*x.parent);
      if (x.adjacent_parent) adjacent = shard_id(*x.adjacent_parent);
      auto sh = std::make_shared<shard_state>(shard_id(x.index), *start, *end, parent, adjacent, x.create_s,
                                              timestamp(duration(x.created_at_ms)), std::move(*log));
      std::unique_lock sl(sh->mu);
      sh->closed = x.closed;
      sh->closed_at = timestamp(duration(x.closed_at_ms));
      sh->close_offset = x.close_offset;
      for (auto c : x.children) sh->children.push_back(shard_id(c));
      const auto& lg = *sh->log;
      sh->last_arrival = lg.end_offset() > lg.start_offset() ? lg.arrival_time(lg.end_offset() - 1) : sh->created_at;
      sh->arm(s->limits, t);
      if (s->encryption == encryption_type::kms && s->key_id && !sh->closed) sh->log->set_encryption(*s->key_id);
      s->shards[x.index] = std::move(sh);
      live.emplace(m.name, m.uid, x.index);
    }
    for (std::size_t i = 0; i < s->shards.size() && !s->shards[i]; ++i) s->released_prefix = i + 1;
    if (m.expired_through_ms) s->expired_through = timestamp(duration(*m.expired_through_ms));
    std::lock_guard control(control_mu);
    {
      std::unique_lock lock(s->mu);
      for (const auto& sh : s->shards) {
        if (sh && !sh->closed) s->open.push_back(sh.get());
      }
      std::sort(s->open.begin(), s->open.end(),
                [](const shard_state* a, const shard_state* b) { return a->start < b->start; });
      s->index_open();
      if (m.status == "CREATING") {
        s->status = stream_status::creating;
        activate(*s);  // the creation finishes now
        for (const auto& sh : s->shards) {
          if (sh) live.emplace(m.name, m.uid, sh->id.index());
        }
      } else {
        // An UPDATING stream turns ACTIVE; its pending change is issued again
        // once the engine is open (resume_pending).
        s->status = stream_status::active;
        if (m.status == "UPDATING" && !m.pending.empty()) resume.emplace_back(m.name, m.pending);
      }
      if (m.status != "ACTIVE") (void)persist_locked(*s);
    }
    {
      std::unique_lock lock(streams_mu);
      streams.emplace(s->name, s);
      by_name.emplace(s->name, s);
    }
    recount(s);
  }
  // Files of shards the manifest does not know: a crash between creating them
  // and writing the manifest. Nothing in them was acknowledged.
  for (const auto& key : storage->list_logs()) {
    if (!live.contains({key.stream_name, key.stream_uid, key.shard.index()})) {
      logger()->info("rill: removing the files of unknown shard {}@{}/{}", key.stream_name, key.stream_uid,
                     key.shard.to_string());
      storage->remove_log(key);
    }
  }
  return {};
}

void engine::impl::resume_pending(engine& e) {
  auto todo = std::move(resume);
  resume.clear();
  for (const auto& entry : todo) {
    // Named references, not a structured binding: clang 14 cannot capture one in a lambda.
    const auto& name = entry.first;
    const auto& p = entry.second;
    auto field = [&p](const char* k) {
      auto it = p.find(k);
      return it == p.end() ? std::string() : it->second;
    };
    const std::string op = field("op");
    result<void> r;
    if (op == "UpdateShardCount") {
      std::int32_t target = 0;
      const std::string t = field("target_shard_count");
      std::from_chars(t.data(), t.data() + t.size(), target);
      auto u = e.update_shard_count({.stream_name = name, .target_shard_count = target});
      if (!u) r = u.error();
    } else if (op == "SplitShard") {
      r = e.split_shard({.stream_name = name,
                         .shard_to_split = field("shard_to_split"),
                         .new_starting_hash_key = field("new_starting_hash_key")});
    } else if (op == "MergeShards") {
      r = e.merge_shards({.stream_name = name,
                          .shard_to_merge = field("shard_to_merge"),
                          .adjacent_shard_to_merge = field("adjacent_shard_to_merge")});
    } else if (op == "UpdateStreamMode") {
      std::string arn = arn_of(name);
      r = e.update_stream_mode(
          {.stream_arn = arn,
           .stream_mode_details = {.stream_mode = field("stream_mode") == "ON_DEMAND" ? stream_mode::on_demand
                                                                                      : stream_mode::provisioned}});
    } else if (op == "StartStreamEncryption" || op == "StopStreamEncryption") {
      r = change_encryption({.stream_name = name, .key_id = field("key_id")}, op == "StartStreamEncryption");
    } else {
      r = error(error_code::internal_failure, "unknown change '" + op + "'");
    }
    if (r) {
      logger()->info("rill: stream {}: the {} accepted before the restart is in progress again", name, op);
    } else {
      logger()->warn("rill: stream {}: the {} accepted before the restart is refused now: {}", name, op,
                     r.error().to_string());
    }
  }
}

// --- encryption -----------------------------------------------------------------

result<void> engine::impl::change_encryption(const stream_encryption_request& req, bool start) {
  detail::validation v;
  if (req.key_id.empty()) {
    v.length_at_least(req.key_id, "keyId", 1);
  } else if (req.key_id.size() > 2048) {
    v.length_at_most(req.key_id, "keyId", 2048);
  }
  if (!v.ok()) return v.error();
  if (req.encryption_type != encryption_type::kms) {
    return detail::invalid_argument("Encryption type NONE is not supported by this operation. Use KMS.");
  }
  auto call = begin_control(start ? "StartStreamEncryption" : "StopStreamEncryption", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  std::unique_lock lock(st.mu);
  if (st.status != stream_status::active) return detail::stream_not_active(st.at(opt.account_id), st.status);
  const std::string key = req.key_id;
  if (start) {
    if (opt.key_provider) {
      auto k = opt.key_provider->data_key(key);
      if (!k) return k.error();
    } else if (persist) {
      return error(error_code::kms_not_found_exception,
                   fmt::format("Key '{}' does not exist: the engine has no key provider.", key));
    }
  } else if (st.encryption != encryption_type::kms || st.key_id != key) {
    return detail::invalid_argument(
        fmt::format("Stream {} under account {} is not encrypted with key {}.", st.name, opt.account_id, key));
  }
  auto updated = begin_update(call->stream, call->lock, lock,
                              [&st, key, start](std::unique_lock<detail::shared_mutex>&) {
                                st.encryption = start ? encryption_type::kms : encryption_type::none;
                                st.key_id = start ? std::optional<std::string>(key) : std::nullopt;
                                for (auto& sh : st.shards) {
                                  if (!sh || sh->closed) continue;
                                  std::unique_lock sl(sh->mu);
                                  sh->log->set_encryption(start ? key : std::string());
                                }
                              },
                              {{"op", start ? "StartStreamEncryption" : "StopStreamEncryption"}, {"key_id", key}});
  if (!updated) return updated.error();
  return finish(*call, call->stream);
}

result<void> engine::start_stream_encryption(const stream_encryption_request& req) {
  return impl_->change_encryption(req, true);
}

result<void> engine::stop_stream_encryption(const stream_encryption_request& req) {
  return impl_->change_encryption(req, false);
}

}  // namespace rill
