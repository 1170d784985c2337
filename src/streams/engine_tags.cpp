// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Stream tags: AddTagsToStream, RemoveTagsFromStream, ListTagsForStream and
// the validation of tag maps (also used by CreateStream); the ARN-addressed
// TagResource, UntagResource, ListTagsForResource and the resource policies
// (PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy) of streams and
// consumers.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "rill/logging.hpp"
#include "streams/engine_impl.hpp"
#include "streams/engine_shared.hpp"

namespace rill {

using detail::kMaxTagsPerStream;
using detail::list_repr;
using detail::map_repr;
using detail::seconds_of;
using detail::shard_state;
using detail::stream_state;
using detail::too_many_tags;
using detail::validate_tag_map;
using detail::validation;

namespace {

constexpr std::size_t kMaxTagsPerCall = 50;

}  // namespace

namespace detail {

namespace {

// Tag text may hold what AWS accepts (kinesalite pinned the set against the
// service): ASCII letters, digits and _ . / = + - @ %, the plain space (not
// tab, newline or other control characters), and the code points U+00C0..U+1FFF
// and U+2C00..U+D7FF, which cover the Unicode letters of the common scripts.
// Anything else (other punctuation, ':' ';' '*', U+0080..U+00BF, U+2000..U+2BFF,
// private use and characters outside the Basic Multilingual Plane) is refused.
// Text that is not valid UTF-8 is refused too.
enum class tag_chars { ok, percent, invalid };
tag_chars check_tag_chars(std::string_view s) {
  if (detail::utf16_length(s) < 0) return tag_chars::invalid;
  bool percent = false;
  for (std::size_t i = 0; i < s.size();) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x80) {
      // Valid UTF-8 (checked above): decode one code point.
      std::size_t n = u >= 0xF0 ? 4 : u >= 0xE0 ? 3 : 2;
      std::uint32_t cp = u & (n == 2 ? 0x1Fu : n == 3 ? 0x0Fu : 0x07u);
      for (std::size_t j = 1; j < n && i + j < s.size(); ++j) {
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + j]) & 0x3Fu);
      }
      i += n;
      if ((cp >= 0x00C0 && cp <= 0x1FFF) || (cp >= 0x2C00 && cp <= 0xD7FF)) continue;
      return tag_chars::invalid;
    }
    const char c = s[i++];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
    switch (c) {
      case ' ':
      case '_':
      case '.':
      case '/':
      case '=':
      case '+':
      case '-':
      case '@': continue;
      case '%': percent = true; continue;
      default: return tag_chars::invalid;
    }
  }
  return percent ? tag_chars::percent : tag_chars::ok;
}

}  // namespace

std::optional<error> validate_tag_map(const std::map<std::string, std::string>& tags, std::string_view verb,
                                      detail::where w) {
  validation v;
  for (const auto& [k, val] : tags) {
    auto klen = detail::utf16_length(k);
    if (k.empty() || klen > 128) {
      v.fail(map_repr(tags), "tags",
             "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must "
             "have length greater than or equal to 1]");
      break;
    }
    if (detail::utf16_length(val) > 256) {
      v.fail(map_repr(tags), "tags",
             "Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must "
             "have length greater than or equal to 0]");
      break;
    }
  }
  if (!v.ok()) return v.error();
  bool percent = false;
  for (const auto& [k, val] : tags) {
    auto a = check_tag_chars(k);
    auto b = check_tag_chars(val);
    if (a == tag_chars::invalid || b == tag_chars::invalid) {
      return detail::invalid_argument(
          "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + "
          "- % @.");
    }
    percent = percent || a == tag_chars::percent || b == tag_chars::percent;
  }
  if (percent) {
    return detail::invalid_argument(fmt::format(
        "Failed to {} tags {} stream {} under account {} because some tags contained illegal characters. The "
        "allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'.",
        verb, verb == "add" ? "to" : "from", w.stream, w.account));
  }
  return std::nullopt;
}

error too_many_tags(detail::where w) {
  // AWS's own text still says 10 although the limit has been 50 for years.
  return detail::invalid_argument(
      fmt::format("Failed to add tags to stream {} under account {} because a given stream cannot have more than 10 "
                  "tags associated with it.",
                  w.stream, w.account));
}

}  // namespace detail

result<void> engine::add_tags_to_stream(const add_tags_to_stream_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.tags.empty()) v.length_at_least(map_repr(req.tags), "tags", 1);
  if (req.tags.size() > kMaxTagsPerCall) v.length_at_most(map_repr(req.tags), "tags", kMaxTagsPerCall);
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
  if (!v.ok()) return v.error();
  auto call = d.begin_control("AddTagsToStream", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  if (auto e = validate_tag_map(req.tags, "add", d.at(st.name))) return *e;
  std::unique_lock lock(st.mu);
  std::size_t total = st.tags.size();
  for (const auto& [k, val] : req.tags) total += st.tags.contains(k) ? 0 : 1;
  if (total > kMaxTagsPerStream) return too_many_tags(d.at(st.name));
  for (const auto& [k, val] : req.tags) st.tags[k] = val;
  return {};
}

result<void> engine::remove_tags_from_stream(const remove_tags_from_stream_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.tag_keys.empty()) v.length_at_least(list_repr(req.tag_keys), "tagKeys", 1);
  if (req.tag_keys.size() > 50) v.length_at_most(list_repr(req.tag_keys), "tagKeys", 50);
  for (const auto& k : req.tag_keys) {
    if (k.empty() || detail::utf16_length(k) > 128) {
      v.fail(list_repr(req.tag_keys), "tagKeys",
             "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have "
             "length greater than or equal to 1]");
      break;
    }
  }
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
  if (!v.ok()) return v.error();
  auto call = d.begin_control("RemoveTagsFromStream", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  std::map<std::string, std::string> as_map;
  for (const auto& k : req.tag_keys) as_map.emplace(k, "");
  if (auto e = validate_tag_map(as_map, "remove", d.at(st.name))) return *e;
  std::unique_lock lock(st.mu);
  for (const auto& k : req.tag_keys) st.tags.erase(k);
  return {};
}

result<list_tags_for_stream_result> engine::list_tags_for_stream(const list_tags_for_stream_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.limit && *req.limit < 1) v.value_at_least(*req.limit, "limit", 1);
  if (req.limit && *req.limit > 50) v.value_at_most(*req.limit, "limit", 50);
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
  if (!v.ok()) return v.error();
  auto s = d.lookup(req.stream_name, req.stream_arn);
  if (!s) return s.error();
  if (auto admitted = d.enter("ListTagsForStream", (*s)->name); !admitted) return admitted.error();
  const auto& st = **s;
  const std::size_t limit = static_cast<std::size_t>(req.limit.value_or(50));
  list_tags_for_stream_result out;
  std::shared_lock lock(st.mu);
  auto it = req.exclusive_start_tag_key ? st.tags.upper_bound(*req.exclusive_start_tag_key) : st.tags.begin();
  for (; it != st.tags.end() && out.tags.size() < limit; ++it) out.tags.push_back({it->first, it->second});
  out.has_more_tags = it != st.tags.end();
  return out;
}

// --- ARN-addressed resources (streams and consumers) ---------------------------

namespace {

constexpr std::string_view kResourceArnPattern = "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+";
constexpr std::size_t kMaxPolicyLength = 20480;

bool is_stream_id(std::string_view id) {
  if (id.size() != 24 || id[20] != '-') return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 20) continue;
    const char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

// Loosely the model's pattern: "arn:aws", ":kinesis:", "stream/" and no white space after it.
bool resource_arn_shape(std::string_view a) {
  if (!a.starts_with("arn:aws") || a.find(":kinesis:") == std::string_view::npos) return false;
  const auto st = a.find("stream/");
  if (st == std::string_view::npos || st + 7 >= a.size()) return false;
  return a.substr(st + 7).find_first_of(" \t\r\n\f\v") == std::string_view::npos;
}

void validate_resource_arn(validation& v, std::string_view arn) {
  if (!resource_arn_shape(arn)) v.pattern(arn, "resourceARN", kResourceArnPattern);
  if (arn.empty()) v.length_at_least(arn, "resourceARN", 1);
  if (arn.size() > 2048) v.length_at_most(arn, "resourceARN", 2048);
}

bool is_consumer_arn(std::string_view arn) { return arn.find("/consumer/") != std::string_view::npos; }

}  // namespace

namespace detail {

void validate_stream_id(validation& v, const std::optional<std::string>& id) {
  if (!id) return;
  if (!is_stream_id(*id)) v.pattern(*id, "streamId", "[a-z0-9]{20}-[a-z0-9]{3}");
  if (id->empty()) v.length_at_least(*id, "streamId", 1);
  if (id->size() > 24) v.length_at_most(*id, "streamId", 24);
}

}  // namespace detail

result<engine::impl::resource_ref> engine::impl::open_resource(kinesis& self, std::string_view op,
                                                               const std::string& arn) {
  resource_ref out;
  if (is_consumer_arn(arn)) {
    auto c = self.describe_stream_consumer({.consumer_arn = arn});
    if (!c) return c.error();
    out.consumer_arn = arn;
    return out;
  }
  auto call = begin_control(op, std::nullopt, arn);
  if (!call) return call.error();
  out.stream.emplace(std::move(*call));
  return out;
}

result<void> engine::tag_resource(const tag_resource_request& req) {
  auto& d = *impl_;
  validation v;
  validate_resource_arn(v, req.resource_arn);
  detail::validate_stream_id(v, req.stream_id);
  if (req.tags.empty()) v.length_at_least(map_repr(req.tags), "tags", 1);
  if (req.tags.size() > kMaxTagsPerCall) v.length_at_most(map_repr(req.tags), "tags", kMaxTagsPerCall);
  if (!v.ok()) return v.error();
  auto r = d.open_resource(*this, "TagResource", req.resource_arn);
  if (!r) return r.error();
  if (r->stream) {
    auto& st = *r->stream->stream;
    if (auto e = validate_tag_map(req.tags, "add", d.at(st.name))) return *e;
    std::unique_lock lock(st.mu);
    std::size_t total = st.tags.size();
    for (const auto& [k, val] : req.tags) total += st.tags.contains(k) ? 0 : 1;
    if (total > kMaxTagsPerStream) return too_many_tags(d.at(st.name));
    for (const auto& [k, val] : req.tags) st.tags[k] = val;
    return {};
  }
  if (auto e = validate_tag_map(req.tags, "add", d.at(r->consumer_arn))) return *e;
  std::lock_guard lock(d.consumer_extras_mu);
  auto& tags = d.consumer_extras[r->consumer_arn].tags;
  std::size_t total = tags.size();
  for (const auto& [k, val] : req.tags) total += tags.contains(k) ? 0 : 1;
  if (total > kMaxTagsPerStream) {
    return detail::invalid_argument(
        fmt::format("Failed to add tags to resource {} because a given resource cannot have more than 50 tags "
                    "associated with it.",
                    r->consumer_arn));
  }
  for (const auto& [k, val] : req.tags) tags[k] = val;
  return {};
}

result<void> engine::untag_resource(const untag_resource_request& req) {
  auto& d = *impl_;
  validation v;
  validate_resource_arn(v, req.resource_arn);
  detail::validate_stream_id(v, req.stream_id);
  if (req.tag_keys.empty()) v.length_at_least(list_repr(req.tag_keys), "tagKeys", 1);
  if (req.tag_keys.size() > 50) v.length_at_most(list_repr(req.tag_keys), "tagKeys", 50);
  for (const auto& k : req.tag_keys) {
    if (k.empty() || detail::utf16_length(k) > 128) {
      v.fail(list_repr(req.tag_keys), "tagKeys",
             "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have "
             "length greater than or equal to 1]");
      break;
    }
  }
  if (!v.ok()) return v.error();
  auto r = d.open_resource(*this, "UntagResource", req.resource_arn);
  if (!r) return r.error();
  std::map<std::string, std::string> as_map;
  for (const auto& k : req.tag_keys) as_map.emplace(k, "");
  if (r->stream) {
    auto& st = *r->stream->stream;
    if (auto e = validate_tag_map(as_map, "remove", d.at(st.name))) return *e;
    std::unique_lock lock(st.mu);
    for (const auto& k : req.tag_keys) st.tags.erase(k);
    return {};
  }
  if (auto e = validate_tag_map(as_map, "remove", d.at(r->consumer_arn))) return *e;
  std::lock_guard lock(d.consumer_extras_mu);
  auto it = d.consumer_extras.find(r->consumer_arn);
  if (it != d.consumer_extras.end()) {
    for (const auto& k : req.tag_keys) it->second.tags.erase(k);
  }
  return {};
}

result<list_tags_for_resource_result> engine::list_tags_for_resource(const list_tags_for_resource_request& req) {
  auto& d = *impl_;
  validation v;
  validate_resource_arn(v, req.resource_arn);
  detail::validate_stream_id(v, req.stream_id);
  if (!v.ok()) return v.error();
  list_tags_for_resource_result out;
  if (is_consumer_arn(req.resource_arn)) {
    auto c = describe_stream_consumer({.consumer_arn = req.resource_arn});
    if (!c) return c.error();
    std::lock_guard lock(d.consumer_extras_mu);
    auto it = d.consumer_extras.find(req.resource_arn);
    if (it != d.consumer_extras.end()) {
      for (const auto& [k, val] : it->second.tags) out.tags.push_back({k, val});
    }
    return out;
  }
  auto s = d.lookup(std::nullopt, req.resource_arn);
  if (!s) return s.error();
  if (auto admitted = d.enter("ListTagsForResource", (*s)->name); !admitted) return admitted.error();
  std::shared_lock lock((*s)->mu);
  for (const auto& [k, val] : (*s)->tags) out.tags.push_back({k, val});
  return out;
}

result<void> engine::put_resource_policy(const put_resource_policy_request& req) {
  auto& d = *impl_;
  validation v;
  validate_resource_arn(v, req.resource_arn);
  if (req.policy.empty()) v.length_at_least(req.policy, "policy", 1);
  if (detail::utf16_length(req.policy) > static_cast<long long>(kMaxPolicyLength)) {
    v.length_at_most(req.policy, "policy", kMaxPolicyLength);
  }
  if (!v.ok()) return v.error();
  // A policy is a JSON object; rill stores it and does not evaluate it.
  const auto doc = nlohmann::json::parse(req.policy, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return detail::invalid_argument(
        fmt::format("Invalid policy document for resource {}: the policy must be a JSON object.", req.resource_arn));
  }
  auto r = d.open_resource(*this, "PutResourcePolicy", req.resource_arn);
  if (!r) return r.error();
  if (r->stream) {
    auto& st = *r->stream->stream;
    std::unique_lock lock(st.mu);
    st.policy = req.policy;
    return {};
  }
  std::lock_guard lock(d.consumer_extras_mu);
  d.consumer_extras[r->consumer_arn].policy = req.policy;
  return {};
}

result<get_resource_policy_result> engine::get_resource_policy(const get_resource_policy_request& req) {
  auto& d = *impl_;
  validation v;
  validate_resource_arn(v, req.resource_arn);
  if (!v.ok()) return v.error();
  get_resource_policy_result out{"{}"};
  if (is_consumer_arn(req.resource_arn)) {
    auto c = describe_stream_consumer({.consumer_arn = req.resource_arn});
    if (!c) return c.error();
    std::lock_guard lock(d.consumer_extras_mu);
    auto it = d.consumer_extras.find(req.resource_arn);
    if (it != d.consumer_extras.end() && it->second.policy) out.policy = *it->second.policy;
    return out;
  }
  auto s = d.lookup(std::nullopt, req.resource_arn);
  if (!s) return s.error();
  if (auto admitted = d.enter("GetResourcePolicy", (*s)->name); !admitted) return admitted.error();
  std::shared_lock lock((*s)->mu);
  if ((*s)->policy) out.policy = *(*s)->policy;
  return out;
}

result<void> engine::delete_resource_policy(const delete_resource_policy_request& req) {
  auto& d = *impl_;
  validation v;
  validate_resource_arn(v, req.resource_arn);
  if (!v.ok()) return v.error();
  auto r = d.open_resource(*this, "DeleteResourcePolicy", req.resource_arn);
  if (!r) return r.error();
  const auto none = [&] {
    return error(error_code::resource_not_found_exception,
                 fmt::format("No resource policy found for resource {}.", req.resource_arn));
  };
  if (r->stream) {
    auto& st = *r->stream->stream;
    std::unique_lock lock(st.mu);
    if (!st.policy) return none();
    st.policy.reset();
    return {};
  }
  std::lock_guard lock(d.consumer_extras_mu);
  auto it = d.consumer_extras.find(r->consumer_arn);
  if (it == d.consumer_extras.end() || !it->second.policy) return none();
  it->second.policy.reset();
  return {};
}

}  // namespace rill
