// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "server/codec.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/decimal.hpp"

namespace rill::wire {
namespace {

// A DOM builder that refuses nesting deeper than max_depth, so a hostile body
// cannot exhaust the stack of the (recursive) parsers.
class bounded_sax {
 public:
  explicit bounded_sax(json& root) : dom_(root, false) {}
  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return dom_.number_float(v, s); }
  bool number_float(json::number_float_t v, const char*) { return dom_.number_float(v, {}); }
  bool string(json::string_t& v) { return dom_.string(v); }
  bool binary(json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return n_ok(n) && ++depth_ <= max_depth && dom_.start_object(n); }
  bool key(json::string_t& v) { return dom_.key(v); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return n_ok(n) && ++depth_ <= max_depth && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  // A CBOR length prefix claiming more elements than any body can hold.
  static bool n_ok(std::size_t n) { return n == std::size_t(-1) || n <= (std::size_t(1) << 26); }
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  int depth_ = 0;
};

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_b64_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(b64_alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}
constexpr auto b64_table = make_b64_table();

// The eight-characters-per-step decoder's tables: the character's six bits
// already shifted to their place in a 24-bit group (position 0..3); anything
// outside the alphabet (padding, quotes, backslashes, controls, non-ASCII) has
// bit 31 set, so one test of the OR of a group finds it.
constexpr std::uint32_t b64_bad = 0x8000'0000U;
constexpr std::array<std::uint32_t, 256> make_b64_shifted(unsigned shift) {
  std::array<std::uint32_t, 256> t{};
  for (auto& v : t) v = b64_bad;
  for (int i = 0; i < 64; ++i) {
    t[static_cast<unsigned char>(b64_alphabet[i])] = static_cast<std::uint32_t>(i) << shift;
  }
  return t;
}
constexpr auto b64_d0 = make_b64_shifted(18);
constexpr auto b64_d1 = make_b64_shifted(12);
constexpr auto b64_d2 = make_b64_shifted(6);
constexpr auto b64_d3 = make_b64_shifted(0);

inline std::uint32_t b64_group(const unsigned char* s) {
  return b64_d0[s[0]] | b64_d1[s[1]] | b64_d2[s[2]] | b64_d3[s[3]];
}

using detail::div_ten19;
using detail::ten19;
using detail::write19;
using detail::write4;
using detail::write8;

}  // namespace

void append_json_string(std::string_view s, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default:
        out.append("\\u00");
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

namespace {

template <class T>
void append_int(T v, std::string& out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void write_json(const json& v, std::string& out) {
  switch (v.type()) {
    case json::value_t::null: out.append("null"); break;
    case json::value_t::boolean: out.append(v.get<bool>() ? "true" : "false"); break;
    case json::value_t::number_integer: append_int(v.get<std::int64_t>(), out); break;
    case json::value_t::number_unsigned: append_int(v.get<std::uint64_t>(), out); break;
    case json::value_t::number_float: append_epoch_seconds(std::llround(v.get<double>() * 1000.0), out); break;
    case json::value_t::string: append_json_string(v.get_ref<const std::string&>(), out); break;
    case json::value_t::binary: {
      const auto& b = v.get_binary();
      out.push_back('"');
      base64_encode(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), out);
      out.push_back('"');
      break;
    }
    case json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v) {
        if (!first) out.push_back(',');
        first = false;
        write_json(e, out);
      }
      out.push_back(']');
      break;
    }
    case json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, e] : v.items()) {
        if (!first) out.push_back(',');
        first = false;
        append_json_string(k, out);
        out.push_back(':');
        write_json(e, out);
      }
      out.push_back('}');
      break;
    }
    case json::value_t::discarded: out.append("null"); break;
  }
}

}  // namespace

void cbor_head(unsigned major, std::uint64_t n, std::string& out) {
  auto m = static_cast<char>(major << 5);
  if (n < 24) {
    out.push_back(static_cast<char>(m | static_cast<char>(n)));
  } else if (n <= 0xFF) {
    out.push_back(static_cast<char>(m | 24));
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(m | 25));
    for (int s = 8; s >= 0; s -= 8) out.push_back(static_cast<char>((n >> s) & 0xFF));
  } else if (n <= 0xFFFFFFFFULL) {
    out.push_back(static_cast<char>(m | 26));
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((n >> s) & 0xFF));
  } else {
    out.push_back(static_cast<char>(m | 27));
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>((n >> s) & 0xFF));
  }
}

namespace {

void cbor_int(std::int64_t v, std::string& out) {
  if (v >= 0) {
    cbor_head(0, static_cast<std::uint64_t>(v), out);
  } else {
    cbor_head(1, static_cast<std::uint64_t>(-(v + 1)), out);
  }
}

void write_cbor(const json& v, std::string& out) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::discarded: out.push_back(static_cast<char>(0xF6)); break;
    case json::value_t::boolean: out.push_back(static_cast<char>(v.get<bool>() ? 0xF5 : 0xF4)); break;
    case json::value_t::number_integer: cbor_int(v.get<std::int64_t>(), out); break;
    case json::value_t::number_unsigned: cbor_head(0, v.get<std::uint64_t>(), out); break;
    case json::value_t::number_float:
      cbor_head(6, 1, out);  // tag 1: epoch time, here in milliseconds as the AWS SDKs write it
      cbor_int(std::llround(v.get<double>() * 1000.0), out);
      break;
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      cbor_head(3, s.size(), out);
      out.append(s);
      break;
    }
    case json::value_t::binary: {
      const auto& b = v.get_binary();
      cbor_head(2, b.size(), out);
      out.append(reinterpret_cast<const char*>(b.data()), b.size());
      break;
    }
    case json::value_t::array:
      cbor_head(4, v.size(), out);
      for (const auto& e : v) write_cbor(e, out);
      break;
    case json::value_t::object:
      cbor_head(5, v.size(), out);
      for (const auto& [k, e] : v.items()) {
        cbor_head(3, k.size(), out);
        out.append(k);
        write_cbor(e, out);
      }
      break;
  }
}

// Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : -1;
    if (n < 0 || c > 0xF4 || end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    if (c == 0xE0 && p[1] < 0xA0) return false;   // overlong
    if (c == 0xED && p[1] >= 0xA0) return false;  // surrogate
    if (c == 0xF0 && p[1] < 0x90) return false;   // overlong
    if (c == 0xF4 && p[1] >= 0x90) return false;  // beyond U+10FFFF
    p += n + 1;
  }
  return true;
}

// A CBOR (RFC 8949) reader feeding the bounded DOM builder. nlohmann_json's own
// CBOR reader refuses tags 0-5, so it cannot read the tag-1 timestamps the AWS
// SDKs send; libcbor preallocates containers from their declared length, which a
// hostile 5-byte header turns into a multi-gigabyte allocation. This one reads
// every item type, skips tags (keeping the tagged item: tag 1's integer is the
// epoch-millisecond timestamp), and never allocates more than the input holds.
class cbor_reader {
 public:
  cbor_reader(std::string_view in, bounded_sax& sax)
      : p_(reinterpret_cast<const unsigned char*>(in.data())), end_(p_ + in.size()), sax_(sax) {}

  bool document() { return item() && p_ == end_; }

 private:
  static constexpr std::uint64_t indefinite = ~std::uint64_t{0};

  bool head(unsigned& major, unsigned& info, std::uint64_t& arg) {
    if (p_ == end_) return false;
    unsigned ib = *p_++;
    major = ib >> 5;
    info = ib & 31;
    if (info < 24) {
      arg = info;
      return true;
    }
    if (info == 31) {
      arg = indefinite;
      return major >= 2 && major <= 5;  // (7/31 "break" is handled by the containers)
    }
    if (info > 27) return false;
    std::size_t n = std::size_t{1} << (info - 24);
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    arg = 0;
    for (std::size_t i = 0; i < n; ++i) arg = (arg << 8) | *p_++;
    return true;
  }

  bool at_break() {
    if (p_ != end_ && *p_ == 0xFF) {
      ++p_;
      return true;
    }
    return false;
  }

  // A definite or indefinite byte/text string of major type `major`.
  bool chunks(unsigned major, std::uint64_t arg, std::string& out) {
    if (arg != indefinite) {
      if (arg > static_cast<std::uint64_t>(end_ - p_)) return false;
      out.append(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(arg));
      p_ += arg;
      return true;
    }
    while (!at_break()) {
      unsigned m = 0, info = 0;
      std::uint64_t len = 0;
      if (!head(m, info, len) || m != major || len == indefinite) return false;
      if (!chunks(major, len, out)) return false;
    }
    return true;
  }

  static double half_to_double(std::uint16_t h) {
    int exp = (h >> 10) & 0x1F;
    int mant = h & 0x3FF;
    double v = exp == 0    ? std::ldexp(mant, -24)
               : exp != 31 ? std::ldexp(mant + 1024, exp - 25)
                           : (mant == 0 ? INFINITY : NAN);
    return (h & 0x8000) ? -v : v;
  }

  bool item() {
    unsigned major = 0, info = 0;
    std::uint64_t arg = 0;
    if (!head(major, info, arg)) return false;
    switch (major) {
      case 0: return sax_.number_unsigned(arg);
      case 1:
        if (arg > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
        return sax_.number_integer(-1 - static_cast<std::int64_t>(arg));
      case 2: {
        std::string bytes;
        if (!chunks(2, arg, bytes)) return false;
        json::binary_t b(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
        return sax_.binary(b);
      }
      case 3: {
        std::string text;
        if (!chunks(3, arg, text) || !valid_utf8(text)) return false;
        return sax_.string(text);
      }
      case 4: {
        if (!sax_.start_array(std::size_t(-1))) return false;
        for (std::uint64_t i = 0; arg == indefinite ? !at_break() : i < arg; ++i) {
          if (!item()) return false;
        }
        return sax_.end_array();
      }
      case 5: {
        if (!sax_.start_object(std::size_t(-1))) return false;
        for (std::uint64_t i = 0; arg == indefinite ? !at_break() : i < arg; ++i) {
          unsigned km = 0, ki = 0;
          std::uint64_t klen = 0;
          std::string key;
          if (!head(km, ki, klen) || km != 3 || !chunks(3, klen, key) || !valid_utf8(key)) {
            return false;  // text keys only
          }
          if (!sax_.key(key) || !item()) return false;
        }
        return sax_.end_object();
      }
      case 6: {  // the tag's number is dropped; its item stays
        if (++tags_ > max_depth) return false;
        bool ok = item();
        --tags_;
        return ok;
      }
      default: break;
    }
    // Major type 7.
    switch (info) {
      case 20: return sax_.boolean(false);
      case 21: return sax_.boolean(true);
      case 22:
      case 23: return sax_.null();
      case 25: return sax_.number_float(half_to_double(static_cast<std::uint16_t>(arg)), "");
      case 26: {
        auto bits = static_cast<std::uint32_t>(arg);
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return sax_.number_float(static_cast<double>(f), "");
      }
      case 27: {
        double d;
        std::memcpy(&d, &arg, sizeof d);
        return sax_.number_float(d, "");
      }
      default: return false;  // simple values, a stray break
    }
  }

  const unsigned char* p_;
  const unsigned char* end_;
  bounded_sax& sax_;
  int tags_ = 0;
};

}  // namespace

std::optional<json> parse_body(std::string_view body, body_format f) {
  json root;
  bounded_sax sax(root);
  bool ok = false;
  if (f == body_format::json) {
    ok = json::sax_parse(body.begin(), body.end(), &sax, nlohmann::detail::input_format_t::json, true, false);
  } else {
    // Tags are skipped: tag 1 (epoch time) is followed by the integer the reader takes as milliseconds.
    cbor_reader reader(body, sax);
    ok = reader.document();
  }
  if (!ok || root.is_discarded()) return std::nullopt;
  return root;
}

void write_body(const json& v, body_format f, std::string& out) {
  if (f == body_format::json) {
    write_json(v, out);
  } else {
    write_cbor(v, out);
  }
}

std::string write_body(const json& v, body_format f) {
  std::string out;
  write_body(v, f, out);
  return out;
}

json blob_value(std::string_view bytes) {
  json::binary_t b(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
  return json(std::move(b));
}

void append_epoch_seconds(std::int64_t millis, std::string& out) {
  bool neg = millis < 0;
  auto m = static_cast<std::uint64_t>(neg ? -millis : millis);
  if (neg) out.push_back('-');
  append_int(m / 1000, out);
  auto frac = static_cast<unsigned>(m % 1000);
  out.push_back('.');
  char d[3] = {static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
               static_cast<char>('0' + frac % 10)};
  int n = 3;
  while (n > 1 && d[n - 1] == '0') --n;
  out.append(d, static_cast<std::size_t>(n));
}

void base64_encode(std::string_view in, std::string& out) {
  std::size_t start = out.size();
  out.resize(start + (in.size() + 2) / 3 * 4);
  char* p = out.data() + start;
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = (std::uint32_t(s[i]) << 16) | (std::uint32_t(s[i + 1]) << 8) | s[i + 2];
    *p++ = b64_alphabet[v >> 18];
    *p++ = b64_alphabet[(v >> 12) & 63];
    *p++ = b64_alphabet[(v >> 6) & 63];
    *p++ = b64_alphabet[v & 63];
  }
  if (std::size_t rest = in.size() - i; rest > 0) {
    std::uint32_t v = std::uint32_t(s[i]) << 16;
    if (rest == 2) v |= std::uint32_t(s[i + 1]) << 8;
    *p++ = b64_alphabet[v >> 18];
    *p++ = b64_alphabet[(v >> 12) & 63];
    *p++ = rest == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
    *p++ = '=';
  }
}

std::string base64_encode(std::string_view in) {
  std::string out;
  base64_encode(in, out);
  return out;
}

result<std::string> base64_decode_reference(std::string_view in) {
  auto fail = [&](std::string why) {
    std::string shown(in.substr(0, 64));
    if (in.size() > 64) shown += "...";
    return error(error_code::validation_exception,  // remapped to SerializationException by the caller
                 "'" + shown + "' can not be converted to a Blob: " + why);
  };
  if (in.size() % 4 != 0) {
    return fail("Base64 encoded length is expected a multiple of 4 bytes but found: " + std::to_string(in.size()));
  }
  std::size_t pad = 0;
  if (!in.empty() && in.back() == '=') pad = (in.size() >= 2 && in[in.size() - 2] == '=') ? 2 : 1;
  std::string out;
  const std::size_t body = in.size() - pad;
  out.resize(body * 3 / 4);
  char* o = out.data();
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  std::size_t i = 0;
  // Whole groups of four characters first.
  for (; i + 4 <= body; i += 4) {
    int a = b64_table[s[i]], b = b64_table[s[i + 1]], c = b64_table[s[i + 2]], d = b64_table[s[i + 3]];
    if ((a | b | c | d) < 0) break;  // an invalid character: reported below
    std::uint32_t v = (std::uint32_t(a) << 18) | (std::uint32_t(b) << 12) | (std::uint32_t(c) << 6) | std::uint32_t(d);
    *o++ = static_cast<char>(v >> 16);
    *o++ = static_cast<char>((v >> 8) & 0xFF);
    *o++ = static_cast<char>(v & 0xFF);
  }
  std::uint32_t acc = 0;
  int bits = 0;
  for (; i < body; ++i) {
    auto c = s[i];
    int v = b64_table[c];
    if (v < 0) {
      if (c == '=') return fail("Invalid Base64 padding found");
      return fail(std::string("Invalid Base64 character: '") + static_cast<char>(c) + "'");
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      *o++ = static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  out.resize(static_cast<std::size_t>(o - out.data()));
  // Canonical: the bits left over before the padding must be zero.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return fail("Invalid last non-pad Base64 character dectected");
  }
  return out;
}

}  // namespace rill::wire

namespace rill::wire {
namespace {

#if defined(__x86_64__)
// 32 characters to 24 bytes per step with AVX2 (Muła and Lemire, "Faster
// Base64 Encoding and Decoding Using AVX2 Instructions", 2018): the character
// class from two nibble lookups (any byte outside the alphabet — padding,
// quotes, backslashes, controls, non-ASCII — makes lo & hi non-zero), the
// value by adding a per-class offset, then the 6-bit fields packed with two
// multiply-adds and two shuffles. Returns the characters consumed (a multiple
// of 32); stops before the first block with a character outside the alphabet.
// Writes 32 bytes per 24 decoded: the caller's room has 8 bytes of slack.
__attribute__((target("avx2"))) std::size_t base64_decode_avx2(const unsigned char* s, std::size_t n, char*& o) {
  const __m256i lut_lo =
      _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A,
                       0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
  const __m256i lut_hi =
      _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
                       0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
  const __m256i lut_roll = _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4, -65,
                                            -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i mask_2f = _mm256_set1_epi8(0x2f);
  const __m256i pack_ab = _mm256_set1_epi32(0x01400140);
  const __m256i pack_abc = _mm256_set1_epi32(0x00011000);
  const __m256i order = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5, 4, 10,
                                         9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, -1, -1);
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i str = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i));
    const __m256i hi_nibbles = _mm256_and_si256(_mm256_srli_epi32(str, 4), mask_2f);
    const __m256i lo_nibbles = _mm256_and_si256(str, mask_2f);
    const __m256i hi = _mm256_shuffle_epi8(lut_hi, hi_nibbles);
    const __m256i lo = _mm256_shuffle_epi8(lut_lo, lo_nibbles);
    if (!_mm256_testz_si256(lo, hi)) break;
    const __m256i eq_2f = _mm256_cmpeq_epi8(str, mask_2f);
    const __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(eq_2f, hi_nibbles));
    str = _mm256_add_epi8(str, roll);
    __m256i packed = _mm256_madd_epi16(_mm256_maddubs_epi16(str, pack_ab), pack_abc);
    packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(packed, order), lanes);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), packed);
    o += 24;
  }
  return i;
}

const bool have_avx2 = __builtin_cpu_supports("avx2");
#endif

}  // namespace

std::optional<std::size_t> base64_decode_to(std::string_view in, char* out) noexcept {
  const std::size_t n = in.size();
  if (n % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (n > 0 && in[n - 1] == '=') pad = (n >= 2 && in[n - 2] == '=') ? 2 : 1;
  const std::size_t body = n - pad;
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  char* o = out;
  std::size_t i = 0;
#if defined(__x86_64__)
  if (have_avx2 && body >= 32) i = base64_decode_avx2(s, body, o);
#endif
  // Eight characters (six bytes) per step: two table groups, one 8-byte store
  // (the two bytes past the six are overwritten next, or are slack).
  for (; i + 8 <= body; i += 8) {
    std::uint32_t x = b64_group(s + i);
    std::uint32_t y = b64_group(s + i + 4);
    if (((x | y) & b64_bad) != 0) return std::nullopt;
    std::uint64_t w = (static_cast<std::uint64_t>(x) << 40) | (static_cast<std::uint64_t>(y) << 16);
    if constexpr (std::endian::native == std::endian::little) w = __builtin_bswap64(w);
    std::memcpy(o, &w, 8);
    o += 6;
  }
  for (; i + 4 <= body; i += 4) {
    std::uint32_t x = b64_group(s + i);
    if ((x & b64_bad) != 0) return std::nullopt;
    o[0] = static_cast<char>(x >> 16);
    o[1] = static_cast<char>(x >> 8);
    o[2] = static_cast<char>(x);
    o += 3;
  }
  // 2 or 3 characters before the padding: 1 or 2 bytes, and the bits left
  // over must be zero (canonical padding).
  if (std::size_t rest = body - i; rest > 0) {
    if (rest == 1) return std::nullopt;  // "x===" is refused as padding inside the data
    std::uint32_t x = b64_d0[s[i]] | b64_d1[s[i + 1]] | (rest == 3 ? b64_d2[s[i + 2]] : 0U);
    if ((x & b64_bad) != 0) return std::nullopt;
    *o++ = static_cast<char>(x >> 16);
    if (rest == 3) {
      *o++ = static_cast<char>(x >> 8);
      if ((x & 0xFFU) != 0) return std::nullopt;
    } else if ((x & 0xFFFFU) != 0) {
      return std::nullopt;
    }
  }
  return static_cast<std::size_t>(o - out);
}

result<std::string> base64_decode(std::string_view in) {
  std::string out;
  out.resize(base64_decode_room(in.size()));
  if (auto n = base64_decode_to(in, out.data())) {
    out.resize(*n);
    return out;
  }
  return base64_decode_reference(in);  // the error, with its text
}

namespace {

// The base-10^19 limbs (least significant first) of a sequence number in the
// layout of sequence_number::to_string (src/common/types.cpp), most significant
// field first: version 4 | create_s 36 | shard & 0xF 4 | index 64 | 0 8 |
// time_s 36 | shard 32 | version 4 — 188 bits. False for fields outside the
// layout (then only to_string knows what it makes of them).
bool sequence_limbs(const sequence_number& s, std::uint64_t (&c)[4]) noexcept {
  constexpr std::uint64_t version = 2;
  const std::uint64_t create_s = s.shard_create_seconds();
  const std::uint64_t time_s = s.seq_time_seconds();
  const std::uint64_t index = s.seq_index();
  const std::uint64_t shard = s.shard().index();
  if ((create_s >> 36) != 0 || (time_s >> 36) != 0) return false;
  const std::uint64_t lo = version | (shard << 4) | (time_s << 36);
  const std::uint64_t mid = (time_s >> 28) | (index << 16);
  const std::uint64_t hi = (index >> 48) | ((shard & 0xF) << 16) | (create_s << 20) | (version << 56);
  // hi < 2^60 < 10^19, so each step divides a 128-bit value whose top half is
  // below the divisor.
  std::uint64_t r = 0;
  const std::uint64_t q1 = div_ten19(hi, mid, r);  // quotient's high limb, < 2^61
  const std::uint64_t q0 = div_ten19(r, lo, r);
  c[0] = r;
  const std::uint64_t p = div_ten19(q1, q0, r);  // < 2^62
  c[1] = r;
  c[2] = p % ten19;
  c[3] = p / ten19;
  return true;
}

char* write_limbs(const std::uint64_t (&c)[4], char* out) noexcept {
  int top = 3;
  while (top > 0 && c[top] == 0) --top;
  // The leading limb without its leading zeros (at least one digit).
  char lead[19];
  write19(c[top], lead);
  std::size_t skip = 0;
  while (skip < 18 && lead[skip] == '0') ++skip;
  std::memcpy(out, lead + skip, 19 - skip);
  out += 19 - skip;
  for (int k = top - 1; k >= 0; --k) out = write19(c[k], out);
  return out;
}

char* write_fallback(const sequence_number& s, char* out) {
  std::string t = s.to_string();
  const std::size_t n = std::min(t.size(), max_sequence_number_digits);
  std::memcpy(out, t.data(), n);
  return out + n;
}

}  // namespace

char* write_sequence_number(const sequence_number& s, char* out) noexcept {
  std::uint64_t c[4];
  if (!sequence_limbs(s, c)) return write_fallback(s, out);
  return write_limbs(c, out);
}

// The next number of a slot's shard, from the slot's limbs and text; null when
// it is not one (another shard, second or creation time, an index not a few
// past the slot's) or when the step carries into the top limbs.
char* sequence_number_writer::step(slot& k, const sequence_number& s, char* out) noexcept {
  // 2^80 (one step of the index field) in base 10^19: 120892·10^19 + step_low.
  constexpr std::uint64_t step_low = 5'819'614'629'174'706'176ULL;
  constexpr std::uint64_t step_high = 120'892;
  if (k.create_s != s.shard_create_seconds() || k.time_s != s.seq_time_seconds() || s.seq_index() <= k.index ||
      s.seq_index() - k.index > 8 || k.text_len < 39) {
    return nullptr;
  }
  std::uint64_t c0 = k.c[0], c1 = k.c[1];
  for (std::uint64_t d = s.seq_index() - k.index; d > 0; --d) {
    std::uint64_t carry = 0;
    if (c0 >= ten19 - step_low) {
      c0 -= ten19 - step_low;
      carry = 1;
    } else {
      c0 += step_low;
    }
    c1 += step_high + carry;  // < 10^19 + 120893: no overflow
    if (c1 >= ten19) return nullptr;
  }
  // The digits above the two low limbs are unchanged. Fixed-size copies (the
  // whole text buffer, then the new low digits over it) compile to a few
  // vector moves instead of library calls; `out` has room for them.
  const std::size_t head = k.text_len - 38;
  std::memcpy(out, k.text, max_sequence_number_digits);
  // c1 grows by ~120,893 a step: its upper 11 digits mostly stay as they were.
  if (c1 / 100'000'000 == k.c[1] / 100'000'000) {
    write8(static_cast<std::uint32_t>(c1 % 100'000'000), out + head + 11);
  } else {
    write19(c1, out + head);
  }
  char* end = write19(c0, out + head + 19);
  k.index = s.seq_index();
  k.c[0] = c0;
  k.c[1] = c1;
  std::memcpy(k.text, out, max_sequence_number_digits);
  return end;
}

char* sequence_number_writer::write(const sequence_number& s, char* out) noexcept {
  const std::uint32_t shard = s.shard().index();
  slot* k = nullptr;
  for (auto& candidate : slots_) {
    if (candidate.used && candidate.shard == shard) {
      k = &candidate;
      break;
    }
  }
  if (k) {
    if (char* end = step(*k, s, out)) return end;
  } else {
    k = &slots_[next_++ % slots_.size()];
  }
  std::uint64_t c[4];
  if (!sequence_limbs(s, c)) return write_fallback(s, out);
  char* end = write_limbs(c, out);
  k->used = true;
  k->shard = shard;
  k->create_s = s.shard_create_seconds();
  k->time_s = s.seq_time_seconds();
  k->index = s.seq_index();
  std::memcpy(k->c, c, sizeof c);
  k->text_len = static_cast<std::size_t>(end - out);
  std::memcpy(k->text, out, k->text_len);
  return end;
}

void append_sequence_number(const sequence_number& s, std::string& out) {
  char buf[max_sequence_number_digits];
  out.append(buf, static_cast<std::size_t>(write_sequence_number(s, buf) - buf));
}

char* write_shard_id(shard_id id, char* out) noexcept {
  std::memcpy(out, "shardId-", 8);
  const std::uint32_t v = id.index();
  out = write4(v / 100'000'000, out + 8);  // < 43
  return write8(v % 100'000'000, out);
}

}  // namespace rill::wire
