// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The POSIX file system and the fault-injecting one.
#include <gtest/gtest.h>

#include <algorithm>

#include "rill/file_system.hpp"
#include "storage/fault_file_system.hpp"
#include "temp_dir.hpp"

namespace rill {
namespace {

TEST(PosixFileSystem, AppendReadSyncRenameRemoveList) {
  testing::temp_dir dir;
  auto fs = posix_file_system();
  const std::string a = dir.path() + "/a", b = dir.path() + "/b";
  {
    auto f = fs->open_append(a);
    ASSERT_TRUE(f.ok()) << f.error();
    ASSERT_TRUE((*f)->append("hello ").ok());
    ASSERT_TRUE((*f)->append("world").ok());
    ASSERT_TRUE((*f)->sync().ok());
    EXPECT_EQ((*f)->size(), 11u);
  }
  {
    auto f = fs->open_append(a);  // appends after what is there
    ASSERT_TRUE(f.ok());
    EXPECT_EQ((*f)->size(), 11u);
    ASSERT_TRUE((*f)->append("!").ok());
  }
  auto r = fs->open_read(a);
  ASSERT_TRUE(r.ok());
  char buf[32];
  auto n = (*r)->read(6, 32, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "world!");
  EXPECT_EQ(*(*r)->size(), 12u);
  EXPECT_EQ(*read_whole_file(*fs, a), "hello world!");
  ASSERT_TRUE(fs->truncate(a, 5).ok());
  EXPECT_EQ(*fs->file_size(a), 5u);
  ASSERT_TRUE(fs->rename(a, b).ok());
  EXPECT_FALSE(fs->exists(a));
  EXPECT_TRUE(fs->exists(b));
  ASSERT_TRUE(fs->sync_dir(dir.path()).ok());
  ASSERT_TRUE(write_file_atomically(*fs, dir.path() + "/c", "contents").ok());
  auto names = fs->list_dir(dir.path());
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"b", "c"}));
  ASSERT_TRUE(fs->remove(b).ok());
  ASSERT_TRUE(fs->remove(b).ok());  // missing: fine
  ASSERT_TRUE(fs->create_dirs(dir.path() + "/x/y/z").ok());
  ASSERT_TRUE(fs->remove_all(dir.path() + "/x").ok());
  EXPECT_FALSE(fs->exists(dir.path() + "/x"));
}

TEST(PosixFileSystem, ErrorsNameTheOperationAndPath) {
  testing::temp_dir dir;
  auto fs = posix_file_system();
  auto r = fs->open_read(dir.path() + "/missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), error_code::internal_failure);
  EXPECT_NE(r.error().message().find("/missing"), std::string::npos);
  EXPECT_NE(r.error().message().find("No such file"), std::string::npos);
  EXPECT_FALSE(fs->list_dir(dir.path() + "/nope").ok());
  EXPECT_FALSE(fs->file_size(dir.path() + "/nope").ok());
}

TEST(PosixFileSystem, LockFileIsExclusiveUntilReleased) {
  testing::temp_dir dir;
  auto fs = posix_file_system();
  const std::string path = dir.path() + "/LOCK";
  auto first = fs->lock_file(path);
  ASSERT_TRUE(first.ok()) << first.error();
  auto second = fs->lock_file(path);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message().find("locked by another process"), std::string::npos);
  first->reset();
  EXPECT_TRUE(fs->lock_file(path).ok());
}

TEST(FaultFileSystem, FailsChosenOperationsWithChosenErrno) {
  testing::temp_dir dir;
  auto ffs = std::make_shared<fault_file_system>();
  ffs->inject({.op = fs_op::append, .err = ENOSPC, .after = 1, .times = 2});
  auto f = ffs->open_append(dir.path() + "/f");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE((*f)->append("one").ok());  // let through
  auto e1 = (*f)->append("two");
  ASSERT_FALSE(e1.ok());
  EXPECT_NE(e1.error().message().find("No space left on device"), std::string::npos);
  EXPECT_FALSE((*f)->append("three").ok());
  EXPECT_TRUE((*f)->append("four").ok());  // two failures, then fine
  EXPECT_EQ(ffs->injected(), 2u);
  ffs->inject({.op = fs_op::sync, .err = EIO, .times = 0});
  EXPECT_FALSE((*f)->sync().ok());
  EXPECT_FALSE((*f)->sync().ok());
  ffs->clear();
  EXPECT_TRUE((*f)->sync().ok());
  EXPECT_EQ(*read_whole_file(*ffs, dir.path() + "/f"), "onefour");
}

TEST(FaultFileSystem, ShortWriteLeavesHalfTheBytes) {
  testing::temp_dir dir;
  auto ffs = std::make_shared<fault_file_system>();
  auto f = ffs->open_append(dir.path() + "/f");
  ASSERT_TRUE(f.ok());
  ffs->inject({.op = fs_op::append, .short_write = true});
  EXPECT_FALSE((*f)->append("12345678").ok());
  EXPECT_EQ(*read_whole_file(*ffs, dir.path() + "/f"), "1234");
}

TEST(FaultFileSystem, PowerCutDropsWhatWasNotSynced) {
  testing::temp_dir dir;
  auto ffs = std::make_shared<fault_file_system>();
  {
    auto f = ffs->open_append(dir.path() + "/f");
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->append("durable").ok());
    ASSERT_TRUE((*f)->sync().ok());
    ASSERT_TRUE((*f)->append("-lost").ok());
    auto g = ffs->open_append(dir.path() + "/never-synced");
    ASSERT_TRUE((*g)->append("gone").ok());
  }
  ASSERT_TRUE(ffs->drop_unsynced().ok());
  EXPECT_EQ(*read_whole_file(*ffs, dir.path() + "/f"), "durable");
  EXPECT_EQ(*read_whole_file(*ffs, dir.path() + "/never-synced"), "");
}

TEST(FaultFileSystem, PathFilterAndOtherOperations) {
  testing::temp_dir dir;
  auto ffs = std::make_shared<fault_file_system>();
  ffs->inject({.op = fs_op::open, .err = EACCES, .times = 0, .path_contains = ".idx"});
  EXPECT_FALSE(ffs->open_append(dir.path() + "/x.idx").ok());
  EXPECT_TRUE(ffs->open_append(dir.path() + "/x.seg").ok());
  ffs->inject({.op = fs_op::rename});
  EXPECT_FALSE(ffs->rename(dir.path() + "/x.seg", dir.path() + "/y.seg").ok());
  ffs->inject({.op = fs_op::sync_dir});
  EXPECT_FALSE(ffs->sync_dir(dir.path()).ok());
  ffs->inject({.op = fs_op::truncate});
  EXPECT_FALSE(ffs->truncate(dir.path() + "/x.seg", 0).ok());
  ffs->inject({.op = fs_op::read});
  auto r = ffs->open_read(dir.path() + "/x.seg");
  ASSERT_TRUE(r.ok());
  char c;
  EXPECT_FALSE((*r)->read(0, 1, &c).ok());
}

}  // namespace
}  // namespace rill
