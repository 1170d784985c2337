// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Extended sequence numbers, the lease table's conditional writes, its JSON
// form, and the in-memory store.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

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

std::optional<lease> apply(op_kind kind, const std::optional<lease>& current, const lease& local,
                           std::string_view who) {
  if (!current) return std::nullopt;
  lease next = *current;
  switch (kind) {
    case op_kind::renew:
      if (current->lease_counter != local.lease_counter || !current->lease_owner ||
          current->lease_owner != local.lease_owner || current->checkpoint_owner)
        return std::nullopt;
      next.throughput_kbps = local.throughput_kbps;
      break;
    case op_kind::take:
      if (current->lease_counter != local.lease_counter) return std::nullopt;
      if (current->lease_owner != who) ++next.owner_switches_since_checkpoint;
      next.lease_owner = std::string(who);
      next.checkpoint_owner.reset();
      break;
    case op_kind::initiate_handoff:
      if (current->lease_counter != local.lease_counter || !current->lease_owner ||
          current->lease_owner != local.lease_owner || current->checkpoint_owner || current->lease_owner == who)
        return std::nullopt;
      next.checkpoint_owner = current->lease_owner;
      next.lease_owner = std::string(who);
      ++next.owner_switches_since_checkpoint;
      break;
    case op_kind::evict:
      if (current->checkpoint_owner && *current->checkpoint_owner == who) {
        next.checkpoint_owner.reset();
      } else if (current->lease_owner && *current->lease_owner == who) {
        next.lease_owner.reset();
      } else {
        return std::nullopt;
      }
      break;
    case op_kind::update:
      if (current->lease_counter != local.lease_counter) return std::nullopt;
      if (!((current->lease_owner && *current->lease_owner == who) ||
            (current->checkpoint_owner && *current->checkpoint_owner == who)))
        return std::nullopt;
      next.checkpoint = local.checkpoint;
      next.pending_checkpoint = local.pending_checkpoint;
      next.pending_checkpoint_state = local.pending_checkpoint_state;
      next.owner_switches_since_checkpoint = local.owner_switches_since_checkpoint;
      next.child_shard_ids = local.child_shard_ids;
      next.starting_hash_key = local.starting_hash_key;
      next.ending_hash_key = local.ending_hash_key;
      break;
  }
  ++next.lease_counter;
  return next;
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
    return inserted ? write_status::applied : write_status::condition_failed;
  }
  result<std::optional<lease>> get_lease(std::string_view key) override {
    std::lock_guard lock(mu_);
    auto it = leases_.find(key);
    if (it == leases_.end()) return std::optional<lease>{};
    return std::optional<lease>{it->second};
  }
  result<std::vector<lease>> list_leases() override {
    std::lock_guard lock(mu_);
    std::vector<lease> out;
    out.reserve(leases_.size());
    for (const auto& [k, v] : leases_) out.push_back(v);
    return out;
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
    if (auto it = leases_.find(key); it != leases_.end()) leases_.erase(it);
    return {};
  }

 private:
  result<write_status> write(detail::op_kind kind, lease& local, std::string_view who) {
    std::lock_guard lock(mu_);
    auto it = leases_.find(local.lease_key);
    std::optional<lease> current;
    if (it != leases_.end()) current = it->second;
    auto next = detail::apply(kind, current, local, who);
    if (!next) return write_status::condition_failed;
    it->second = *next;
    local = std::move(*next);
    return write_status::applied;
  }

  std::mutex mu_;
  std::map<std::string, lease, std::less<>> leases_;
};

}  // namespace

std::shared_ptr<lease_store> make_memory_lease_store() { return std::make_shared<memory_lease_store>(); }

}  // namespace rill::kcl
