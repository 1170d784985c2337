// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Enhanced fan-out with the AWS SDK for JavaScript v3 against a rill endpoint:
// RegisterStreamConsumer / Describe / List, then SubscribeToShardCommand over its
// HTTP/2 handler (NodeHttp2Handler): every record put arrives once, in order, with
// continuation sequence numbers; a second subscribe within 5 s is refused with
// ResourceInUseException; after a split the old shard's stream ends with
// ChildShards and no continuation. Then the same read over HTTP/1.1 (NodeHttpHandler).
// Usage: RILL_ENDPOINT=http://127.0.0.1:PORT node subscribe_sdk_test.mjs
import assert from "node:assert/strict";
import {
  KinesisClient,
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  DescribeStreamConsumerCommand,
  ListStreamConsumersCommand,
  DeregisterStreamConsumerCommand,
  SubscribeToShardCommand,
  SplitShardCommand,
  ResourceInUseException,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler, NodeHttp2Handler } from "@smithy/node-http-handler";

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

async function active(k, stream) {
  for (let i = 0; i < 200; ++i) {
    const d = await k.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (d.StreamDescriptionSummary.StreamStatus === "ACTIVE") return d.StreamDescriptionSummary;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("stream never ACTIVE");
}

async function put(k, stream, from, n, ExplicitHashKey = undefined) {
  const Records = [];
  for (let i = from; i < from + n; ++i) {
    Records.push({ Data: Buffer.from(`rec-${i}`), PartitionKey: `k${i % 7}`, ExplicitHashKey });
  }
  const r = await k.send(new PutRecordsCommand({ StreamName: stream, Records }));
  assert.equal(r.FailedRecordCount, 0);
}

// Reads events until `done(state)`; returns the state.
async function read(events, state, done) {
  for await (const ev of events) {
    if (ev.SubscribeToShardEvent) {
      const e = ev.SubscribeToShardEvent;
      for (const r of e.Records) state.data.push(Buffer.from(r.Data).toString());
      state.last = e;
      if (e.ContinuationSequenceNumber) {
        assert.match(e.ContinuationSequenceNumber, /^\d+$/);
        state.continuations += 1;
      }
    }
    if (done(state)) return state;
  }
  state.ended = true;
  return state;
}

const h2 = client(new NodeHttp2Handler({ requestTimeout: 20000, sessionTimeout: 20000 }));
const h1 = client(new NodeHttpHandler({ requestTimeout: 20000 }));
try {
  const stream = `fanout-${Date.now()}`;
  await h2.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
  const summary = await active(h2, stream);
  const reg = await h2.send(new RegisterStreamConsumerCommand({ StreamARN: summary.StreamARN, ConsumerName: "js" }));
  const consumerArn = reg.Consumer.ConsumerARN;
  assert.ok(consumerArn.startsWith(`${summary.StreamARN}/consumer/js:`));
  const desc = await h2.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumerArn }));
  assert.equal(desc.ConsumerDescription.ConsumerStatus, "ACTIVE");
  assert.ok(desc.ConsumerDescription.ConsumerCreationTimestamp instanceof Date);
  const list = await h2.send(new ListStreamConsumersCommand({ StreamARN: summary.StreamARN }));
  assert.deepEqual(list.Consumers.map((c) => c.ConsumerName), ["js"]);

  await put(h2, stream, 0, 10);
  const sub = await h2.send(
    new SubscribeToShardCommand({
      ConsumerARN: consumerArn,
      ShardId: "shardId-000000000000",
      StartingPosition: { Type: "TRIM_HORIZON" },
    }),
  );
  const state = { data: [], continuations: 0, last: null, ended: false };
  await read(sub.EventStream, state, (s) => s.data.length >= 10);
  await put(h2, stream, 10, 15); // pushed as it arrives
  await read(sub.EventStream, state, (s) => s.data.length >= 25);
  assert.deepEqual(state.data, Array.from({ length: 25 }, (_, i) => `rec-${i}`));
  assert.ok(state.continuations >= 1);

  // A second subscribe for the same (consumer, shard) within 5 s is refused.
  await assert.rejects(
    h2.send(
      new SubscribeToShardCommand({
        ConsumerARN: consumerArn,
        ShardId: "shardId-000000000000",
        StartingPosition: { Type: "LATEST" },
      }),
    ),
    (e) => e instanceof ResourceInUseException || e.name === "ResourceInUseException",
  );

  // After a split the parent's stream ends with ChildShards and no continuation.
  await h2.send(
    new SplitShardCommand({
      StreamName: stream,
      ShardToSplit: "shardId-000000000000",
      NewStartingHashKey: "170141183460469231731687303715884105728",
    }),
  );
  await read(sub.EventStream, state, (s) => s.last && s.last.ChildShards && s.last.ChildShards.length > 0);
  assert.equal(state.last.ContinuationSequenceNumber, undefined);
  assert.deepEqual(state.last.ChildShards.map((c) => c.ParentShards), [
    ["shardId-000000000000"],
    ["shardId-000000000000"],
  ]);
  await read(sub.EventStream, state, () => false);
  assert.ok(state.ended);
  console.log("ok subscribe over http2");

  // HTTP/1.1 (chunked): the lower child shard, from TRIM_HORIZON.
  await put(h1, stream, 100, 5, "0");
  const child = state.last.ChildShards.find((c) => c.HashKeyRange.StartingHashKey === "0").ShardId;
  const sub1 = await h1.send(
    new SubscribeToShardCommand({ ConsumerARN: consumerArn, ShardId: child, StartingPosition: { Type: "TRIM_HORIZON" } }),
  );
  const s1 = { data: [], continuations: 0, last: null, ended: false };
  await put(h1, stream, 200, 30, "1");
  await read(sub1.EventStream, s1, (s) => s.data.length >= 35);
  const want = [...Array.from({ length: 5 }, (_, i) => `rec-${100 + i}`), ...Array.from({ length: 30 }, (_, i) => `rec-${200 + i}`)];
  assert.deepEqual(s1.data, want);
  console.log("ok subscribe over http1");
  await h2.send(new DeregisterStreamConsumerCommand({ ConsumerARN: consumerArn }));
} finally {
  h2.destroy();
  h1.destroy();
}
