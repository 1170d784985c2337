// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// result<T> and result<void>: reading the wrong side fails loudly, the same way.
#include <gtest/gtest.h>

#include <string>

#include "rill/error.hpp"

namespace rill {
namespace {

TEST(Result, ErrorOfASuccessfulVoidResultThrowsBadResultAccess) {
  const result<void> ok;
  ASSERT_TRUE(ok.ok());
  // Before: a made-up ResourceNotFoundException (reading an empty optional).
  EXPECT_THROW((void)ok.error(), bad_result_access);
  try {
    (void)ok.error();
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "error() of a successful rill::result");
  }
}

TEST(Result, ErrorOfASuccessfulValueResultThrowsBadResultAccess) {
  const result<int> ok(7);
  // Before: std::bad_variant_access, not the documented logic error.
  EXPECT_THROW((void)ok.error(), bad_result_access);
  const result<std::string> s(std::string("x"));
  EXPECT_THROW((void)s.error(), bad_result_access);
}

TEST(Result, ValueOfAFailedResultThrowsNamingTheError) {
  const result<int> bad(error(error_code::resource_not_found_exception, "Stream s not found"));
  EXPECT_THROW((void)bad.value(), bad_result_access);
  try {
    (void)bad.value();
  } catch (const bad_result_access& e) {
    EXPECT_STREQ(e.what(), "value() of a failed rill::result: ResourceNotFoundException: Stream s not found");
  }
  const result<void> bad_void(error(error_code::internal_failure, ""));
  EXPECT_THROW(bad_void.value(), bad_result_access);
  EXPECT_EQ(bad_void.error().code(), error_code::internal_failure);
  EXPECT_EQ(bad_void.code(), error_code::internal_failure);
}

TEST(Result, CodeIsEmptyOnSuccess) {
  EXPECT_EQ(result<void>().code(), std::nullopt);
  EXPECT_EQ(result<int>(1).code(), std::nullopt);
}

}  // namespace
}  // namespace rill
