// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Many threads of one process write the same leases through conditional
// writes: every applied write is counted exactly once (no lost update), for the
// memory store and for the file store (several store objects on one directory,
// as several workers of one process would have).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "rill/lease.hpp"

namespace rill::kcl {
namespace {

void hammer(const std::vector<std::shared_ptr<lease_store>>& stores, int threads, int applied_each) {
  {
    lease l;
    l.lease_key = "s1";
    l.checkpoint = extended_sequence_number::trim_horizon();
    ASSERT_TRUE(stores[0]->create_lease_if_not_exists(l));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto& store = *stores[static_cast<std::size_t>(t) % stores.size()];
      const std::string me = "t" + std::to_string(t);
      int applied = 0;
      while (applied < applied_each) {
        auto cur = store.get_lease("s1");
        if (!cur || !*cur) {
          ++failures;
          return;
        }
        lease l = **cur;
        auto r = store.take_lease(l, me);
        if (!r) {
          ++failures;
          return;
        }
        if (*r != write_status::applied) continue;
        ++applied;
        // The owner may checkpoint with the counter it just got.
        l.checkpoint = {std::to_string(l.lease_counter), 0};
        auto u = store.update_lease(l, me);
        if (u && *u == write_status::applied) ++applied;
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto final_lease = *stores[0]->get_lease("s1");
  ASSERT_TRUE(final_lease);
  // Each thread stops at applied_each or applied_each + 1.
  EXPECT_GE(final_lease->lease_counter, threads * applied_each);
  EXPECT_LE(final_lease->lease_counter, threads * (applied_each + 1));
  EXPECT_EQ(final_lease->checkpoint.valid(), true);
}

TEST(LeaseStoreConcurrency, MemoryStoreLosesNoUpdate) { hammer({make_memory_lease_store()}, 8, 200); }

TEST(LeaseStoreConcurrency, FileStoreObjectsOnOneDirectoryLoseNoUpdate) {
  const auto dir =
      (std::filesystem::temp_directory_path() / ("rill_lease_conc_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  std::vector<std::shared_ptr<lease_store>> stores;
  for (int i = 0; i < 3; ++i) stores.push_back(*make_file_lease_store(dir, {.sync = false}));
  hammer(stores, 6, 30);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rill::kcl
