// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// libFuzzer target for token_codec (shard iterators and pagination tokens are
// untrusted text). Any input must be refused or opened without a crash or UB;
// an input that opens must be exactly what sealing its payload gives (tokens
// are canonical), and sealing any bytes must open back to them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/token.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const rill::detail::token_codec codec("fuzz key");
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto payload = codec.open(in)) {
    if (codec.seal(*payload) != in) std::abort();
  }
  auto back = codec.open(codec.seal(in));
  if (!back || *back != in) std::abort();
  return 0;
}
