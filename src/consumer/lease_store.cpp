// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Extended sequence numbers, the lease table's conditional writes, its JSON
// form, and the in-memory store.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "consumer/lease_ops.hpp"
#include "rill/lease.hpp"

namespace rill::kcl {

namespace {

// AT_TIMESTAMP (-3) < TRIM_HORIZON (-2) < LATEST (-1) < numbers (0) < SHARD_END (1).
int rank_of(std::string_view s) noexcept {
  if (s == "AT_TIMESTAMP") return -3;
  if (s == "TRIM_HORIZON") return -2;
  if (s == "LATEST") return -1;
  if (s == "SHARD_END") return 1;
  return 0;
}

bool is_decimal(std::string_view s) noexcept {
  if (s.empty() || s.size() > 129) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool extended_sequence_number::is_sentinel() const noexcept { return rank_of(sequence_number) != 0; }

bool extended_sequence_number::valid() const noexcept {
  return sub_sequence_number >= 0 && (is_sentinel() || is_decimal(sequence_number));
}

std::string extended_sequence_number::to_string() const {
  if (sub_sequence_number == 0) return sequence_number;
  return sequence_number + "." + std::to_string(sub_sequence_number);
}

std::strong_ordering operator<=>(const extended_sequence_number& a, const extended_sequence_number& b) noexcept {
  const int ra = rank_of(a.sequence_number), rb = rank_of(b.sequence_number);
  if (ra != rb) return ra <=> rb;
  if (ra == 0) {
    // Decimal numbers without leading zeros: longer is larger, else lexicographic.
    if (auto c = a.sequence_number.size() <=> b.sequence_number.size(); c != 0) return c;
    if (int c = a.sequence_number.compare(b.sequence_number); c != 0) return c <=> 0;
  }
  return a.sub_sequence_number <=> b.sub_sequence_number;
}

namespace detail {

bool apply(op_kind kind, lease& item, const lease& local, std::string_view who) {
  switch (kind) {
    case op_kind::renew:
      if (item.lease_counter != local.lease_counter || !item.lease_owner || item.lease_owner != local.lease_owner ||
          item.checkpoint_owner)
        return false;
      item.throughput_kbps = local.throughput_kbps;
      break;
    case op_kind::take:
      if (item.lease_counter != local.lease_counter) return false;
      if (item.lease_owner != who) {
        ++item.owner_switches_since_checkpoint;
        item.lease_owner = std::string(who);
      }
      item.checkpoint_owner.reset();
      break;
    case op_kind::initiate_handoff:
      if (item.lease_counter != local.lease_counter || !item.lease_owner || item.lease_owner != local.lease_owner ||
          item.checkpoint_owner || item.lease_owner == who)
        return false;
      item.checkpoint_owner = std::move(item.lease_owner);
      item.lease_owner = std::string(who);
      ++item.owner_switches_since_checkpoint;
      break;
    case op_kind::evict:
      if (item.checkpoint_owner && *item.checkpoint_owner == who) {
        item.checkpoint_owner.reset();
      } else if (item.lease_owner && *item.lease_owner == who) {
        item.lease_owner.reset();
      } else {
        return false;
      }
      break;
    case op_kind::update:
      if (item.lease_counter != local.lease_counter) return false;
      if (!((item.lease_owner && *item.lease_owner == who) || (item.checkpoint_owner && *item.checkpoint_owner == who)))
        return false;
      item.checkpoint = local.checkpoint;
      item.pending_checkpoint = local.pending_checkpoint;
      item.pending_checkpoint_state = local.pending_checkpoint_state;
      item.owner_switches_since_checkpoint = local.owner_switches_since_checkpoint;
      item.child_shard_ids = local.child_shard_ids;
      item.starting_hash_key = local.starting_hash_key;
      item.ending_hash_key = local.ending_hash_key;
      break;
  }
  ++item.lease_counter;
  return true;
}

std::string to_json(const lease& l) {
  nlohmann::ordered_json j;
  j["leaseKey"] = l.lease_key;
  if (l.lease_owner) j["leaseOwner"] = *l.lease_owner;
  j["leaseCounter"] = l.lease_counter;
  j["checkpoint"] = l.checkpoint.sequence_number;
  j["checkpointSubSequenceNumber"] = l.checkpoint.sub_sequence_number;
  if (l.pending_checkpoint) {
    j["pendingCheckpoint"] = l.pending_checkpoint->sequence_number;
    j["pendingCheckpointSubSequenceNumber"] = l.pending_checkpoint->sub_sequence_number;
  }
  // Binary in DynamoDB; stored here as a JSON array of byte values so any bytes survive.
  if (l.pending_checkpoint_state) {
    auto arr = nlohmann::ordered_json::array();
    for (unsigned char c : *l.pending_checkpoint_state) arr.push_back(static_cast<int>(c));
    j["pendingCheckpointState"] = std::move(arr);
  }
  j["ownerSwitchesSinceCheckpoint"] = l.owner_switches_since_checkpoint;
  if (!l.parent_shard_ids.empty()) j["parentShardId"] = l.parent_shard_ids;
  if (!l.child_shard_ids.empty()) j["childShardIds"] = l.child_shard_ids;
  if (!l.starting_hash_key.empty()) j["startingHashKey"] = l.starting_hash_key;
  if (!l.ending_hash_key.empty()) j["endingHashKey"] = l.ending_hash_key;
  if (l.checkpoint_owner) j["checkpointOwner"] = *l.checkpoint_owner;
  j["throughputKBps"] = l.throughput_kbps;
  return j.dump();
}

std::optional<lease> from_json(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    lease l;
    l.lease_key = j.at("leaseKey").get<std::string>();
    if (j.contains("leaseOwner")) l.lease_owner = j["leaseOwner"].get<std::string>();
    l.lease_counter = j.at("leaseCounter").get<std::int64_t>();
    l.checkpoint.sequence_number = j.at("checkpoint").get<std::string>();
    l.checkpoint.sub_sequence_number = j.value("checkpointSubSequenceNumber", std::int64_t{0});
    if (j.contains("pendingCheckpoint")) {
      l.pending_checkpoint = extended_sequence_number{j["pendingCheckpoint"].get<std::string>(),
                                                      j.value("pendingCheckpointSubSequenceNumber", std::int64_t{0})};
    }
    if (j.contains("pendingCheckpointState")) {
      std::string s;
      for (const auto& b : j["pendingCheckpointState"]) {
        const int v = b.get<int>();
        if (v < 0 || v > 255) return std::nullopt;
        s.push_back(static_cast<char>(v));
      }
      l.pending_checkpoint_state = std::move(s);
    }
    l.owner_switches_since_checkpoint = j.value("ownerSwitchesSinceCheckpoint", std::int64_t{0});
    if (j.contains("parentShardId")) l.parent_shard_ids = j["parentShardId"].get<std::vector<std::string>>();
    if (j.contains("childShardIds")) l.child_shard_ids = j["childShardIds"].get<std::vector<std::string>>();
    l.starting_hash_key = j.value("startingHashKey", std::string{});
    l.ending_hash_key = j.value("endingHashKey", std::string{});
    if (j.contains("checkpointOwner")) l.checkpoint_owner = j["checkpointOwner"].get<std::string>();
    l.throughput_kbps = j.value("throughputKBps", 0.0);
    if (!std::isfinite(l.throughput_kbps)) return std::nullopt;
    if (l.lease_key.empty() || !l.checkpoint.valid()) return std::nullopt;
    if (l.pending_checkpoint && !l.pending_checkpoint->valid()) return std::nullopt;
    return l;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace detail

namespace {

class memory_lease_store final : public lease_store {
 public:
  result<write_status> create_lease_if_not_exists(const lease& l) override {
    std::lock_guard lock(mu_);
    auto [it, inserted] = leases_.try_emplace(l.lease_key, l);
    if (inserted) order_dirty_ = true;
    return inserted ? write_status::applied : write_status::condition_failed;
  }
  result<std::optional<lease>> get_lease(std::string_view key) override {
    std::lock_guard lock(mu_);
    auto it = leases_.find(std::string(key));
    if (it == leases_.end()) return std::optional<lease>{};
    return std::optional<lease>{it->second};
  }
  result<std::vector<lease>> list_leases() override {
    std::lock_guard lock(mu_);
    std::vector<lease> out;
    out.reserve(leases_.size());
    for (const lease* l : ordered()) out.push_back(*l);
    return out;
  }
  result<void> scan_leases(std::vector<lease>& out) override {
    std::lock_guard lock(mu_);
    out.resize(leases_.size());
    auto o = out.begin();
    for (const lease* l : ordered()) *o++ = *l;  // copy-assignment reuses the strings of the last scan
    return {};
  }
  result<write_status> renew_lease(lease& local) override { return write(detail::op_kind::renew, local, {}); }
  result<write_status> take_lease(lease& local, std::string_view owner) override {
    return write(detail::op_kind::take, local, owner);
  }
  result<write_status> initiate_handoff(lease& local, std::string_view next) override {
    return write(detail::op_kind::initiate_handoff, local, next);
  }
  result<write_status> evict_lease(lease& local, std::string_view worker) override {
    return write(detail::op_kind::evict, local, worker);
  }
  result<write_status> update_lease(lease& local, std::string_view writer) override {
    return write(detail::op_kind::update, local, writer);
  }
  result<void> delete_lease(std::string_view key) override {
    std::lock_guard lock(mu_);
    if (auto it = leases_.find(std::string(key)); it != leases_.end()) {
      leases_.erase(it);
      order_dirty_ = true;
    }
    return {};
  }

 private:
  result<write_status> write(detail::op_kind kind, lease& local, std::string_view who) {
    std::lock_guard lock(mu_);
    auto it = leases_.find(local.lease_key);
    if (it == leases_.end() || !detail::apply(kind, it->second, local, who)) return write_status::condition_failed;
    local = it->second;  // copy-assignment: reuses local's strings, no allocation in the steady state
    return write_status::applied;
  }

  std::mutex mu_;
  // The leases by key, in key order (rebuilt only after a create or delete).
  const std::vector<const lease*>& ordered() {
    if (order_dirty_) {
      order_.clear();
      order_.reserve(leases_.size());
      for (const auto& kv : leases_) order_.push_back(&kv.second);
      std::sort(order_.begin(), order_.end(),
                [](const lease* a, const lease* b) { return a->lease_key < b->lease_key; });
      order_dirty_ = false;
    }
    return order_;
  }

  // A hash map: every renewal and checkpoint looks its lease up (an ordered map
  // of shard ids, which share a long prefix, spent most of its time in memcmp).
  std::unordered_map<std::string, lease> leases_;
  std::vector<const lease*> order_;
  bool order_dirty_ = false;
};

}  // namespace

std::shared_ptr<lease_store> make_memory_lease_store() { return std::make_shared<memory_lease_store>(); }

}  // namespace rill::kcl
