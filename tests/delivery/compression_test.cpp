// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Every compressed object decompresses with the standard tool for its format:
// gzip -d, unzip, zstd -d, and python-snappy (Debian's python3-snappy) for the
// two Snappy framings — decoders other than rill's own. A test whose tool is
// absent skips with a message (tools/lib/deps.sh lists them; CI installs them).
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>

#include "delivery/compression.hpp"
#include "helpers.hpp"
#include "seed.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

// Runs a shell command; returns its exit status and stdout.
std::pair<int, std::string> run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return {-1, out};
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool have(const std::string& tool) { return run("command -v " + tool + " >/dev/null 2>&1").first == 0; }

// A python3 that can import snappy: Debian's /usr/bin/python3 first (python3-snappy).
std::string snappy_python() {
  for (std::string py : {"/usr/bin/python3", "python3"})
    if (run(py + " -c 'import snappy, snappy.hadoop_snappy' >/dev/null 2>&1").first == 0) return py;
  return {};
}

std::string workload(std::uint64_t seed, std::size_t records) {
  std::mt19937_64 rng(seed);
  std::string out;
  for (std::size_t i = 0; i < records; ++i) {
    out += R"({"page":"/p/)" + std::to_string(rng() % 50) + R"(","user":)" + std::to_string(rng() % 100000) +
           R"(,"pad":")" + std::string(rng() % 200, static_cast<char>('a' + rng() % 26)) + "\"}\n";
  }
  return out;
}

struct written {
  std::string key;
  std::string body;
  std::filesystem::path path;
};

// Puts `data` as newline-split records through a stream with `format`; returns the one object.
written deliver(temp_dir& dir, const std::string& format, const std::string& data,
                std::optional<std::string> extension = std::nullopt, bool igzip = false) {
  auto clock = std::make_shared<manual_clock>();
  local_firehose f({.clock = clock, .s3_directory = dir.path, .random_seed = 3, .gzip_igzip = igzip});
  auto c = s3();
  c.compression_format = format;
  c.file_extension = extension;
  c.buffering_hints = hints(128, 900);
  auto created = f.create_delivery_stream({.delivery_stream_name = "z", .extended_s3_destination_configuration = c});
  EXPECT_TRUE(created.ok()) << created.error();
  std::vector<std::string> recs;
  for (std::size_t at = 0; at < data.size();) {
    auto end = data.find('\n', at);
    recs.push_back(data.substr(at, end - at + 1));
    at = end + 1;
  }
  for (std::size_t i = 0; i < recs.size(); i += 400) {
    std::vector<delivery::record> batch;
    for (std::size_t j = i; j < std::min(recs.size(), i + 400); ++j) batch.push_back({recs[j]});
    auto r = f.put_record_batch({.delivery_stream_name = "z", .records = batch});
    EXPECT_TRUE(r.ok() && r->failed_put_count == 0);
  }
  EXPECT_TRUE(f.flush("z").ok());
  auto tree = read_tree(dir.path / "bucket");
  EXPECT_EQ(tree.size(), 1u);
  if (tree.empty()) return {};
  return {tree.begin()->first, tree.begin()->second, dir.path / "bucket" / tree.begin()->first};
}

TEST(DeliveryCompression, GzipDecompressesWithGzip) {
  if (!have("gzip")) GTEST_SKIP() << "gzip is not installed (apt-get install gzip)";
  temp_dir dir;
  const auto data = workload(test_seed(11), 3000);
  auto obj = deliver(dir, "GZIP", data);
  EXPECT_TRUE(obj.key.ends_with(".gz")) << obj.key;
  auto [rc, out] = run("gzip -dc '" + obj.path.string() + "'");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, data);
  EXPECT_LT(obj.body.size(), data.size() / 2);
}

TEST(DeliveryCompression, IgzipOutputIsStandardGzip) {
  if (!have("gzip")) GTEST_SKIP() << "gzip is not installed (apt-get install gzip)";
  temp_dir dir;
  const auto data = workload(test_seed(17), 3000);
  auto obj = deliver(dir, "GZIP", data, std::nullopt, true);
  auto [rc, out] = run("gzip -dc '" + obj.path.string() + "'");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, data);
}

TEST(DeliveryCompression, ZipIsARealArchiveWithOneUuidNamedEntry) {
  if (!have("unzip")) GTEST_SKIP() << "unzip is not installed (apt-get install unzip)";
  temp_dir dir;
  const auto data = workload(test_seed(12), 3000);
  auto obj = deliver(dir, "ZIP", data);
  EXPECT_TRUE(obj.key.ends_with(".zip")) << obj.key;
  auto [trc, tout] = run("unzip -tq '" + obj.path.string() + "'");
  EXPECT_EQ(trc, 0) << tout;
  auto [lrc, listing] = run("unzip -Z1 '" + obj.path.string() + "'");
  EXPECT_EQ(lrc, 0);
  EXPECT_TRUE(std::regex_match(listing, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n")))
      << listing;
  auto [rc, out] = run("unzip -p '" + obj.path.string() + "'");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, data);
}

TEST(DeliveryCompression, ZstdDecompressesWithZstd) {
  if (!have("zstd")) GTEST_SKIP() << "zstd is not installed (apt-get install zstd)";
  temp_dir dir;
  const auto data = workload(test_seed(13), 3000);
  auto obj = deliver(dir, "ZSTD", data);
  EXPECT_TRUE(obj.key.ends_with(".zst")) << obj.key;
  auto [rc, out] = run("zstd -dcq '" + obj.path.string() + "'");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, data);
}

TEST(DeliveryCompression, SnappyJavaStreamDecodesWithPythonSnappy) {
  const auto py = snappy_python();
  if (py.empty()) GTEST_SKIP() << "python3 with the snappy module is not installed (apt-get install python3-snappy)";
  temp_dir dir;
  const auto data = workload(test_seed(14), 6000);  // > 32 KiB: several blocks
  auto obj = deliver(dir, "Snappy", data);
  EXPECT_TRUE(obj.key.ends_with(".snappy")) << obj.key;
  // The snappy-java stream: magic, version and compatible version (big-endian ints),
  // then [length][raw snappy block]; each block decoded by libsnappy through python.
  const std::string script =
      "import snappy,struct,sys\n"
      "b=open(sys.argv[1],'rb').read()\n"
      "assert b[:8]==b'\\x82SNAPPY\\x00', b[:8]\n"
      "assert struct.unpack('>ii',b[8:16])==(1,1)\n"
      "i=16;o=sys.stdout.buffer\n"
      "while i<len(b):\n"
      "  n=struct.unpack('>I',b[i:i+4])[0];o.write(snappy.uncompress(b[i+4:i+4+n]));i+=4+n\n";
  auto [rc, out] = run(py + " -c \"$(cat <<'PYEOF'\n" + script + "PYEOF\n)\" '" + obj.path.string() + "'");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, data);
}

TEST(DeliveryCompression, HadoopSnappyDecodesWithPythonSnappysHadoopReader) {
  const auto py = snappy_python();
  if (py.empty()) GTEST_SKIP() << "python3 with the snappy module is not installed (apt-get install python3-snappy)";
  temp_dir dir;
  const auto data = workload(test_seed(15), 6000);  // > 256 KiB: several blocks
  ASSERT_GT(data.size(), 256u * 1024);
  auto obj = deliver(dir, "HADOOP_SNAPPY", data);
  EXPECT_TRUE(obj.key.ends_with(".snappy")) << obj.key;  // AWS delivers .snappy, not .hsnappy
  auto [rc, out] = run(py +
                       " -c 'import sys, snappy.hadoop_snappy as h; "
                       "h.stream_decompress(open(sys.argv[1], \"rb\"), sys.stdout.buffer)' '" +
                       obj.path.string() + "'");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, data);
}

TEST(DeliveryCompression, FileExtensionReplacesTheCompressionExtension) {
  temp_dir dir;
  const auto data = workload(1, 10);
  auto obj = deliver(dir, "GZIP", data, ".custom.log");
  EXPECT_TRUE(obj.key.ends_with(".custom.log")) << obj.key;
  auto raw = delivery::decompress(delivery::compression::gzip, obj.body);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, data);
}

TEST(DeliveryCompression, OwnDecodersRoundTripRandomData) {
  std::mt19937_64 rng(test_seed(16));
  for (auto c :
       {delivery::compression::gzip, delivery::compression::zip, delivery::compression::snappy,
        delivery::compression::hadoop_snappy, delivery::compression::zstd, delivery::compression::uncompressed}) {
    for (std::size_t size : {0ul, 1ul, 1000ul, 300'000ul}) {
      std::string data(size, '\0');
      for (auto& ch : data) ch = static_cast<char>(rng() % 7);
      std::string out;
      RILL_ASSERT_OK(delivery::compress(c, data, {}, out));
      auto back = delivery::decompress(c, out);
      ASSERT_TRUE(back.ok()) << delivery::to_string(c) << " " << size << ": " << back.error();
      EXPECT_EQ(*back, data) << delivery::to_string(c);
      if (c == delivery::compression::gzip) {
        for (int level = 0; level <= 3; ++level) {
          std::string packed;
          RILL_ASSERT_OK(delivery::compress(c, data, {.gzip_level = level, .igzip = true}, packed));
          auto again = delivery::decompress(c, packed);
          ASSERT_TRUE(again.ok()) << "igzip level " << level << ": " << again.error();
          EXPECT_EQ(*again, data);
        }
      }
    }
  }
}

TEST(DeliveryCompression, EnumSpellingsAreCaseSensitive) {
  for (const char* bad : {"SNAPPY", "gzip", "Zip", "hadoop_snappy", ""}) {
    temp_dir dir;
    local_firehose f({.clock = std::make_shared<manual_clock>(), .s3_directory = dir.path});
    auto c = s3();
    c.compression_format = bad;
    auto r = f.create_delivery_stream({.delivery_stream_name = "z", .extended_s3_destination_configuration = c});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), error_code::validation_exception);
    EXPECT_NE(r.error().message().find("Member must satisfy enum value set: [ZIP, HADOOP_SNAPPY, Snappy, GZIP, "
                                       "UNCOMPRESSED"),
              std::string::npos)
        << r.error();
  }
}

}  // namespace
}  // namespace rill::testing
