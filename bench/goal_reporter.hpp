// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A console reporter that, after the usual table, prints each benchmark as a
// fraction of its baseline measured in the same run, next to the goal from
// docs/performance.md:
//
//   Goals (items/s ratios within this run; median of repetitions when repeated)
//     BM_PutRecords / BM_Md5Bound                 0.61   goal >= 0.50   pass
//     ...
//
// A goal whose benchmarks were filtered out is skipped.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

namespace rill::bench {

class goal_reporter final : public benchmark::ConsoleReporter {
 public:
  explicit goal_reporter(OutputOptions options) : ConsoleReporter(options) {}

  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

 private:
  /// What one benchmark instance (name and thread count) measured.
  struct figures {
    std::vector<double> items_per_second;  // one per plain run
    double median = 0;                     // from the "median" aggregate, if any
    bool has_median = false;
    double bytes_per_record = 0;
    bool has_bytes_per_record = false;
    double reopen_fraction = 0;  // BM_ReopenDurable
    bool has_reopen_fraction = false;

    [[nodiscard]] bool empty() const { return !has_median && items_per_second.empty(); }
    [[nodiscard]] double rate() const;
  };

  [[nodiscard]] const figures* find(const std::string& name, long threads) const;

  std::map<std::pair<std::string, long>, figures> figures_;
};

}  // namespace rill::bench
