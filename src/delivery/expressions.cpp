// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "delivery/expressions.hpp"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace rill::delivery {
namespace {

error invalid(std::string message) { return error(error_code::invalid_argument_exception, std::move(message)); }

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

// --- time_pattern ------------------------------------------------------------------

result<time_pattern> time_pattern::parse(std::string_view p) {
  time_pattern out;
  auto literal = [&](std::string_view s) {
    if (!out.fields_.empty() && out.fields_.back().letter == 0)
      out.fields_.back().literal += s;
    else
      out.fields_.push_back({0, 0, std::string(s)});
  };
  for (std::size_t i = 0; i < p.size();) {
    const char c = p[i];
    if (c == '\'') {
      if (i + 1 < p.size() && p[i + 1] == '\'') {
        literal("'");
        i += 2;
        continue;
      }
      std::string text;
      std::size_t j = i + 1;
      for (;; ++j) {
        if (j >= p.size()) return invalid(fmt::format("Unterminated quoted text in timestamp pattern '{}'.", p));
        if (p[j] == '\'') {
          if (j + 1 < p.size() && p[j + 1] == '\'') {
            text += '\'';
            ++j;
            continue;
          }
          break;
        }
        text += p[j];
      }
      literal(text);
      i = j + 1;
      continue;
    }
    if (!is_letter(c)) {
      literal(std::string_view(&c, 1));
      ++i;
      continue;
    }
    std::size_t n = 1;
    while (i + n < p.size() && p[i + n] == c) ++n;
    const bool ok = (c == 'y' && n <= 9) || (c == 'S' && n <= 9) ||
                    ((c == 'M' || c == 'd' || c == 'H' || c == 'm' || c == 's') && n <= 2);
    if (!ok)
      return invalid(fmt::format(
          "The timestamp pattern '{}' uses '{}' (x{}), which rill does not support; supported: y, M, d, H, m, s, S "
          "and quoted text.",
          p, std::string(n, c), n));
    out.fields_.push_back({c, static_cast<int>(n), {}});
    i += n;
  }
  return out;
}

std::string time_pattern::format(timestamp t) const {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  std::string out;
  for (const auto& f : fields_) {
    switch (f.letter) {
      case 0: out += f.literal; break;
      case 'y': {
        int y = static_cast<int>(ymd.year());
        if (f.width == 2)
          out += fmt::format("{:02d}", ((y % 100) + 100) % 100);
        else
          out += fmt::format("{:0{}d}", y, f.width);
        break;
      }
      case 'M': out += fmt::format("{:0{}d}", static_cast<unsigned>(ymd.month()), f.width); break;
      case 'd': out += fmt::format("{:0{}d}", static_cast<unsigned>(ymd.day()), f.width); break;
      case 'H': out += fmt::format("{:0{}d}", hms.hours().count(), f.width); break;
      case 'm': out += fmt::format("{:0{}d}", hms.minutes().count(), f.width); break;
      case 's': out += fmt::format("{:0{}d}", hms.seconds().count(), f.width); break;
      case 'S': {
        auto frac = fmt::format("{:03d}000000", hms.subseconds().count());
        out += frac.substr(0, static_cast<std::size_t>(f.width));
        break;
      }
      default: break;
    }
  }
  return out;
}

// --- prefix --------------------------------------------------------------------------

result<prefix> prefix::parse(std::string_view text, std::string_view field_name) {
  prefix out;
  std::string lit;
  auto flush_literal = [&] {
    if (!lit.empty()) out.segments_.push_back({prefix_segment::kind::literal, std::move(lit), std::nullopt});
    lit.clear();
  };
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "!{") != 0) {
      lit += text[i++];
      continue;
    }
    const auto close = text.find('}', i + 2);
    if (close == std::string_view::npos)
      return invalid(fmt::format("{}: the sequence '!{{' must open an expression !{{namespace:value}}.", field_name));
    const auto body = text.substr(i + 2, close - i - 2);
    if (body.find("!{") != std::string_view::npos)
      return invalid(fmt::format("{}: the sequence '!{{' may appear only as !{{namespace:value}}.", field_name));
    const auto colon = body.find(':');
    if (colon == std::string_view::npos)
      return invalid(fmt::format("{}: expression '!{{{}}}' has no namespace.", field_name, body));
    const auto ns = body.substr(0, colon);
    const auto value = body.substr(colon + 1);
    flush_literal();
    prefix_segment seg;
    if (ns == "timestamp") {
      auto pattern = time_pattern::parse(value);
      if (!pattern) return invalid(fmt::format("{}: {}", field_name, pattern.error().message()));
      if (value.empty()) return invalid(fmt::format("{}: empty timestamp pattern.", field_name));
      seg.type = prefix_segment::kind::timestamp;
      seg.pattern = std::move(*pattern);
    } else if (ns == "firehose") {
      if (value == "random-string")
        seg.type = prefix_segment::kind::random_string;
      else if (value == "error-output-type")
        seg.type = prefix_segment::kind::error_output_type;
      else
        return invalid(fmt::format("{}: unknown firehose expression '{}'; expected random-string or error-output-type.",
                                   field_name, value));
    } else if (ns == "partitionKeyFromQuery" || ns == "partitionKeyFromLambda") {
      if (value.empty()) return invalid(fmt::format("{}: {} needs a key name.", field_name, ns));
      seg.type =
          ns == "partitionKeyFromQuery" ? prefix_segment::kind::key_from_query : prefix_segment::kind::key_from_lambda;
      seg.text = std::string(value);
    } else {
      return invalid(fmt::format(
          "{}: unknown namespace '{}'; expected timestamp, firehose, partitionKeyFromQuery or partitionKeyFromLambda.",
          field_name, ns));
    }
    out.segments_.push_back(std::move(seg));
    i = close + 1;
  }
  flush_literal();
  return out;
}

bool prefix::has_expressions() const {
  for (const auto& s : segments_)
    if (s.type != prefix_segment::kind::literal) return true;
  return false;
}

bool prefix::has(prefix_segment::kind k) const {
  for (const auto& s : segments_)
    if (s.type == k) return true;
  return false;
}

std::vector<std::string> prefix::keys(prefix_segment::kind k) const {
  std::vector<std::string> out;
  for (const auto& s : segments_)
    if (s.type == k) out.push_back(s.text);
  return out;
}

result<std::string> prefix::evaluate(const context& ctx) const {
  std::string out;
  for (const auto& s : segments_) {
    switch (s.type) {
      case prefix_segment::kind::literal: out += s.text; break;
      case prefix_segment::kind::timestamp: out += s.pattern->format(ctx.time); break;
      case prefix_segment::kind::random_string: out += ctx.random_string ? ctx.random_string() : ""; break;
      case prefix_segment::kind::error_output_type: out += ctx.error_output_type; break;
      case prefix_segment::kind::key_from_query:
      case prefix_segment::kind::key_from_lambda: {
        const auto* keys = s.type == prefix_segment::kind::key_from_query ? ctx.query_keys : ctx.lambda_keys;
        const auto it = keys ? keys->find(s.text) : decltype(keys->end()){};
        if (!keys || it == keys->end())
          return invalid(fmt::format("The partition key '{}' is missing from the record.", s.text));
        out += it->second;
        break;
      }
    }
  }
  if (out.size() > 512) return invalid("The evaluated prefix is longer than 512 characters.");
  return out;
}

// --- metadata_query -------------------------------------------------------------------

namespace {

struct cursor {
  std::string_view s;
  std::size_t i = 0;
  void skip_ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool eat(char c) {
    skip_ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  [[nodiscard]] bool at_end() {
    skip_ws();
    return i >= s.size();
  }
  std::optional<std::string> identifier() {
    skip_ws();
    std::size_t j = i;
    if (j >= s.size() || !(is_letter(s[j]) || s[j] == '_')) return std::nullopt;
    while (j < s.size() && (is_letter(s[j]) || s[j] == '_' || (s[j] >= '0' && s[j] <= '9'))) ++j;
    std::string out(s.substr(i, j - i));
    i = j;
    return out;
  }
  // A JSON-style string literal: "…" with \" \\ \/ \b \f \n \r \t escapes.
  std::optional<std::string> quoted() {
    skip_ws();
    if (i >= s.size() || s[i] != '"') return std::nullopt;
    std::string out;
    for (std::size_t j = i + 1; j < s.size(); ++j) {
      char c = s[j];
      if (c == '"') {
        i = j + 1;
        return out;
      }
      if (c == '\\') {
        if (++j >= s.size()) return std::nullopt;
        switch (s[j]) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          default: return std::nullopt;
        }
        continue;
      }
      out += c;
    }
    return std::nullopt;
  }
};

}  // namespace

result<metadata_query> metadata_query::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return invalid(
        fmt::format("MetadataExtractionQuery '{}' is not supported: {} (rill takes an object "
                    "construction of paths, e.g. {{customer_id:.customer_id, device:.type.device}}).",
                    text, why));
  };
  metadata_query out;
  cursor c{text};
  if (!c.eat('{')) return bad("it must start with '{'");
  if (c.eat('}')) return bad("it names no key");
  for (;;) {
    entry e;
    if (auto id = c.identifier())
      e.name = *id;
    else if (auto q = c.quoted())
      e.name = *q;
    else
      return bad("expected a key name");
    if (e.name.empty()) return bad("empty key name");
    for (const auto& other : out.entries_)
      if (other.name == e.name) return bad("duplicate key '" + e.name + "'");
    if (c.eat(':')) {
      if (!c.eat('.')) return bad("a path must start with '.'");
      bool first = true;
      for (;;) {
        c.skip_ws();
        if (c.i >= c.s.size()) break;
        const char ch = c.s[c.i];
        if (ch == '[') {
          ++c.i;
          if (auto q = c.quoted()) {
            e.path.push_back({*q, 0});
          } else {
            c.skip_ws();
            std::size_t j = c.i;
            while (j < c.s.size() && c.s[j] >= '0' && c.s[j] <= '9') ++j;
            if (j == c.i || j - c.i > 9) return bad("expected an index or a quoted name in [...]");
            e.path.push_back({std::nullopt, std::stoll(std::string(c.s.substr(c.i, j - c.i)))});
            c.i = j;
          }
          if (!c.eat(']')) return bad("expected ']'");
        } else if (first && (is_letter(ch) || ch == '_' || ch == '"')) {
          auto name = ch == '"' ? c.quoted() : c.identifier();
          if (!name) return bad("bad field name");
          e.path.push_back({*name, 0});
        } else if (ch == '.') {
          ++c.i;
          auto name = c.i < c.s.size() && c.s[c.i] == '"' ? c.quoted() : c.identifier();
          if (!name) return bad("expected a field name after '.'");
          e.path.push_back({*name, 0});
        } else {
          break;
        }
        first = false;
      }
    } else {
      e.path.push_back({e.name, 0});
    }
    out.entries_.push_back(std::move(e));
    if (out.entries_.size() > 50) return bad("more than 50 keys");
    if (c.eat('}')) break;
    if (!c.eat(',')) return bad("expected ',' or '}'");
  }
  if (!c.at_end()) return bad("text after the closing '}'");
  return out;
}

std::vector<std::string> metadata_query::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

result<std::map<std::string, std::string>> metadata_query::evaluate(std::string_view record) const {
  auto doc = nlohmann::json::parse(record.begin(), record.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return invalid("The record is not valid JSON.");
  std::map<std::string, std::string> out;
  for (const auto& e : entries_) {
    const nlohmann::json* v = &doc;
    for (const auto& st : e.path) {
      if (st.field) {
        if (!v->is_object()) {
          v = nullptr;
          break;
        }
        auto it = v->find(*st.field);
        if (it == v->end()) {
          v = nullptr;
          break;
        }
        v = &*it;
      } else {
        if (!v->is_array() || st.index >= static_cast<std::int64_t>(v->size())) {
          v = nullptr;
          break;
        }
        v = &(*v)[static_cast<std::size_t>(st.index)];
      }
    }
    if (!v || v->is_null()) return invalid(fmt::format("The partition key '{}' is null or missing.", e.name));
    if (v->is_string())
      out[e.name] = v->get<std::string>();
    else if (v->is_number() || v->is_boolean())
      out[e.name] = v->dump();
    else
      return invalid(fmt::format("The partition key '{}' is an object or an array.", e.name));
  }
  return out;
}

// --- base64 ---------------------------------------------------------------------------------

std::string base64_encode(std::string_view in) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8 |
                      static_cast<unsigned char>(in[i + 2]);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == in.size()) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return std::nullopt;
      v[k] = value(c);
      if (v[k] < 0) return std::nullopt;
    }
    std::uint32_t w = static_cast<std::uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out += static_cast<char>(w >> 16);
    if (pad < 2) out += static_cast<char>((w >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(w & 0xFF);
  }
  return out;
}

}  // namespace rill::delivery
