// Deaggregates Kinesis records with the official aws-kinesis-agg (Node) and
// prints what it found, for tests/producer/kpl_test.cpp.
// Input (argv[2]): a JSON array of {"partitionKey", "data" (base64)}.
// Output (stdout): a JSON array, per input record, of its user records
// {"partitionKey", "explicitHashKey", "subSequenceNumber", "data" (base64)}.
"use strict";
const fs = require("fs");
const agg = require("aws-kinesis-agg");

const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = [];
for (const rec of input) {
  let got = null;
  agg.deaggregateSync({partitionKey: rec.partitionKey, data: rec.data, sequenceNumber: "1"}, true, (err, users) => {
    if (err) throw err;
    got = users.map((u) => ({
      partitionKey: u.partitionKey,
      explicitHashKey: u.explicitPartitionKey === undefined ? null : u.explicitPartitionKey,
      subSequenceNumber: u.subSequenceNumber === undefined ? null : u.subSequenceNumber,
      data: u.data,
    }));
  });
  out.push(got);
}
process.stdout.write(JSON.stringify(out));
