// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The hand-written fast code of the PutRecords path against what it replaces:
//   * base64_decode_to (eight characters per step) against the reference
//     decoder (same acceptance, same bytes, same error texts) and OpenSSL;
//   * write_sequence_number / write_shard_id against sequence_number::to_string
//     and shard_id::to_string;
//   * the tree-free PutRecords scanner against the generic nlohmann path: random
//     valid and mutated bodies through two dispatchers (fast paths on and off)
//     over two engines in the same state; every answer byte-identical.
// Seeded: each test prints its seed and replays from RILL_SEED.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>

#include "seed.hpp"
#include "server/operations.hpp"
#include "wire_fixture.hpp"

namespace rill::testing {
namespace {

const std::string b64_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// What OpenSSL makes of valid padded base64 (EVP_DecodeBlock keeps the pad's zero bytes).
std::string openssl_decode(const std::string& in) {
  std::string out(in.size() / 4 * 3 + 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return "<openssl refused>";
  std::size_t pad = in.size() >= 1 && in.back() == '=' ? (in.size() >= 2 && in[in.size() - 2] == '=' ? 2 : 1) : 0;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

// One random edit that often makes base64 invalid in an interesting way.
void mutate_base64(std::string& s, std::mt19937_64& rng) {
  static const std::string specials = std::string("=\"\\ -_.\t\n\x7f\x80\xff", 13) + std::string(1, '\0');
  switch (rng() % 6) {
    case 0:
      if (!s.empty()) s[rng() % s.size()] = specials[rng() % specials.size()];
      break;
    case 1:
      if (!s.empty()) s[rng() % s.size()] = b64_chars[rng() % 64];  // non-canonical last char, sometimes
      break;
    case 2:
      if (!s.empty()) s.erase(rng() % s.size(), 1);
      break;
    case 3: s.insert(rng() % (s.size() + 1), 1, "=A/"[rng() % 3]); break;
    case 4:
      if (!s.empty()) s.back() = b64_chars[rng() % 64];
      break;
    default:
      if (s.size() >= 2) s[s.size() - 2] = '=';
  }
}

TEST(FastBase64, MatchesTheReferenceDecoderAndOpenSsl) {
  std::mt19937_64 rng(test_seed(7));
  int valid = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = random_bytes(rng, rng() % 4 == 0 ? rng() % 600 : rng() % 40);
    std::string text = wire::base64_encode(bytes);
    const bool mutated = rng() % 2 == 0;
    if (mutated) {
      for (int k = 1 + static_cast<int>(rng() % 2); k > 0; --k) mutate_base64(text, rng);
    }
    auto ref = wire::base64_decode_reference(text);
    std::string buf(wire::base64_decode_room(text.size()), '\0');
    auto n = wire::base64_decode_to(text, buf.data());
    auto full = wire::base64_decode(text);
    ASSERT_EQ(n.has_value(), ref.ok()) << "'" << text << "' round " << i;
    ASSERT_EQ(full.ok(), ref.ok()) << text;
    if (ref) {
      ++valid;
      ASSERT_EQ(std::string(buf.data(), *n), *ref) << text;
      ASSERT_EQ(*full, *ref) << text;
      ASSERT_EQ(openssl_decode(text), *ref) << text;
      if (!mutated) {
        ASSERT_EQ(*ref, bytes);
      }
    } else {
      ++refused;
      ASSERT_EQ(full.error().message(), ref.error().message()) << text;
    }
  }
  // Both outcomes were exercised in quantity.
  EXPECT_GT(valid, 10000);
  EXPECT_GT(refused, 3000);
}

// Every byte value at every position of texts long enough for the 32-character
// vector steps, the 8-character steps and the tail (with and without padding):
// the same acceptance and bytes as the reference.
TEST(FastBase64, EveryByteAtEveryPosition) {
  std::mt19937_64 rng(test_seed(3));
  for (std::size_t len : {45u, 80u, 100u}) {  // 60, 108 ("="), 136 ("==") characters
    const std::string text = wire::base64_encode(random_bytes(rng, len));
    for (std::size_t at = 0; at < text.size(); ++at) {
      for (int c = 0; c < 256; ++c) {
        std::string t = text;
        t[at] = static_cast<char>(c);
        auto ref = wire::base64_decode_reference(t);
        std::string buf(wire::base64_decode_room(t.size()), '\0');
        auto n = wire::base64_decode_to(t, buf.data());
        ASSERT_EQ(n.has_value(), ref.ok()) << "position " << at << " byte " << c << " in " << t;
        if (ref) {
          ASSERT_EQ(std::string(buf.data(), *n), *ref) << t;
        }
      }
    }
  }
}

TEST(FastBase64, ErrorTextsAreAwss) {
  auto msg = [](std::string_view in) {
    auto r = wire::base64_decode(in);
    return r ? std::string("<accepted>") : r.error().message();
  };
  EXPECT_EQ(msg("abcde"),
            "'abcde' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 "
            "bytes but found: 5");
  EXPECT_EQ(msg("ab$dabcd"), "'ab$dabcd' can not be converted to a Blob: Invalid Base64 character: '$'");
  EXPECT_EQ(msg("abcdab=d"), "'abcdab=d' can not be converted to a Blob: Invalid Base64 padding found");
  EXPECT_EQ(msg("aGk="), "<accepted>");
  EXPECT_EQ(msg("aGl="), "'aGl=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected");
  EXPECT_EQ(msg("aR=="), "'aR==' can not be converted to a Blob: Invalid last non-pad Base64 character dectected");
  EXPECT_EQ(msg(""), "<accepted>");
}

TEST(FastText, SequenceNumbersAndShardIdsMatchToString) {
  std::mt19937_64 rng(test_seed(11));
  auto pick = [&](std::uint64_t max) -> std::uint64_t {
    switch (rng() % 4) {
      case 0: return 0;
      case 1: return max;
      default: return max == ~std::uint64_t{0} ? rng() : rng() % (max + 1);
    }
  };
  for (int i = 0; i < 50000; ++i) {
    // Mostly in the layout's ranges; one in eight with times past 36 bits (the slow fallback).
    const bool wild = rng() % 8 == 0;
    std::uint64_t create = wild ? rng() >> (rng() % 64) : pick(sequence_number::max_create_seconds);
    std::uint64_t time = wild ? rng() >> (rng() % 64) : pick((std::uint64_t{1} << 36) - 1);
    auto shard = static_cast<std::uint32_t>(rng() % 3 == 0 ? pick(0xFFFF'FFFFu) : rng() % 64);
    std::uint64_t index = pick(~std::uint64_t{0});
    sequence_number s(create, shard, index, time);
    char buf[wire::max_sequence_number_digits];
    std::string fast(buf, static_cast<std::size_t>(wire::write_sequence_number(s, buf) - buf));
    ASSERT_EQ(fast, s.to_string()) << create << " " << shard << " " << index << " " << time;
    std::string appended = "x";
    wire::append_sequence_number(s, appended);
    ASSERT_EQ(appended, "x" + fast);
    char idbuf[20];
    std::string id(idbuf, static_cast<std::size_t>(wire::write_shard_id(shard_id(shard), idbuf) - idbuf));
    ASSERT_EQ(id, shard_id(shard).to_string());
  }
}

// The writer of one answer's sequence numbers: runs of consecutive indices on
// more shards than it has slots, gaps, repeats, going back, a new second, and
// indices near limb boundaries (a carry into the top limbs), against to_string.
TEST(FastText, SequenceNumberWriterMatchesToString) {
  std::mt19937_64 rng(test_seed(13));
  for (int answer = 0; answer < 400; ++answer) {
    wire::sequence_number_writer w;
    const int shards = 1 + static_cast<int>(rng() % 12);
    std::vector<std::uint64_t> index(static_cast<std::size_t>(shards)), create(index.size());
    for (std::size_t i = 0; i < index.size(); ++i) {
      index[i] = rng() % 3 == 0 ? rng() : rng() % 1'000'000;
      create[i] = rng() % sequence_number::max_create_seconds;
    }
    std::uint64_t time = 1'764'500'000 + rng() % 1000;
    for (int n = 0; n < 300; ++n) {
      const auto k = static_cast<std::size_t>(rng() % index.size());
      switch (rng() % 16) {
        case 0: index[k] += 2 + rng() % 10; break;  // a gap (past the 8-step reach, sometimes)
        case 1: index[k] -= std::min<std::uint64_t>(index[k], rng() % 3); break;  // repeat or back
        case 2: ++time; break;
        default: ++index[k];
      }
      sequence_number s(create[k], static_cast<std::uint32_t>(k * 7), index[k], time);
      char buf[wire::max_sequence_number_digits];
      std::string got(buf, static_cast<std::size_t>(w.write(s, buf) - buf));
      ASSERT_EQ(got, s.to_string()) << "answer " << answer << " step " << n;
    }
  }
}

// Steps whose +2^80 carries out of the two low limbs (found with Python's big
// integers for this shard, creation and arrival second): the writer must notice
// and compute the number afresh.
TEST(FastText, SequenceNumberWriterCarriesIntoTheTopLimbs) {
  for (std::uint64_t first : {36'731'341'280'846ULL, 4'611'734'082'446'920'739ULL}) {
    wire::sequence_number_writer w;
    for (std::uint64_t i = first - 2; i <= first + 2; ++i) {
      sequence_number s(1'764'500'000, 3, i, 1'764'510'000);
      char buf[wire::max_sequence_number_digits];
      ASSERT_EQ(std::string(buf, static_cast<std::size_t>(w.write(s, buf) - buf)), s.to_string()) << i;
    }
    // The carry changes a digit above the low 38.
    const auto a = sequence_number(1'764'500'000, 3, first, 1'764'510'000).to_string();
    const auto b = sequence_number(1'764'500'000, 3, first + 1, 1'764'510'000).to_string();
    EXPECT_NE(a.substr(0, a.size() - 38), b.substr(0, b.size() - 38));
  }
}

// --- PutRecords: fast path against the generic path ----------------------------

std::string random_key(std::mt19937_64& rng, bool clean) {
  if (clean) return "pk-" + std::to_string(rng() % 1000);
  switch (rng() % 12) {
    case 0: return "";                                     // too short: a validation error
    case 1: return std::string(256 + rng() % 3, 'k');      // 256 is the limit
    case 2: return "k\\u00e9y";                            // an escape (raw JSON text)
    case 3: return "h\xc3\xa9llo";                         // non-ASCII
    case 4: return "tab\\there";                           // an escape
    default: return "pk-" + std::to_string(rng() % 1000);  // the common case
  }
}

std::string random_hash_key(std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0: return "0";
    case 1: return "340282366920938463463374607431768211455";  // 2^128 - 1
    case 2: return "340282366920938463463374607431768211456";  // 2^128: out of range
    case 3: return "01";
    case 4: return "12x";
    default: return std::to_string(rng());
  }
}

// A PutRecords body as JSON text: mostly the shape the fast path takes, with
// random departures (whitespace, member order, escapes, nulls, numbers, unknown
// members, ExplicitHashKey, StreamARN, bad base64, empty or long lists).
std::string random_body(std::mt19937_64& rng) {
  // Half the bodies are of the fast path's shape (only whitespace varies);
  // the others depart from it at random places.
  const bool clean = rng() % 2 == 0;
  auto odd = [&](unsigned one_in) { return !clean && rng() % one_in == 0; };
  auto ws = [&]() -> std::string {
    switch (rng() % 10) {
      case 0: return " ";
      case 1: return "\n  ";
      case 2: return "\t";
      default: return "";
    }
  };
  std::string stream;
  switch (clean ? 9 : rng() % 10) {
    case 0: stream = R"("StreamName":"missing")"; break;
    case 1: stream = R"("StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s")"; break;
    case 2: stream = R"("StreamName":null)"; break;
    case 3: stream = R"("StreamName":"s","StreamName":"t")"; break;
    case 4: stream = R"("StreamName":"\u0073")"; break;
    default: stream = rng() % 2 ? R"("StreamName":"s")" : R"("StreamName":"t")";
  }
  std::size_t count = odd(20) ? 0 : odd(30) ? 500 + rng() % 3 : 1 + rng() % 12;
  std::string records = "[" + ws();
  for (std::size_t i = 0; i < count; ++i) {
    if (i) records += "," + ws();
    std::vector<std::string> members;
    std::string data = wire::base64_encode(random_bytes(rng, rng() % 8 == 0 ? rng() % 2000 : rng() % 120));
    if (odd(25)) mutate_base64(data, rng);
    if (odd(40)) data = "\\u0041AAA";  // an escaped but valid base64 text
    if (!odd(40)) members.push_back("\"Data\":" + ws() + "\"" + data + "\"");
    if (odd(40)) members.push_back("\"Data\":null");
    if (!odd(40)) members.push_back("\"PartitionKey\":\"" + random_key(rng, clean || rng() % 3 != 0) + "\"");
    if (rng() % 6 == 0) {
      members.push_back("\"ExplicitHashKey\":\"" + (clean ? std::to_string(rng()) : random_hash_key(rng)) + "\"");
    }
    if (odd(50)) members.push_back("\"ExplicitHashKey\":5");
    if (odd(50)) members.push_back("\"Other\":\"x\"");
    if (odd(60)) members.push_back("\"PartitionKey\":\"again\"");
    std::shuffle(members.begin(), members.end(), rng);
    records += "{" + ws();
    for (std::size_t m = 0; m < members.size(); ++m) records += (m ? "," + ws() : "") + members[m];
    records += ws() + "}";
  }
  records += "]";
  std::vector<std::string> top = {stream, "\"Records\":" + ws() + records};
  if (odd(30)) top.push_back(R"("StreamId":"x")");
  if (odd(30)) top.push_back(R"("Records":[])");
  std::shuffle(top.begin(), top.end(), rng);
  std::string body = "{" + ws();
  for (std::size_t m = 0; m < top.size(); ++m) body += (m ? "," + ws() : "") + top[m];
  body += ws() + "}" + ws();
  return body;
}

void mutate_body(std::string& s, std::mt19937_64& rng) {
  if (s.empty()) return;
  switch (rng() % 5) {
    case 0: s[rng() % s.size()] = static_cast<char>(rng()); break;
    case 1: s[rng() % s.size()] = "{}[],:\" \\0aZ="[rng() % 13]; break;
    case 2: s.erase(rng() % s.size(), 1 + rng() % 4); break;
    case 3: s.insert(rng() % (s.size() + 1), 1, "{}[],:\" \\"[rng() % 9]); break;
    default: s.resize(rng() % s.size());
  }
}

std::vector<wire::header> comparable(const wire::response& r) {
  std::vector<wire::header> h;
  for (const auto& x : r.headers) {
    if (x.name != "x-amzn-RequestId" && x.name != "x-amz-id-2") h.push_back(x);
  }
  return h;
}

TEST(PutRecordsFastPath, AnswersByteForByteAsTheGenericPath) {
  const auto seed = test_seed(2026);
  std::mt19937_64 rng(seed);
  wire_fixture fast;  // fast paths on (the default)
  wire::dispatcher_options off;
  off.fast_paths = false;
  wire_fixture generic(off);
  wire_fixture probe;  // only to ask the fast path alone whether it takes a body
  for (auto* w : {&fast, &generic, &probe}) {
    ASSERT_EQ(w->call("CreateStream", {{"StreamName", "s"}, {"ShardCount", 4}}).status, 200u);
    ASSERT_EQ(w->call("CreateStream", {{"StreamName", "t"}, {"ShardCount", 1}}).status, 200u);
    w->clock->advance(std::chrono::seconds(1));
  }
  const auto* op = wire::find_kinesis_operation("PutRecords");
  ASSERT_NE(op, nullptr);
  ASSERT_NE(op->fast, nullptr);
  int taken = 0, ok_answers = 0, errors = 0;
  const int rounds = 1500;
  for (int i = 0; i < rounds; ++i) {
    std::string body = random_body(rng);
    if (rng() % 6 == 0) mutate_body(body, rng);
    if (op->fast(*probe.engine, body, body_format::json)) ++taken;
    auto a = fast.raw(make_request("PutRecords", body));
    auto b = generic.raw(make_request("PutRecords", body));
    ASSERT_EQ(a.status, b.status) << "round " << i << " body " << body.substr(0, 400);
    ASSERT_EQ(a.content_type, b.content_type) << "round " << i;
    ASSERT_EQ(a.body, b.body) << "round " << i << " body " << body.substr(0, 400);
    auto ha = comparable(a), hb = comparable(b);
    ASSERT_EQ(ha.size(), hb.size());
    for (std::size_t h = 0; h < ha.size(); ++h) {
      ASSERT_EQ(ha[h].name, hb[h].name);
      ASSERT_EQ(ha[h].value, hb[h].value);
    }
    (a.status == 200 ? ok_answers : errors)++;
    // Time passes alike for both engines (shards refill their write budgets).
    if (i % 8 == 7) {
      for (auto* w : {&fast, &generic, &probe}) w->clock->advance(std::chrono::milliseconds(1100));
    }
  }
  std::printf("fast path took %d of %d bodies; %d answered 200, %d errors\n", taken, rounds, ok_answers, errors);
  // The comparison means something only if both kinds of body were common.
  EXPECT_GT(taken, rounds / 5);
  EXPECT_GT(rounds - taken, rounds / 5);
  EXPECT_GT(ok_answers, rounds / 5);
}

}  // namespace
}  // namespace rill::testing
