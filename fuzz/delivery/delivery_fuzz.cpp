// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// libFuzzer target for the delivery component's parsers of untrusted bytes:
// S3 prefixes (with evaluation), timestamp patterns, the jq subset (with
// evaluation against a record), base64, and rill's decoders of the object
// containers. The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "delivery/compression.hpp"
#include "delivery/expressions.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rill::delivery;
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      auto p = prefix::parse(in, "Prefix");
      if (p) {
        std::map<std::string, std::string> keys{{"a", "1"}, {"customer_id", "c"}};
        prefix::context ctx{rill::timestamp{}, &keys, &keys, "processing-failed", [] { return std::string("r"); }};
        (void)p->evaluate(ctx);
      }
      break;
    }
    case 1: {
      auto t = time_pattern::parse(in);
      if (t) (void)t->format(rill::timestamp{});
      break;
    }
    case 2: {
      auto q = metadata_query::parse(in);
      if (q) (void)q->evaluate(R"({"a":1,"customer_id":"c","b":{"c":[1,"x"]}})");
      // And the text as a record for a fixed query.
      static const auto fixed = metadata_query::parse("{a:.a, c:.b.c[1]}");
      (void)fixed->evaluate(in);
      break;
    }
    case 3: (void)base64_decode(in); break;
    case 4: {
      for (auto c :
           {compression::gzip, compression::zip, compression::snappy, compression::hadoop_snappy, compression::zstd})
        (void)decompress(c, in);
      break;
    }
  }
  return 0;
}
