// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// libFuzzer target for the KPL deaggregator (rill/kpl.hpp). Two views of every
// input: as it is (mostly plain records or bad checksums), and framed with the
// magic and the right MD5 so that the protobuf parser itself is exercised.
// Invariants: no crash, no out-of-bounds read (run with ASan), every member's
// views lie inside the input, and a refused record comes back once, raw.
#include <openssl/md5.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "rill/kpl.hpp"

namespace {

void check(std::string_view bytes) {
  auto inside = [&](std::string_view v) {
    return v.empty() || (v.data() >= bytes.data() && v.data() + v.size() <= bytes.data() + bytes.size());
  };
  auto r = rill::kpl::deaggregate(bytes, "outer");
  if (r.format != rill::kpl::record_format::aggregated) {
    if (r.records.size() != 1 || r.records[0].data != bytes) std::abort();
    return;
  }
  for (const auto& u : r.records) {
    if (!inside(u.data) || !inside(u.partition_key)) std::abort();
    if (u.explicit_hash_key && !inside(*u.explicit_hash_key)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  check(raw);
  std::string framed("\xF3\x89\x9A\xC2", 4);
  framed.append(raw);
  unsigned char digest[16];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  MD5(data, size, digest);
#pragma GCC diagnostic pop
  framed.append(reinterpret_cast<const char*>(digest), 16);
  // An exact-size heap copy, so that a read past the end is caught.
  auto* exact = static_cast<char*>(std::malloc(framed.size()));
  std::memcpy(exact, framed.data(), framed.size());
  check(std::string_view(exact, framed.size()));
  std::free(exact);
  return 0;
}
