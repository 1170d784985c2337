// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "storage/manifest.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstring>
#include <set>

#include "storage/crc32c.hpp"
#include "storage/segment_format.hpp"

namespace rill::manifest {
namespace {

using json = nlohmann::json;
constexpr char kMagic[8] = {'R', 'I', 'L', 'L', 'M', 'A', 'N', '1'};
constexpr std::size_t kHeader = 16;
constexpr std::size_t kMaxBody = 256u << 20;

json to_json(const shard& s) {
  json j = {{"index", s.index},
            {"starting_hash_key", s.starting_hash_key},
            {"ending_hash_key", s.ending_hash_key},
            {"create_s", s.create_s},
            {"created_at_ms", s.created_at_ms},
            {"closed", s.closed},
            {"closed_at_ms", s.closed_at_ms},
            {"close_offset", s.close_offset},
            {"children", s.children}};
  if (s.parent) j["parent"] = *s.parent;
  if (s.adjacent_parent) j["adjacent_parent"] = *s.adjacent_parent;
  return j;
}

json to_json(const stream& s) {
  json shards = json::array();
  for (const auto& sh : s.shards) shards.push_back(to_json(sh));
  json j = {{"uid", s.uid},
            {"name", s.name},
            {"created_ms", s.created_ms},
            {"status", s.status},
            {"mode", s.mode},
            {"retention_hours", s.retention_hours},
            {"tags", s.tags},
            {"shard_level_metrics", s.shard_level_metrics},
            {"throughput", s.throughput},
            {"encryption_type", s.encryption_type},
            {"next_index", s.next_index},
            {"initial_shards", s.initial_shards},
            {"shards", std::move(shards)}};
  if (s.key_id) j["key_id"] = *s.key_id;
  if (s.activated_ms) j["activated_ms"] = *s.activated_ms;
  if (s.expired_through_ms) j["expired_through_ms"] = *s.expired_through_ms;
  if (s.max_record_size_kib != 1024) j["max_record_size_kib"] = s.max_record_size_kib;
  if (s.resource_policy) j["resource_policy"] = *s.resource_policy;
  return j;
}

// Typed getters that fail (throw json exceptions, caught below) on a missing
// member or a wrong type; a manifest is all or nothing.
template <class T>
T get(const json& j, const char* key) {
  return j.at(key).get<T>();
}

shard shard_from(const json& j) {
  shard s;
  s.index = get<std::uint32_t>(j, "index");
  s.starting_hash_key = get<std::string>(j, "starting_hash_key");
  s.ending_hash_key = get<std::string>(j, "ending_hash_key");
  if (j.contains("parent")) s.parent = get<std::uint32_t>(j, "parent");
  if (j.contains("adjacent_parent")) s.adjacent_parent = get<std::uint32_t>(j, "adjacent_parent");
  s.create_s = get<std::uint64_t>(j, "create_s");
  s.created_at_ms = get<std::int64_t>(j, "created_at_ms");
  s.closed = get<bool>(j, "closed");
  s.closed_at_ms = get<std::int64_t>(j, "closed_at_ms");
  s.close_offset = get<std::uint64_t>(j, "close_offset");
  s.children = get<std::vector<std::uint32_t>>(j, "children");
  return s;
}

stream stream_from(const json& j) {
  stream s;
  s.uid = get<std::uint64_t>(j, "uid");
  s.name = get<std::string>(j, "name");
  s.created_ms = get<std::int64_t>(j, "created_ms");
  s.status = get<std::string>(j, "status");
  s.mode = get<std::string>(j, "mode");
  s.retention_hours = get<std::int32_t>(j, "retention_hours");
  s.tags = get<std::map<std::string, std::string>>(j, "tags");
  s.shard_level_metrics = get<std::vector<std::string>>(j, "shard_level_metrics");
  s.throughput = get<std::map<std::string, std::int64_t>>(j, "throughput");
  s.encryption_type = get<std::string>(j, "encryption_type");
  if (j.contains("key_id")) s.key_id = get<std::string>(j, "key_id");
  s.next_index = get<std::uint32_t>(j, "next_index");
  s.initial_shards = get<std::int32_t>(j, "initial_shards");
  if (j.contains("activated_ms")) s.activated_ms = get<std::int64_t>(j, "activated_ms");
  if (j.contains("expired_through_ms")) s.expired_through_ms = get<std::int64_t>(j, "expired_through_ms");
  if (j.contains("max_record_size_kib")) s.max_record_size_kib = get<std::int32_t>(j, "max_record_size_kib");
  if (j.contains("resource_policy")) s.resource_policy = get<std::string>(j, "resource_policy");
  const json& shards = j.at("shards");
  if (!shards.is_array()) throw json::type_error::create(302, "shards is not an array", &shards);
  for (const auto& sh : shards) s.shards.push_back(shard_from(sh));
  return s;
}

// Semantic checks: what the engine relies on when it rebuilds its state.
std::optional<std::string> check(const state& st) {
  std::set<std::string> names;
  std::set<std::uint64_t> uids;
  for (const auto& s : st.streams) {
    if (s.name.empty() || s.name.size() > 128) return "a stream name of bad length";
    for (char c : s.name) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
        return "stream name '" + s.name + "' has a character outside [a-zA-Z0-9_.-]";
      }
    }
    if (!names.insert(s.name).second) return "stream '" + s.name + "' appears twice";
    if (s.uid == 0 || s.uid >= st.next_uid || !uids.insert(s.uid).second) return "stream '" + s.name + "': bad uid";
    static const std::set<std::string> statuses{"ACTIVE", "UPDATING", "CREATING", "DELETING"};
    static const std::set<std::string> modes{"PROVISIONED", "ON_DEMAND"};
    if (!statuses.contains(s.status)) return "stream '" + s.name + "': unknown status";
    if (!modes.contains(s.mode)) return "stream '" + s.name + "': unknown mode";
    if (s.encryption_type != "NONE" && s.encryption_type != "KMS") return "stream '" + s.name + "': bad encryption";
    if (s.encryption_type == "KMS" && (!s.key_id || s.key_id->empty())) return "stream '" + s.name + "': no key id";
    if (s.retention_hours < 1 || s.retention_hours > 8760) return "stream '" + s.name + "': bad retention";
    if (s.max_record_size_kib < 1024 || s.max_record_size_kib > 10240) {
      return "stream '" + s.name + "': bad max record size";
    }
    if (s.next_index > 0x7fffffffu) return "stream '" + s.name + "': bad next shard index";
    std::optional<std::uint32_t> prev;
    for (const auto& sh : s.shards) {
      if (sh.index >= s.next_index || (prev && sh.index <= *prev)) {
        return "stream '" + s.name + "': shard indexes out of order";
      }
      prev = sh.index;
      for (const auto* k : {&sh.starting_hash_key, &sh.ending_hash_key}) {
        if (k->empty() || k->size() > 39 || k->find_first_not_of("0123456789") != std::string::npos) {
          return "stream '" + s.name + "': bad hash key";
        }
      }
      for (auto p : {sh.parent, sh.adjacent_parent}) {
        if (p && *p >= sh.index) return "stream '" + s.name + "': a shard's parent is not older than it";
      }
      for (auto c : sh.children) {
        if (c <= sh.index || c >= s.next_index) return "stream '" + s.name + "': bad child shard";
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::string encode(const state& s) {
  json streams = json::array();
  for (const auto& st : s.streams) streams.push_back(to_json(st));
  const std::string body = json{{"version", 1}, {"next_uid", s.next_uid}, {"streams", std::move(streams)}}.dump();
  std::string out(kHeader, '\0');
  std::memcpy(out.data(), kMagic, 8);
  segfmt::put_u32(out.data() + 8, static_cast<std::uint32_t>(body.size()));
  segfmt::put_u32(out.data() + 12, crc32c::value(body));
  out += body;
  return out;
}

result<state> decode(std::string_view bytes, const std::string& path) {
  auto bad = [&](const std::string& why) {
    return error(error_code::internal_failure, "storage: manifest " + path + " is corrupt: " + why);
  };
  if (bytes.size() < kHeader || std::memcmp(bytes.data(), kMagic, 8) != 0) return bad("bad header");
  const std::uint32_t len = segfmt::get_u32(bytes.data() + 8);
  if (len > kMaxBody || bytes.size() != kHeader + len) return bad("length does not match the file");
  const std::string_view body = bytes.substr(kHeader);
  if (crc32c::value(body) != segfmt::get_u32(bytes.data() + 12)) return bad("checksum mismatch");
  state st;
  try {
    const json j = json::parse(body);
    if (get<int>(j, "version") != 1) return bad("unknown version");
    st.next_uid = get<std::uint64_t>(j, "next_uid");
    const json& streams = j.at("streams");
    if (!streams.is_array()) return bad("streams is not an array");
    for (const auto& s : streams) st.streams.push_back(stream_from(s));
  } catch (const json::exception& e) {
    return bad(e.what());
  }
  if (auto why = check(st)) return bad(*why);
  return st;
}

}  // namespace rill::manifest
