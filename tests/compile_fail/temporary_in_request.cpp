// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// Compiled twice by check.cmake: as is (must compile), and with RILL_MISTAKES
// defined, when every line marked "// mistake" must be an error: request fields
// cannot view a temporary std::string.
#include <string>

#include "rill/kinesis.hpp"

std::string make_payload() { return std::string(64, 'p'); }

rill::put_records_request build(const std::string& key) {
  rill::put_records_request req{.stream_name = "s"};
  const std::string payload = make_payload();
  // The right way: everything viewed outlives the request.
  const std::string key2 = key + "-suffix";
  const std::string hash = std::to_string(42);
  req.records.push_back({.data = payload, .partition_key = key2, .explicit_hash_key = hash});
  req.records.push_back({.data = "literal", .partition_key = std::string_view(key)});
  return req;
}

#ifdef RILL_MISTAKES
// Each payload dies at the end of its statement; the request would keep a dangling view.
void mistake_data(rill::put_records_request& req, const std::string& key) {
  req.records.push_back({.data = make_payload(), .partition_key = key});  // mistake
}
void mistake_key(rill::put_records_request& req, const std::string& payload, const std::string& key) {
  req.records.push_back({.data = payload, .partition_key = key + "-suffix"});  // mistake
}
void mistake_hash_key(rill::put_record_request& one) {
  one.explicit_hash_key = std::to_string(42);  // mistake
}
void mistake_ordering(rill::put_record_request& one) {
  one.sequence_number_for_ordering = std::string("4959033827149025660855969253836157109592157598913658");  // mistake
}
void mistake_assign(rill::put_record_request& one) {
  one.data = make_payload();  // mistake
}
void mistake_init(const std::string& payload) {
  rill::put_record_request one{.stream_name = "s", .data = payload, .partition_key = std::to_string(1)};  // mistake
  (void)one;
}
#endif
