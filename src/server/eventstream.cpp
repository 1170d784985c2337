// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "server/eventstream.hpp"

#include <array>

namespace rill::wire {
namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto crc_table = make_crc_table();

void put_u32(std::uint32_t v, std::string& out) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}

std::uint64_t get_be(std::string_view in, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]);
  return v;
}

error corrupt(std::string why) { return error(error_code::internal_failure, "event stream: " + why); }

}  // namespace

const std::string* event_message::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name == name) return &h.value;
  }
  return nullptr;
}

std::uint32_t crc32(std::string_view data, std::uint32_t crc) {
  crc = ~crc;
  for (unsigned char c : data) crc = crc_table[(crc ^ c) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void encode_event(const event_message& m, std::string& out) {
  std::string headers;
  for (const auto& h : m.headers) {
    headers.push_back(static_cast<char>(h.name.size()));
    headers.append(h.name);
    headers.push_back(static_cast<char>(7));
    headers.push_back(static_cast<char>((h.value.size() >> 8) & 0xFF));
    headers.push_back(static_cast<char>(h.value.size() & 0xFF));
    headers.append(h.value);
  }
  std::size_t start = out.size();
  auto total = static_cast<std::uint32_t>(12 + headers.size() + m.payload.size() + 4);
  put_u32(total, out);
  put_u32(static_cast<std::uint32_t>(headers.size()), out);
  put_u32(crc32(std::string_view(out).substr(start, 8)), out);
  out.append(headers);
  out.append(m.payload);
  put_u32(crc32(std::string_view(out).substr(start)), out);
}

std::string event_frame(std::string_view event_type, std::string_view content_type, std::string_view payload) {
  event_message m;
  m.headers = {{":message-type", "event"},
               {":event-type", std::string(event_type)},
               {":content-type", std::string(content_type)}};
  m.payload = payload;
  std::string out;
  encode_event(m, out);
  return out;
}

std::string exception_frame(std::string_view exception_type, std::string_view content_type, std::string_view payload) {
  event_message m;
  m.headers = {{":message-type", "exception"},
               {":exception-type", std::string(exception_type)},
               {":content-type", std::string(content_type)}};
  m.payload = payload;
  std::string out;
  encode_event(m, out);
  return out;
}

result<std::optional<event_message>> decode_event(std::string_view in, std::size_t& consumed) {
  consumed = 0;
  if (in.size() < 12) return std::optional<event_message>{};
  auto total = static_cast<std::size_t>(get_be(in, 0, 4));
  auto hlen = static_cast<std::size_t>(get_be(in, 4, 4));
  if (crc32(in.substr(0, 8)) != get_be(in, 8, 4)) return corrupt("prelude CRC mismatch");
  if (total < 16 || total > max_event_message) return corrupt("bad message length " + std::to_string(total));
  if (hlen > max_event_headers || hlen > total - 16) return corrupt("bad headers length " + std::to_string(hlen));
  if (in.size() < total) return std::optional<event_message>{};
  if (crc32(in.substr(0, total - 4)) != get_be(in, total - 4, 4)) return corrupt("message CRC mismatch");
  event_message m;
  std::string_view h = in.substr(12, hlen);
  std::size_t i = 0;
  while (i < h.size()) {
    std::size_t nlen = static_cast<unsigned char>(h[i++]);
    if (nlen == 0 || i + nlen + 1 > h.size()) return corrupt("truncated header name");
    event_header eh;
    eh.name = h.substr(i, nlen);
    i += nlen;
    eh.type = static_cast<std::uint8_t>(h[i++]);
    auto fixed = [&](int n) -> bool {
      if (i + static_cast<std::size_t>(n) > h.size()) return false;
      std::uint64_t v = get_be(h, i, n);
      i += static_cast<std::size_t>(n);
      // Sign-extend the integer types.
      std::int64_t sv = n == 8   ? static_cast<std::int64_t>(v)
                        : n == 4 ? static_cast<std::int32_t>(v)
                        : n == 2 ? static_cast<std::int16_t>(v)
                                 : static_cast<std::int8_t>(v);
      eh.value = std::to_string(sv);
      return true;
    };
    bool ok = true;
    switch (eh.type) {
      case 0: eh.value = "true"; break;
      case 1: eh.value = "false"; break;
      case 2: ok = fixed(1); break;
      case 3: ok = fixed(2); break;
      case 4: ok = fixed(4); break;
      case 5:
      case 8: ok = fixed(8); break;
      case 6:
      case 7: {
        if (i + 2 > h.size()) {
          ok = false;
          break;
        }
        std::size_t vlen = static_cast<std::size_t>(get_be(h, i, 2));
        i += 2;
        if (i + vlen > h.size()) {
          ok = false;
          break;
        }
        eh.value = h.substr(i, vlen);
        i += vlen;
        break;
      }
      case 9:
        if (i + 16 > h.size()) {
          ok = false;
          break;
        }
        eh.value = h.substr(i, 16);
        i += 16;
        break;
      default: return corrupt("unknown header type " + std::to_string(eh.type));
    }
    if (!ok) return corrupt("truncated header value");
    m.headers.push_back(std::move(eh));
  }
  m.payload = in.substr(12 + hlen, total - 16 - hlen);
  consumed = total;
  return std::optional<event_message>(std::move(m));
}

}  // namespace rill::wire
