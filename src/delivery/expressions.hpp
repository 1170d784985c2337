// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The small languages of a delivery stream's configuration:
//   * S3 prefixes with `!{namespace:value}` expressions (timestamp, firehose,
//     partitionKeyFromQuery, partitionKeyFromLambda), parsed and validated as
//     Firehose validates them, and evaluated for one object;
//   * the timestamp patterns inside them (a subset of Java's DateTimeFormatter);
//   * the MetadataExtractionQuery of dynamic partitioning (a subset of jq 1.6:
//     an object construction of paths), evaluated with nlohmann_json;
//   * base64, for the Lambda event and the error envelopes.
// All parsers take untrusted text and return errors, never throw.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rill/error.hpp"
#include "rill/types.hpp"

namespace rill::delivery {

// --- timestamp patterns --------------------------------------------------------

/// A compiled DateTimeFormatter pattern: letters y (yy: two digits, else at
/// least that many), M, d, H, m, s (1 or 2: zero-padded to that width) and S
/// (fraction, 1..9 digits); text in single quotes is literal ('' is a quote);
/// anything else that is not a letter is literal. Other letters are refused.
class time_pattern {
 public:
  static result<time_pattern> parse(std::string_view pattern);
  /// Formats `t` in UTC.
  [[nodiscard]] std::string format(timestamp t) const;

 private:
  struct field {
    char letter = 0;  // 0: literal
    int width = 0;
    std::string literal{};
  };
  std::vector<field> fields_{};
};

// --- prefixes ---------------------------------------------------------------------

struct prefix_segment {
  enum class kind : std::uint8_t {
    literal,
    timestamp,
    random_string,
    error_output_type,
    key_from_query,
    key_from_lambda
  };
  kind type = kind::literal;
  /// The literal text, or the partition key name.
  std::string text{};
  std::optional<time_pattern> pattern{};
};

class prefix {
 public:
  /// Parses one prefix. `!{` must open a well-formed expression of a known
  /// namespace and value. Errors: InvalidArgumentException with AWS-like text.
  static result<prefix> parse(std::string_view text, std::string_view field_name);

  [[nodiscard]] bool has_expressions() const;
  [[nodiscard]] bool has(prefix_segment::kind k) const;
  /// Partition key names used (either namespace).
  [[nodiscard]] std::vector<std::string> keys(prefix_segment::kind k) const;
  void append(prefix_segment s) { segments_.push_back(std::move(s)); }

  struct context {
    timestamp time{};
    const std::map<std::string, std::string>* query_keys = nullptr;
    const std::map<std::string, std::string>* lambda_keys = nullptr;
    std::string_view error_output_type{};
    std::function<std::string()> random_string{};
  };
  /// The evaluated prefix; InvalidArgumentException when a partition key is
  /// missing or the result is over 512 characters.
  [[nodiscard]] result<std::string> evaluate(const context& ctx) const;

 private:
  std::vector<prefix_segment> segments_{};
};

// --- jq subset ----------------------------------------------------------------------

/// A MetadataExtractionQuery: `{name: path, …}` (also `{name}` for `{name: .name}`)
/// where a path is `.` followed by `.field`, `."field"`, `["field"]` or `[N]`
/// steps (e.g. `.type.device`, `.items[0]."a b"`). At most 50 keys.
class metadata_query {
 public:
  static result<metadata_query> parse(std::string_view text);
  /// The key names, in the query's order.
  [[nodiscard]] std::vector<std::string> names() const;
  /// Evaluates against one record. A string value is the key as is; a number
  /// or boolean its JSON text. Errors (InvalidArgumentException): the record is
  /// not JSON, or a path yields null, an object or an array.
  [[nodiscard]] result<std::map<std::string, std::string>> evaluate(std::string_view record) const;

 private:
  struct step {
    std::optional<std::string> field{};
    std::int64_t index = 0;
  };
  struct entry {
    std::string name{};
    std::vector<step> path{};
  };
  std::vector<entry> entries_{};
};

// --- base64 ----------------------------------------------------------------------------

std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace rill::delivery
