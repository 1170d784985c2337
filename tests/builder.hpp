// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The suite's test helpers are public now: include/rill/testing.hpp (ASSERT_OK,
// EXPECT_KINESIS_ERROR, test_engine, stream_builder). This header keeps the
// older names the suite's files use.
#pragma once

#include "rill/testing.hpp"

/// `expr` failed with `code` (fatal otherwise): RILL_ASSERT_KINESIS_ERROR.
#define RILL_EXPECT_ERROR(expr, code_) RILL_ASSERT_KINESIS_ERROR(expr, code_)
