// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The one place that includes Boost.Asio. Boost 1.74's awaitable.hpp uses
// std::exchange without including <utility>, which breaks under -std=c++20 with
// g++ 12 unless <utility> comes first.
#pragma once

#include <utility>  // must precede Asio (see above)

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_timer.hpp>
