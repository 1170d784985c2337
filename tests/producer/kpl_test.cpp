// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The KPL aggregated-record codec: the vectors made by aws-kinesis-agg, the
// reference's hand-built example, the hand-written codec cross-checked against
// libprotobuf both ways, the official Node deaggregator on what rill encodes,
// and a seeded mutation test of the decoder.
#include <gtest/gtest.h>
#include <openssl/md5.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>
#include "messages.pb.h"
#include "producer/base64.hpp"
#include "rill/kpl.hpp"
#include "seed.hpp"
#include "vectors.hpp"

namespace {

using rill::kpl::record_format;
namespace pb = rill_test::kpl;
using rill::testing::base64_decode;
using rill::testing::base64_encode;

std::string md5(std::string_view s) {
  unsigned char d[16];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  MD5(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
#pragma GCC diagnostic pop
  return std::string(reinterpret_cast<char*>(d), 16);
}

std::string frame(std::string_view body) { return std::string("\xF3\x89\x9A\xC2", 4) + std::string(body) + md5(body); }

std::string hex_to_bytes(std::string_view hex) {
  std::string out;
  std::string digits;
  for (char c : hex)
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return out;
}

TEST(KplVectors, EveryVectorDecodesIntoExactlyItsJson) {
  RILL_REQUIRE_VECTOR("kpl/00.bin");
  int files = 0;
  std::size_t members = 0;
  for (const auto& entry : std::filesystem::directory_iterator(rill::testing::vectors_dir() / "kpl")) {
    if (entry.path().extension() != ".bin") continue;
    ++files;
    SCOPED_TRACE(entry.path().string());
    std::string bin = rill::testing::read_file(entry.path());
    auto json_path = entry.path();
    json_path.replace_extension(".json");
    auto expected = nlohmann::json::parse(rill::testing::read_file(json_path));
    std::string outer_pk = expected["partitionKey"].get<std::string>();
    auto got = rill::kpl::deaggregate(bin, outer_pk);
    ASSERT_EQ(got.format, record_format::aggregated) << got.detail;
    ASSERT_EQ(got.records.size(), expected["records"].size());
    for (std::size_t i = 0; i < got.records.size(); ++i) {
      const auto& e = expected["records"][i];
      const auto& u = got.records[i];
      EXPECT_EQ(u.partition_key, e["partitionKey"].get<std::string>()) << i;
      if (e["explicitHashKey"].is_null()) {
        EXPECT_FALSE(u.explicit_hash_key.has_value()) << i;
      } else {
        ASSERT_TRUE(u.explicit_hash_key.has_value()) << i;
        EXPECT_EQ(*u.explicit_hash_key, e["explicitHashKey"].get<std::string>()) << i;
      }
      EXPECT_EQ(u.sub_sequence_number, e["subSequenceNumber"].get<std::uint64_t>()) << i;
      EXPECT_EQ(u.data, base64_decode(e["data"].get<std::string>())) << i;
      EXPECT_TRUE(u.aggregated);
    }
    members += got.records.size();

    // Re-encoding the same user records gives back the same bytes (the same
    // key-table order, field order and MD5) as aws-kinesis-agg wrote.
    rill::kpl::aggregated_record_builder b;
    for (const auto& u : got.records) b.add(u.partition_key, u.explicit_hash_key, u.data);
    EXPECT_EQ(b.size(), bin.size());
    EXPECT_TRUE(b.serialize() == bin) << "re-encoding differs";
  }
  EXPECT_GE(files, 6);
  std::printf("[ VECTORS  ] %d files, %zu user records\n", files, members);
}

TEST(KplCodec, ReferenceExampleByteForByte) {
  // kpl-kcl.md §1.9: three user records, PKs "a","b", 48 bytes.
  std::string expected = hex_to_bytes(
      "f3 89 9a c2 0a 01 61 0a 01 62 1a 05 08 00 1a 01 78 1a 06 08 01 1a 02 79 7a 1a 05 08 00 1a 01 21"
      "32 d1 6c b2 7a 20 b7 ae e9 9c c5 47 5b d3 9b f3");
  ASSERT_EQ(expected.size(), 48u);
  rill::kpl::aggregated_record_builder b;
  b.add("a", std::nullopt, "x");
  b.add("b", std::nullopt, "yz");
  EXPECT_EQ(b.size_if_added("a", std::nullopt, "!"), 48u);
  b.add("a", std::nullopt, "!");
  EXPECT_EQ(b.size(), 48u);
  EXPECT_EQ(b.serialize(), expected);

  rill::record outer;
  outer.data = expected;
  outer.partition_key = "a";
  outer.sequence_number = rill::sequence_number(1700000000, 3, 42, 1700000001);
  outer.approximate_arrival_timestamp = rill::timestamp(std::chrono::milliseconds(1700000001234));
  auto got = rill::kpl::deaggregate(outer);
  ASSERT_EQ(got.format, record_format::aggregated);
  ASSERT_EQ(got.records.size(), 3u);
  const char* pks[] = {"a", "b", "a"};
  const char* data[] = {"x", "yz", "!"};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got.records[i].partition_key, pks[i]);
    EXPECT_EQ(got.records[i].data, data[i]);
    EXPECT_EQ(got.records[i].sub_sequence_number, i);
    EXPECT_EQ(got.records[i].sequence_number, outer.sequence_number);
    EXPECT_EQ(got.records[i].approximate_arrival_timestamp, outer.approximate_arrival_timestamp);
    EXPECT_FALSE(got.records[i].explicit_hash_key.has_value());
  }
}

TEST(KplDecode, NotAggregatedAndBrokenRecordsComeBackRawAndSaySo) {
  std::string good = hex_to_bytes(
      "f3 89 9a c2 0a 01 61 0a 01 62 1a 05 08 00 1a 01 78 1a 06 08 01 1a 02 79 7a 1a 05 08 00 1a 01 21"
      "32 d1 6c b2 7a 20 b7 ae e9 9c c5 47 5b d3 9b f3");
  auto expect_raw = [](std::string_view bytes, record_format f) {
    auto got = rill::kpl::deaggregate(bytes, "outer-pk");
    EXPECT_EQ(got.format, f) << rill::kpl::to_string(got.format);
    ASSERT_EQ(got.records.size(), 1u);
    EXPECT_EQ(got.records[0].data, bytes);
    EXPECT_EQ(got.records[0].partition_key, "outer-pk");
    EXPECT_EQ(got.records[0].sub_sequence_number, 0u);
    EXPECT_FALSE(got.records[0].aggregated);
    if (f != record_format::aggregated) {
      EXPECT_FALSE(got.detail.empty());
    }
  };
  expect_raw("plain text", record_format::not_aggregated);
  expect_raw("", record_format::not_aggregated);
  expect_raw(good.substr(0, 19), record_format::not_aggregated);
  expect_raw(good.substr(0, 20), record_format::not_aggregated);  // no body at all (KCL: > 16 after magic)
  std::string flipped = good;
  flipped[10] ^= 0x01;
  expect_raw(flipped, record_format::checksum_mismatch);
  std::string bad_trailer = good;
  bad_trailer.back() ^= 0x80;
  expect_raw(bad_trailer, record_format::checksum_mismatch);
  // A Record without data (field 3): required, so the protobuf is invalid.
  expect_raw(frame(hex_to_bytes("0a 01 61 1a 02 08 00")), record_format::invalid_protobuf);
  // Without partition_key_index.
  expect_raw(frame(hex_to_bytes("0a 01 61 1a 03 1a 01 78")), record_format::invalid_protobuf);
  // Index outside the table.
  expect_raw(frame(hex_to_bytes("0a 01 61 1a 05 08 01 1a 01 78")), record_format::invalid_protobuf);
  expect_raw(frame(hex_to_bytes("0a 01 61 1a 07 08 00 10 00 1a 01 78")), record_format::invalid_protobuf);
  // Truncated length.
  expect_raw(frame(hex_to_bytes("0a 05 61")), record_format::invalid_protobuf);
  // A tag without its required key.
  expect_raw(frame(hex_to_bytes("0a 01 61 1a 09 08 00 1a 01 78 22 02 12 00")), record_format::invalid_protobuf);
  // An empty data field is present (valid), unknown fields are skipped.
  auto ok =
      rill::kpl::deaggregate(frame(hex_to_bytes("0a 01 61 1a 04 08 00 1a 00 28 07 1a 06 08 00 1a 00 30 01")), "outer");
  ASSERT_EQ(ok.format, record_format::aggregated) << ok.detail;
  ASSERT_EQ(ok.records.size(), 2u);  // the second Record carries an unknown field 6
  EXPECT_EQ(ok.records[0].data, "");
  EXPECT_EQ(ok.records[1].sub_sequence_number, 1u);
  EXPECT_TRUE(rill::kpl::has_magic(good));
  EXPECT_FALSE(rill::kpl::has_magic(good.substr(0, 20)));
}

TEST(KplDecode, MembersOutsideTheShardRangeAreReported) {
  // Members routed by EHK at both ends of the key space and one by MD5("a").
  rill::kpl::aggregated_record_builder b;
  b.add("p0", std::string_view("0"), "low");
  b.add("a", std::nullopt, "md5-of-a");  // 16955237001963240173058271559858726497
  b.add("p2", std::string_view("340282366920938463463374607431768211455"), "high");
  b.add("p3", std::string_view("not-a-number"), "bad ehk");
  std::string bytes = b.serialize();
  rill::record r;
  r.data = bytes;
  r.partition_key = "a";
  rill::hash_key_range lower_half{rill::hash_key(0), rill::hash_key(rill::hash_key::max().value() / 2)};
  auto got = rill::kpl::deaggregate(r, lower_half);
  ASSERT_EQ(got.format, record_format::aggregated);
  ASSERT_EQ(got.records.size(), 2u);
  EXPECT_EQ(got.records[0].data, "low");
  EXPECT_EQ(got.records[1].data, "md5-of-a");
  EXPECT_EQ(got.records[1].sub_sequence_number, 1u);
  ASSERT_EQ(got.out_of_range.size(), 2u);
  EXPECT_EQ(got.out_of_range[0].data, "high");
  EXPECT_EQ(got.out_of_range[0].sub_sequence_number, 2u);
  EXPECT_EQ(got.out_of_range[1].data, "bad ehk");
  auto all = rill::kpl::deaggregate(r);
  EXPECT_EQ(all.records.size(), 4u);
  EXPECT_TRUE(all.out_of_range.empty());
  EXPECT_EQ(*all.records[1].effective_hash_key(), rill::hash_key::of_partition_key("a"));
}

// --- libprotobuf cross-check ------------------------------------------------

struct random_member {
  std::string pk;
  std::optional<std::string> ehk;
  std::string data;
};

std::vector<random_member> random_members(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> count(0, 40);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<random_member> v(static_cast<std::size_t>(count(rng)));
  for (auto& m : v) {
    m.pk = "pk-" + std::to_string(rng() % 12);
    if (rng() % 3 == 0) m.pk += std::string(rng() % 300, 'k');  // long keys: 2-byte varint lengths
    if (rng() % 2) m.ehk = std::to_string(rng() % 7) + std::to_string(rng());
    std::size_t len = rng() % 8 == 0 ? rng() % 20000 : rng() % 200;
    m.data.resize(len);
    for (auto& c : m.data) c = static_cast<char>(byte(rng));
  }
  return v;
}

TEST(KplCodec, HandWrittenEncoderAgreesWithLibprotobuf) {
  std::mt19937_64 rng(rill::testing::test_seed(20261130));
  for (int iter = 0; iter < 300; ++iter) {
    auto members = random_members(rng);
    rill::kpl::aggregated_record_builder b;
    pb::AggregatedRecord expected;
    std::map<std::string, int> pk_idx, ehk_idx;
    for (const auto& m : members) {
      b.add(m.pk, m.ehk ? std::optional<std::string_view>(*m.ehk) : std::nullopt, m.data);
      auto [pit, pnew] = pk_idx.try_emplace(m.pk, static_cast<int>(pk_idx.size()));
      if (pnew) expected.add_partition_key_table(m.pk);
      auto* rec = expected.add_records();
      rec->set_partition_key_index(static_cast<std::uint64_t>(pit->second));
      if (m.ehk) {
        auto [eit, enew] = ehk_idx.try_emplace(*m.ehk, static_cast<int>(ehk_idx.size()));
        if (enew) expected.add_explicit_hash_key_table(*m.ehk);
        rec->set_explicit_hash_key_index(static_cast<std::uint64_t>(eit->second));
      }
      rec->set_data(m.data);
    }
    std::string want;
    ASSERT_TRUE(expected.SerializeToString(&want));
    // Encoder → libprotobuf: identical bytes, parsed back into the same message.
    ASSERT_EQ(b.serialize_protobuf(), want) << "iteration " << iter;
    std::string framed = b.serialize();
    ASSERT_EQ(framed, frame(want));
    ASSERT_EQ(b.size(), framed.size());
    pb::AggregatedRecord parsed;
    ASSERT_TRUE(parsed.ParseFromString(framed.substr(4, framed.size() - 20)));
    ASSERT_EQ(parsed.records_size(), static_cast<int>(members.size()));
  }
}

TEST(KplCodec, HandWrittenDecoderAgreesWithLibprotobuf) {
  // libprotobuf → decoder, including what rill never writes: tags, unknown
  // fields, records listed before the key tables, repeated scalars.
  std::mt19937_64 rng(rill::testing::test_seed(77));
  for (int iter = 0; iter < 300; ++iter) {
    auto members = random_members(rng);
    pb::AggregatedRecord msg;
    int npk = 1 + static_cast<int>(rng() % 5);
    int nehk = static_cast<int>(rng() % 4);
    for (int i = 0; i < npk; ++i) msg.add_partition_key_table("k" + std::to_string(rng()));
    for (int i = 0; i < nehk; ++i) msg.add_explicit_hash_key_table(std::to_string(rng()));
    for (const auto& m : members) {
      auto* rec = msg.add_records();
      rec->set_partition_key_index(rng() % static_cast<std::uint64_t>(npk));
      if (nehk > 0 && rng() % 2) rec->set_explicit_hash_key_index(rng() % static_cast<std::uint64_t>(nehk));
      rec->set_data(m.data);
      if (rng() % 5 == 0) {
        auto* t = rec->add_tags();
        t->set_key("tag");
        if (rng() % 2) t->set_value("v");
      }
    }
    std::string body;
    ASSERT_TRUE(msg.SerializeToString(&body));
    if (iter % 3 == 1) {
      // Records first, then the tables: still a valid message.
      pb::AggregatedRecord records_only;
      *records_only.mutable_records() = msg.records();
      pb::AggregatedRecord tables_only = msg;
      tables_only.clear_records();
      body = records_only.SerializeAsString() + tables_only.SerializeAsString();
    }
    if (iter % 3 == 2) body += hex_to_bytes("f8 01 05 25 01 02 03 04");  // unknown fields 31 (varint), 4 (fixed32)
    std::string framed = frame(body);
    auto got = rill::kpl::deaggregate(framed, "outer");
    pb::AggregatedRecord check;
    ASSERT_TRUE(check.ParseFromString(body));
    ASSERT_EQ(got.format, record_format::aggregated) << got.detail << " iteration " << iter;
    ASSERT_EQ(got.records.size(), static_cast<std::size_t>(check.records_size()));
    for (int i = 0; i < check.records_size(); ++i) {
      const auto& r = check.records(i);
      const auto& u = got.records[static_cast<std::size_t>(i)];
      EXPECT_EQ(u.partition_key, check.partition_key_table(static_cast<int>(r.partition_key_index())));
      EXPECT_EQ(u.explicit_hash_key.has_value(), r.has_explicit_hash_key_index());
      if (r.has_explicit_hash_key_index()) {
        EXPECT_EQ(*u.explicit_hash_key, check.explicit_hash_key_table(static_cast<int>(r.explicit_hash_key_index())));
      }
      EXPECT_EQ(u.data, r.data());
      EXPECT_EQ(u.sub_sequence_number, static_cast<std::uint64_t>(i));
    }
  }
}

// What libprotobuf (plus the index checks every deaggregator does) makes of a body.
bool libprotobuf_accepts(const std::string& body, std::size_t* members) {
  // Mutated keys are not UTF-8; libprotobuf logs (and accepts) them: keep the log quiet.
  static auto* quiet =
      google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  (void)quiet;
  pb::AggregatedRecord m;
  if (!m.ParseFromString(body)) return false;
  for (const auto& r : m.records()) {
    if (r.partition_key_index() >= static_cast<std::uint64_t>(m.partition_key_table_size())) return false;
    if (r.has_explicit_hash_key_index() &&
        r.explicit_hash_key_index() >= static_cast<std::uint64_t>(m.explicit_hash_key_table_size()))
      return false;
  }
  *members = static_cast<std::size_t>(m.records_size());
  return true;
}

TEST(KplDecode, SeededMutationsNeverCrashAndAgreeWithLibprotobuf) {
  std::mt19937_64 rng(rill::testing::test_seed(4242));
  std::vector<std::string> seeds;
  for (int i = 0; i < 8; ++i) {
    auto members = random_members(rng);
    rill::kpl::aggregated_record_builder b;
    for (auto& m : members) {
      if (m.data.size() > 64) m.data.resize(64);  // the builder keeps views: truncate in place
      b.add(m.pk, m.ehk ? std::optional<std::string_view>(*m.ehk) : std::nullopt, m.data);
    }
    seeds.push_back(b.serialize_protobuf());
  }
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string body = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 5) {
        case 0:
          if (!body.empty()) body[rng() % body.size()] = static_cast<char>(rng());
          break;
        case 1:
          if (!body.empty()) body[rng() % body.size()] ^= static_cast<char>(1u << (rng() % 8));
          break;
        case 2:
          if (!body.empty()) body.resize(rng() % body.size());
          break;
        case 3: body.insert(rng() % (body.size() + 1), 1, static_cast<char>(rng())); break;
        default:
          if (!body.empty()) body.erase(rng() % body.size(), 1 + rng() % 8);
          break;
      }
    }
    // Heap copies sized exactly, so that ASan catches any read past the end.
    std::string framed = frame(body);
    std::unique_ptr<char[]> exact(new char[framed.size()]);
    std::memcpy(exact.get(), framed.data(), framed.size());
    auto got = rill::kpl::deaggregate(std::string_view(exact.get(), framed.size()), "outer");
    std::size_t members = 0;
    bool pb_ok = libprotobuf_accepts(body, &members);
    if (body.empty()) {
      ASSERT_EQ(got.format, record_format::not_aggregated);
      continue;
    }
    ASSERT_EQ(got.format == record_format::aggregated, pb_ok) << "iteration " << iter << ": " << got.detail;
    if (pb_ok) {
      ASSERT_EQ(got.records.size(), members);
      ++accepted;
    } else {
      ASSERT_EQ(got.records.size(), 1u);
      ++refused;
    }
    // And the raw mutated bytes with the original trailer: must not crash.
    std::string unframed = std::string("\xF3\x89\x9A\xC2", 4) + body + std::string(16, 'x');
    (void)rill::kpl::deaggregate(unframed, "outer");
  }
  std::printf("[ MUTATION ] %d accepted, %d refused\n", accepted, refused);
  EXPECT_GT(accepted, 100);
  EXPECT_GT(refused, 100);
}

// --- The official Node deaggregator on what rill encodes --------------------

TEST(KplNode, AwsKinesisAggDecodesWhatRillEncodes) {
  std::filesystem::path dir = RILL_PRODUCER_NODE_DIR;
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
  if (!std::filesystem::exists(dir / "node_modules" / "aws-kinesis-agg"))
    GTEST_SKIP() << "aws-kinesis-agg is not installed: run `npm install` in " << dir;
  std::mt19937_64 rng(rill::testing::test_seed(9001));
  std::vector<std::vector<random_member>> inputs;
  nlohmann::json in = nlohmann::json::array();
  for (int i = 0; i < 40; ++i) {
    auto members = random_members(rng);
    if (members.empty()) continue;
    if (i % 4 == 0) members[0].pk = "pk-é漢-" + std::to_string(i);  // non-ASCII keys
    rill::kpl::aggregated_record_builder b;
    for (const auto& m : members) b.add(m.pk, m.ehk ? std::optional<std::string_view>(*m.ehk) : std::nullopt, m.data);
    in.push_back({{"partitionKey", "a"}, {"data", base64_encode(b.serialize())}});
    inputs.push_back(std::move(members));
  }
  auto tmp = std::filesystem::temp_directory_path() / ("rill_kpl_node_" + std::to_string(rng()) + ".json");
  {
    std::ofstream f(tmp);
    f << in.dump();
  }
  std::string cmd = "node " + (dir / "deagg.js").string() + " " + tmp.string();
  std::string out;
  {
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[65536];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ASSERT_EQ(pclose(p), 0) << "node failed: " << out.substr(0, 500);
  }
  std::filesystem::remove(tmp);
  auto got = nlohmann::json::parse(out);
  ASSERT_EQ(got.size(), inputs.size());
  std::size_t checked = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(got[i].size(), inputs[i].size()) << i;
    for (std::size_t j = 0; j < inputs[i].size(); ++j) {
      const auto& g = got[i][j];
      EXPECT_EQ(g["partitionKey"].get<std::string>(), inputs[i][j].pk);
      EXPECT_EQ(g["subSequenceNumber"].get<std::size_t>(), j);
      EXPECT_EQ(base64_decode(g["data"].get<std::string>()), inputs[i][j].data);
      // aws-kinesis-agg reads an absent index as 0, so only present keys are compared.
      if (inputs[i][j].ehk) {
        EXPECT_EQ(g["explicitHashKey"].get<std::string>(), *inputs[i][j].ehk);
      }
      ++checked;
    }
  }
  std::printf("[ NODE     ] aws-kinesis-agg deaggregated %zu records, %zu user records\n", inputs.size(), checked);
}

}  // namespace
