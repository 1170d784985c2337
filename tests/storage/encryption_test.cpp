// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Encryption at rest in the file log: AES-256-GCM per batch, the key
// provider's KMS errors, associated data binding a batch to its stream and
// shard, and the memory log's flags.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "log_helpers.hpp"
#include "rill/encryption.hpp"
#include "rill/storage.hpp"
#include "temp_dir.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::read_all;
using testing::t0;
namespace stdfs = std::filesystem;

const std::string kSecret = "do-not-store-this-on-disk";

struct encrypted_fixture {
  testing::temp_dir dir;
  std::shared_ptr<test_key_provider> keys = std::make_shared<test_key_provider>("provider-secret");
  std::shared_ptr<storage> store;
  encrypted_fixture() { reopen(); }
  void reopen(std::shared_ptr<key_provider> k = nullptr) {
    store.reset();
    store = *open_file_storage({.directory = dir.path(), .keys = k ? k : keys});
  }
  std::string all_bytes() const {
    std::string out;
    for (const auto& e : stdfs::recursive_directory_iterator(dir.path())) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      out += ss.str();
    }
    return out;
  }
};

result<std::uint64_t> put(shard_log& log, const std::string& data, timestamp t = t0) {
  log_entry e{"partition", data};
  return log.append(std::span<const log_entry>(&e, 1), t);
}

TEST(Encryption, BatchesAreSealedOnDiskAndReadBackFlaggedEncrypted) {
  encrypted_fixture f;
  f.keys->add_key("arn:aws:kms:us-east-1:000000000000:key/k1");
  auto log = *f.store->create_log({"s", 1, shard_id(0)});
  ASSERT_TRUE(put(*log, "plain-before-" + kSecret).ok());
  log->set_encryption("arn:aws:kms:us-east-1:000000000000:key/k1");
  ASSERT_TRUE(put(*log, kSecret + "-1").ok());
  ASSERT_TRUE(put(*log, kSecret + "-2").ok());
  log->set_encryption("");
  ASSERT_TRUE(put(*log, "plain-after").ok());
  auto all = read_all(*log);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_FALSE(all[0].encrypted);
  EXPECT_TRUE(all[1].encrypted);
  EXPECT_EQ(all[1].data, kSecret + "-1");
  EXPECT_EQ(all[1].key, "partition");
  EXPECT_TRUE(all[2].encrypted);
  EXPECT_FALSE(all[3].encrypted);
  const std::string disk = f.all_bytes();
  EXPECT_EQ(disk.find(kSecret + "-1"), std::string::npos);
  EXPECT_EQ(disk.find(kSecret + "-2"), std::string::npos);
  EXPECT_NE(disk.find("plain-before-"), std::string::npos);  // the control: plain batches are plain
  log.reset();
  f.reopen();  // the same provider secret after a restart
  auto again = read_all(**f.store->open_log({"s", 1, shard_id(0)}));
  EXPECT_EQ(again, all);
}

TEST(Encryption, KeyProviderErrorsReachTheCallerAndNothingIsAppended) {
  encrypted_fixture f;
  auto log = *f.store->create_log({"s", 1, shard_id(0)});
  log->set_encryption("alias/missing");
  auto r = put(*log, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), error_code::kms_not_found_exception);
  EXPECT_EQ(log->end_offset(), 0u);
  f.keys->add_key("alias/k");
  log->set_encryption("alias/k");
  ASSERT_TRUE(put(*log, "sealed").ok());
  using st = test_key_provider::key_state;
  const std::pair<st, error_code> cases[] = {{st::disabled, error_code::kms_disabled_exception},
                                             {st::access_denied, error_code::kms_access_denied_exception},
                                             {st::pending_deletion, error_code::kms_invalid_state_exception}};
  for (auto [state, code] : cases) {
    f.keys->set_state("alias/k", state);
    auto w = put(*log, "y");
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.error().code(), code);
    log_read_stats s;
    EXPECT_TRUE(read_all(*log, 0, 100, 1 << 20, &s).empty());  // never garbage
    ASSERT_TRUE(s.failure.has_value());
    EXPECT_EQ(s.failure->code(), code);
  }
  EXPECT_EQ(log->end_offset(), 1u);
  f.keys->remove_key("alias/k");
  log_read_stats s;
  read_all(*log, 0, 100, 1 << 20, &s);
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_EQ(s.failure->code(), error_code::kms_not_found_exception);
}

TEST(Encryption, AWrongKeyOrABatchMovedToAnotherShardDoesNotDecrypt) {
  encrypted_fixture f;
  {
    auto a = *f.store->create_log({"s", 1, shard_id(0)});
    auto b = *f.store->create_log({"s", 1, shard_id(1)});
    a->set_encryption("alias/aws/kinesis");
    b->set_encryption("alias/aws/kinesis");
    ASSERT_TRUE(put(*a, "in shard 0").ok());
    ASSERT_TRUE(put(*b, "in shard 1").ok());
  }
  // The same provider key id, another secret: the key differs.
  f.reopen(std::make_shared<test_key_provider>("another-secret"));
  {
    log_read_stats s;
    read_all(**f.store->open_log({"s", 1, shard_id(0)}), 0, 10, 1 << 20, &s);
    ASSERT_TRUE(s.failure.has_value());
    EXPECT_NE(s.failure->message().find("cannot be decrypted"), std::string::npos) << *s.failure;
  }
  // Shard 1's segment copied over shard 0's: the associated data no longer matches.
  f.reopen();
  const std::string base = f.dir.path() + "/streams/s@1/";
  stdfs::copy_file(base + "0000000001/00000000000000000000.seg", base + "0000000000/00000000000000000000.seg",
                   stdfs::copy_options::overwrite_existing);
  log_read_stats s;
  EXPECT_TRUE(read_all(**f.store->open_log({"s", 1, shard_id(0)}), 0, 10, 1 << 20, &s).empty());
  ASSERT_TRUE(s.failure.has_value());
}

TEST(Encryption, WithoutAKeyProviderEncryptedAppendsFailWithKmsNotFound) {
  testing::temp_dir dir;
  auto store = *open_file_storage({.directory = dir.path()});
  auto log = *store->create_log({"s", 1, shard_id(0)});
  log->set_encryption("alias/aws/kinesis");
  auto r = put(*log, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), error_code::kms_not_found_exception);
}

TEST(Encryption, MemoryLogRemembersWhichRecordsWereAppendedEncrypted) {
  auto log = *make_memory_storage()->create_log({"s", 1, shard_id(0)});
  ASSERT_TRUE(put(*log, "a").ok());
  log->set_encryption("alias/aws/kinesis");
  ASSERT_TRUE(put(*log, "b").ok());
  ASSERT_TRUE(put(*log, "c").ok());
  log->set_encryption("");
  ASSERT_TRUE(put(*log, "d").ok());
  log->set_encryption("alias/aws/kinesis");
  auto all = read_all(*log);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_FALSE(all[0].encrypted);
  EXPECT_TRUE(all[1].encrypted);
  EXPECT_TRUE(all[2].encrypted);
  EXPECT_FALSE(all[3].encrypted);
}

TEST(Encryption, TestKeyProviderKeysAreStableAndDistinct) {
  test_key_provider a("s1"), b("s1"), c("s2");
  a.add_key("k");
  b.add_key("k");
  c.add_key("k");
  EXPECT_EQ(a.data_key("k")->size(), 32u);
  EXPECT_EQ(*a.data_key("k"), *b.data_key("k"));
  EXPECT_NE(*a.data_key("k"), *c.data_key("k"));
  EXPECT_NE(*a.data_key("k"), *a.data_key("alias/aws/kinesis"));
  EXPECT_EQ(a.data_key("nope").error().code(), error_code::kms_not_found_exception);
  EXPECT_EQ(a.calls(), 6u);
}

}  // namespace
}  // namespace rill
