// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "rill/waiter.hpp"

#include <string>

namespace rill {
namespace {

error max_attempts(const char* waiter, const stream_description_summary& s) {
  return error(error_code::resource_in_use_exception, std::string("Waiter ") + waiter +
                                                          " failed: Max attempts exceeded (stream " + s.stream_name +
                                                          " is " + std::string(to_string(s.stream_status)) + ")");
}

}  // namespace

result<describe_stream_summary_result> wait_until_stream_exists(kinesis& client, clock& clock,
                                                                const describe_stream_summary_request& req,
                                                                waiter_options options) {
  const std::int32_t attempts = options.max_attempts < 1 ? 1 : options.max_attempts;
  for (std::int32_t attempt = 1;; ++attempt) {
    auto r = client.describe_stream_summary(req);
    if (r && r->stream_description_summary.stream_status == stream_status::active) return r;
    if (!r && r.error().code() != error_code::resource_not_found_exception) return r.error();
    if (attempt >= attempts) {
      if (!r) return r.error();
      return max_attempts("StreamExists", r->stream_description_summary);
    }
    clock.sleep_for(options.delay);
  }
}

result<void> wait_until_stream_not_exists(kinesis& client, clock& clock, const describe_stream_summary_request& req,
                                          waiter_options options) {
  const std::int32_t attempts = options.max_attempts < 1 ? 1 : options.max_attempts;
  for (std::int32_t attempt = 1;; ++attempt) {
    auto r = client.describe_stream_summary(req);
    if (!r) {
      if (r.error().code() == error_code::resource_not_found_exception) return {};
      return r.error();
    }
    if (attempt >= attempts) return max_attempts("StreamNotExists", r->stream_description_summary);
    clock.sleep_for(options.delay);
  }
}

}  // namespace rill
