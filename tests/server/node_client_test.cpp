// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Real clients against a server in this process: tests/server/node/kinesis_sdk_test.mjs
// (the AWS SDK for JavaScript v3 over HTTP/1.1 and HTTP/2) and tests/server/go (the
// AWS SDK for Go v2 from Debian).
// Skips when node or the npm packages are missing (tests/server/node/setup.sh
// installs them; tools/test runs npm ci there).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "rill/engine.hpp"
#include "rill/firehose.hpp"
#include "rill/server.hpp"

namespace rill::testing {
namespace {

TEST(RealClients, AwsSdkForJavaScriptV3OverHttp1AndHttp2) {
  const std::filesystem::path dir = RILL_SERVER_NODE_DIR;
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
  if (!std::filesystem::exists(dir / "node_modules" / "@aws-sdk" / "client-kinesis")) {
    GTEST_SKIP() << "npm packages missing: run " << (dir / "setup.sh").string();
  }
  rill::engine engine;  // the system clock: the SDK signs with real time
  auto srv = server::start(engine, {.io_threads = 2});
  ASSERT_TRUE(srv.ok()) << srv.error();
  std::string cmd = "cd '" + dir.string() + "' && RILL_ENDPOINT=http://127.0.0.1:" + std::to_string((*srv)->port()) +
                    " NODE_NO_WARNINGS=1 node kinesis_sdk_test.mjs";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc)) << "node did not exit normally";
  EXPECT_EQ(WEXITSTATUS(rc), 0) << "the SDK test failed; its output is above";
}

TEST(RealClients, AwsSdkForJavaScriptV3SubscribeToShardOverHttp2AndHttp1) {
  const std::filesystem::path dir = RILL_SERVER_NODE_DIR;
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
  if (!std::filesystem::exists(dir / "node_modules" / "@aws-sdk" / "client-kinesis")) {
    GTEST_SKIP() << "npm packages missing: run " << (dir / "setup.sh").string();
  }
  rill::engine engine;  // the system clock: the SDK signs with real time
  auto srv = server::start(engine, {.io_threads = 2});
  ASSERT_TRUE(srv.ok()) << srv.error();
  std::string cmd = "cd '" + dir.string() + "' && RILL_ENDPOINT=http://127.0.0.1:" + std::to_string((*srv)->port()) +
                    " NODE_NO_WARNINGS=1 timeout 120 node subscribe_sdk_test.mjs";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc)) << "node did not exit normally";
  EXPECT_EQ(WEXITSTATUS(rc), 0) << "the SDK test failed; its output is above";
}

TEST(RealClients, AwsSdkForJavaScriptV3Firehose) {
  const std::filesystem::path dir = RILL_SERVER_NODE_DIR;
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
  if (!std::filesystem::exists(dir / "node_modules" / "@aws-sdk" / "client-firehose")) {
    GTEST_SKIP() << "npm packages missing: run " << (dir / "setup.sh").string();
  }
  const auto s3 = std::filesystem::temp_directory_path() / ("rill_fh_node_" + std::to_string(::getpid()));
  std::filesystem::remove_all(s3);
  rill::engine engine;
  local_firehose fh({.clock = std::make_shared<system_clock>(), .s3_directory = s3});
  auto srv = server::start(engine, {.io_threads = 2, .firehose = &fh});
  ASSERT_TRUE(srv.ok()) << srv.error();
  std::string cmd = "cd '" + dir.string() + "' && RILL_ENDPOINT=http://127.0.0.1:" + std::to_string((*srv)->port()) +
                    " RILL_S3_DIR='" + s3.string() + "' NODE_NO_WARNINGS=1 timeout 60 node firehose_sdk_test.mjs";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc)) << "node did not exit normally";
  EXPECT_EQ(WEXITSTATUS(rc), 0) << "the SDK test failed; its output is above";
  (*srv)->stop();
  EXPECT_TRUE(fh.shutdown().ok());
  std::filesystem::remove_all(s3);
}

TEST(RealClients, AwsSdkForGoV2FromDebian) {
  const std::filesystem::path client = RILL_SERVER_GO_CLIENT;
  if (!std::filesystem::exists(client)) {
    GTEST_SKIP() << "the Go client was not built: install golang-go and golang-github-aws-aws-sdk-go-v2-dev "
                    "(Debian), then reconfigure";
  }
  rill::engine engine;
  auto srv = server::start(engine, {.io_threads = 2});
  ASSERT_TRUE(srv.ok()) << srv.error();
  std::string cmd = "'" + client.string() + "' http://127.0.0.1:" + std::to_string((*srv)->port());
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0) << "the Go SDK client failed; its output is above";
}

}  // namespace
}  // namespace rill::testing
