// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The application/vnd.amazon.eventstream framing SubscribeToShard answers in.
#include <gtest/gtest.h>

#include <random>

#include "seed.hpp"
#include "server/eventstream.hpp"

namespace rill::testing {
namespace {

TEST(EventStream, Crc32IsIeee) {
  EXPECT_EQ(wire::crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(wire::crc32(""), 0u);
  // Incremental equals one-shot.
  EXPECT_EQ(wire::crc32("56789", wire::crc32("1234")), 0xCBF43926u);
}

TEST(EventStream, EmptyMessageMatchesTheFormatsReferenceBytes) {
  // A message with no headers and no payload: 16 bytes, prelude CRC 0x05c248eb,
  // message CRC 0x7d98c8ff: "AAAAEAAAAAAFwkjrfZjI/w==", the empty_message vector of the AWS event-stream suites.
  std::string out;
  wire::encode_event({}, out);
  const unsigned char want[] = {0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
                                0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff};
  ASSERT_EQ(out.size(), 16u);
  EXPECT_EQ(out, std::string(reinterpret_cast<const char*>(want), 16));
}

TEST(EventStream, FramesRoundTripWithTheirHeaders) {
  std::string frame = wire::event_frame("SubscribeToShardEvent", "application/json", R"({"Records":[]})");
  std::size_t used = 0;
  auto m = wire::decode_event(frame, used);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ(used, frame.size());
  EXPECT_EQ(*(*m)->header(":message-type"), "event");
  EXPECT_EQ(*(*m)->header(":event-type"), "SubscribeToShardEvent");
  EXPECT_EQ(*(*m)->header(":content-type"), "application/json");
  EXPECT_EQ((*m)->payload, R"({"Records":[]})");

  std::string ex = wire::exception_frame("ResourceInUseException", "application/json", R"({"message":"x"})");
  m = wire::decode_event(ex, used);
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ(*(*m)->header(":message-type"), "exception");
  EXPECT_EQ(*(*m)->header(":exception-type"), "ResourceInUseException");
}

TEST(EventStream, PartialFramesWaitForMoreBytes) {
  std::string two = wire::event_frame("initial-response", "application/json", "") +
                    wire::event_frame("SubscribeToShardEvent", "application/json", "{}");
  for (std::size_t cut = 0; cut < two.size(); ++cut) {
    std::size_t used = 0;
    auto m = wire::decode_event(std::string_view(two).substr(0, cut), used);
    ASSERT_TRUE(m.ok()) << cut;
    std::size_t first = two.size() - wire::event_frame("SubscribeToShardEvent", "application/json", "{}").size();
    EXPECT_EQ(m->has_value(), cut >= first) << cut;
  }
}

TEST(EventStream, CorruptionIsDetected) {
  std::string frame = wire::event_frame("SubscribeToShardEvent", "application/json", "{\"a\":1}");
  for (std::size_t i = 0; i < frame.size(); ++i) {
    std::string bad = frame;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    std::size_t used = 0;
    auto m = wire::decode_event(bad, used);
    // Every single-bit flip is caught by one of the two CRCs (or reads as incomplete when it grows the length).
    EXPECT_TRUE(!m.ok() || !m->has_value()) << "flip at " << i;
  }
}

TEST(EventStream, SeededMutationNeverCrashesOrOverreads) {
  const auto seed = test_seed(20261130);
  std::mt19937_64 rng(seed);
  std::string base = wire::event_frame("SubscribeToShardEvent", "application/cbor", std::string(40, 'x'));
  for (int round = 0; round < 20000; ++round) {
    std::string m = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 3) {
        case 0: m[rng() % m.size()] = static_cast<char>(rng()); break;
        case 1: m.resize(rng() % (m.size() + 1)); break;
        default: m.insert(rng() % (m.size() + 1), 1, static_cast<char>(rng()));
      }
      if (m.empty()) m = base;
    }
    // Re-seal the CRCs half of the time so the header parser is reached.
    if (rng() % 2 && m.size() >= 16) {
      auto put = [&](std::size_t at, std::uint32_t v) {
        for (int s = 0; s < 4; ++s) m[at + static_cast<std::size_t>(s)] = static_cast<char>(v >> (24 - 8 * s));
      };
      std::uint32_t total = static_cast<std::uint32_t>(m.size());
      put(0, total);
      put(8, wire::crc32(std::string_view(m).substr(0, 8)));
      put(m.size() - 4, wire::crc32(std::string_view(m).substr(0, m.size() - 4)));
    }
    std::size_t used = 0;
    auto r = wire::decode_event(m, used);
    if (r.ok() && r->has_value()) {
      EXPECT_LE(used, m.size());
      std::size_t sum = 16 + (*r)->payload.size();
      EXPECT_LE(sum, used);
    }
  }
}

}  // namespace
}  // namespace rill::testing
