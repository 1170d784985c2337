// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Stream tags: AddTagsToStream, RemoveTagsFromStream, ListTagsForStream and
// the validation of tag maps (also used by CreateStream).
#include <fmt/format.h>

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
  lock.unlock();
  return d.finish(*call, call->stream);
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
  if (!v.ok()) return v.error();
  auto call = d.begin_control("RemoveTagsFromStream", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  std::map<std::string, std::string> as_map;
  for (const auto& k : req.tag_keys) as_map.emplace(k, "");
  if (auto e = validate_tag_map(as_map, "remove", d.at(st.name))) return *e;
  std::unique_lock lock(st.mu);
  for (const auto& k : req.tag_keys) st.tags.erase(k);
  lock.unlock();
  return d.finish(*call, call->stream);
}

result<list_tags_for_stream_result> engine::list_tags_for_stream(const list_tags_for_stream_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.limit && *req.limit < 1) v.value_at_least(*req.limit, "limit", 1);
  if (req.limit && *req.limit > 50) v.value_at_most(*req.limit, "limit", 50);
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

}  // namespace rill
