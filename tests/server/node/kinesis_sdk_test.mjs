// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The AWS SDK for JavaScript v3 against a rill endpoint, over HTTP/1.1
// (NodeHttpHandler) and HTTP/2 (NodeHttp2Handler): create, put, get across a
// split, list, tags, retention and errors; KPL-aggregated records (aws-kinesis-agg)
// survive the wire and deaggregate. Usage: RILL_ENDPOINT=http://127.0.0.1:PORT node kinesis_sdk_test.mjs
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import {
  KinesisClient,
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  PutRecordCommand,
  PutRecordsCommand,
  ListShardsCommand,
  GetShardIteratorCommand,
  GetRecordsCommand,
  SplitShardCommand,
  AddTagsToStreamCommand,
  ListTagsForStreamCommand,
  RemoveTagsFromStreamCommand,
  IncreaseStreamRetentionPeriodCommand,
  DecreaseStreamRetentionPeriodCommand,
  ListStreamsCommand,
  DeleteStreamCommand,
  ResourceNotFoundException,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler, NodeHttp2Handler } from "@smithy/node-http-handler";

const require = createRequire(import.meta.url);
const agg = require("aws-kinesis-agg");

const endpoint = process.env.RILL_ENDPOINT;
if (!endpoint) {
  console.error("set RILL_ENDPOINT");
  process.exit(2);
}

function client(handler) {
  return new KinesisClient({
    endpoint,
    region: "eu-west-1",
    credentials: { accessKeyId: "AKIDNODE", secretAccessKey: "secret" },
    requestHandler: handler,
    maxAttempts: 1,
  });
}

async function readShard(k, stream, shardId) {
  const { ShardIterator } = await k.send(
    new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: "TRIM_HORIZON" }),
  );
  let it = ShardIterator;
  const out = [];
  let children = [];
  for (;;) {
    const page = await k.send(new GetRecordsCommand({ ShardIterator: it }));
    out.push(...page.Records);
    if (!page.NextShardIterator) {
      children = page.ChildShards ?? [];
      break;
    }
    if (page.Records.length === 0 && page.MillisBehindLatest === 0) break;
    it = page.NextShardIterator;
  }
  return { records: out, children };
}

async function scenario(name, k) {
  const stream = `node-${name}`;
  await k.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
  const sum = await k.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
  assert.equal(sum.StreamDescriptionSummary.StreamStatus, "ACTIVE");
  assert.ok(sum.StreamDescriptionSummary.StreamCreationTimestamp instanceof Date);
  assert.ok(sum.$metadata.requestId, "x-amzn-RequestId is read by the SDK");

  // Before the split.
  const enc = new TextEncoder();
  const first = await k.send(
    new PutRecordCommand({ StreamName: stream, Data: enc.encode("before-0"), PartitionKey: "a" }),
  );
  assert.equal(first.ShardId, "shardId-000000000000");
  const batch = await k.send(
    new PutRecordsCommand({
      StreamName: stream,
      Records: [1, 2, 3].map((i) => ({ Data: enc.encode(`before-${i}`), PartitionKey: `p${i}` })),
    }),
  );
  assert.equal(batch.FailedRecordCount, 0);
  assert.equal(batch.Records.length, 3);

  // Split, then write to both children.
  await k.send(
    new SplitShardCommand({
      StreamName: stream,
      ShardToSplit: "shardId-000000000000",
      NewStartingHashKey: "170141183460469231731687303715884105728",
    }),
  );
  await k.send(
    new PutRecordsCommand({
      StreamName: stream,
      Records: [
        { Data: enc.encode("after-low"), PartitionKey: "x", ExplicitHashKey: "1" },
        { Data: enc.encode("after-high"), PartitionKey: "y", ExplicitHashKey: "170141183460469231731687303715884105729" },
      ],
    }),
  );
  const shards = await k.send(new ListShardsCommand({ StreamName: stream }));
  assert.deepEqual(
    shards.Shards.map((s) => s.ShardId),
    ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"],
  );
  assert.ok(shards.Shards[0].SequenceNumberRange.EndingSequenceNumber, "the parent is closed");

  const dec = new TextDecoder();
  const parent = await readShard(k, stream, "shardId-000000000000");
  assert.deepEqual(
    parent.records.map((r) => dec.decode(r.Data)),
    ["before-0", "before-1", "before-2", "before-3"],
  );
  assert.ok(parent.records[0].ApproximateArrivalTimestamp instanceof Date);
  assert.equal(parent.children.length, 2);
  const low = await readShard(k, stream, "shardId-000000000001");
  const high = await readShard(k, stream, "shardId-000000000002");
  assert.deepEqual(low.records.map((r) => dec.decode(r.Data)), ["after-low"]);
  assert.deepEqual(high.records.map((r) => dec.decode(r.Data)), ["after-high"]);

  // Tags and retention.
  await k.send(new AddTagsToStreamCommand({ StreamName: stream, Tags: { team: "data", env: "test" } }));
  let tags = await k.send(new ListTagsForStreamCommand({ StreamName: stream }));
  assert.deepEqual(tags.Tags, [
    { Key: "env", Value: "test" },
    { Key: "team", Value: "data" },
  ]);
  await k.send(new RemoveTagsFromStreamCommand({ StreamName: stream, TagKeys: ["env"] }));
  tags = await k.send(new ListTagsForStreamCommand({ StreamName: stream }));
  assert.equal(tags.Tags.length, 1);
  await k.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: stream, RetentionPeriodHours: 72 }));
  const after = await k.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
  assert.equal(after.StreamDescriptionSummary.RetentionPeriodHours, 72);
  await k.send(new DecreaseStreamRetentionPeriodCommand({ StreamName: stream, RetentionPeriodHours: 24 }));

  // KPL aggregation: one aggregated record in, the user records out.
  const user = [0, 1, 2, 3, 4].map((i) => ({ partitionKey: `u${i}`, data: Buffer.from(`user-${i}`) }));
  const encoded = await new Promise((resolve, reject) => {
    const all = [];
    agg.aggregate(
      user,
      (rec, cb) => {
        all.push(rec);
        cb();
      },
      () => resolve(all),
      (err) => reject(err),
    );
  });
  assert.equal(encoded.length, 1);
  const aggStream = `${stream}-agg`;
  await k.send(new CreateStreamCommand({ StreamName: aggStream, ShardCount: 1 }));
  await k.send(
    new PutRecordCommand({ StreamName: aggStream, Data: encoded[0].data, PartitionKey: encoded[0].partitionKey }),
  );
  const aggRead = await readShard(k, aggStream, "shardId-000000000000");
  assert.equal(aggRead.records.length, 1);
  const r = aggRead.records[0];
  const deagg = await new Promise((resolve, reject) =>
    agg.deaggregateSync(
      {
        partitionKey: r.PartitionKey,
        data: Buffer.from(r.Data).toString("base64"),
        sequenceNumber: r.SequenceNumber,
        approximateArrivalTimestamp: r.ApproximateArrivalTimestamp.getTime() / 1000,
        kinesisSchemaVersion: "1.0",
      },
      true,
      (err, records) => (err ? reject(err) : resolve(records)),
    ),
  );
  assert.deepEqual(
    deagg.map((u) => Buffer.from(u.data, "base64").toString()),
    user.map((u) => u.data.toString()),
  );

  // Errors arrive as the SDK's typed exceptions.
  await assert.rejects(
    k.send(new DescribeStreamSummaryCommand({ StreamName: "does-not-exist" })),
    (e) => e instanceof ResourceNotFoundException && e.$metadata.httpStatusCode === 400,
  );
  await assert.rejects(
    k.send(new CreateStreamCommand({ StreamName: "bad name!", ShardCount: 1 })),
    (e) => e.name === "ValidationException",
  );
  const listed = await k.send(new ListStreamsCommand({}));
  assert.ok(listed.StreamNames.includes(stream));
  await k.send(new DeleteStreamCommand({ StreamName: aggStream }));
  console.log(`ok ${name}`);
}

const h1 = client(new NodeHttpHandler({ requestTimeout: 10000 }));
const h2 = client(new NodeHttp2Handler({ requestTimeout: 10000, sessionTimeout: 10000 }));
try {
  await scenario("http1", h1);
  await scenario("http2", h2);
} finally {
  h1.destroy();
  h2.destroy();
}
