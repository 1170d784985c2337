// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The AWS SDK for JavaScript v3 Firehose client against a rill endpoint serving a
// local_firehose: CreateDeliveryStream (ExtendedS3DestinationConfiguration),
// DescribeDeliveryStream, PutRecord and PutRecordBatch, then the delivered object
// read from the bucket directory. Usage:
//   RILL_ENDPOINT=http://127.0.0.1:PORT RILL_S3_DIR=/path node firehose_sdk_test.mjs
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  FirehoseClient,
  CreateDeliveryStreamCommand,
  DescribeDeliveryStreamCommand,
  PutRecordCommand,
  PutRecordBatchCommand,
  ListDeliveryStreamsCommand,
  ResourceInUseException,
} from "@aws-sdk/client-firehose";

const endpoint = process.env.RILL_ENDPOINT;
const s3dir = process.env.RILL_S3_DIR;
if (!endpoint || !s3dir) {
  console.error("set RILL_ENDPOINT and RILL_S3_DIR");
  process.exit(2);
}

const fh = new FirehoseClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "AKIDNODE", secretAccessKey: "secret" },
  maxAttempts: 1,
});

function files(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true })
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile());
}

try {
  const config = {
    DeliveryStreamName: "js",
    DeliveryStreamType: "DirectPut",
    ExtendedS3DestinationConfiguration: {
      RoleARN: "arn:aws:iam::000000000000:role/firehose",
      BucketARN: "arn:aws:s3:::jsbucket",
      Prefix: "in/",
      ErrorOutputPrefix: "err/!{firehose:error-output-type}/",
      BufferingHints: { SizeInMBs: 1, IntervalInSeconds: 0 },
      CompressionFormat: "UNCOMPRESSED",
    },
  };
  const created = await fh.send(new CreateDeliveryStreamCommand(config));
  assert.match(created.DeliveryStreamARN, /^arn:aws:firehose:.*:deliverystream\/js$/);
  await assert.rejects(fh.send(new CreateDeliveryStreamCommand(config)), (e) => e instanceof ResourceInUseException);
  const d = (await fh.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: "js" }))).DeliveryStreamDescription;
  assert.equal(d.DeliveryStreamStatus, "ACTIVE");
  assert.ok(d.CreateTimestamp instanceof Date);
  const dest = d.Destinations[0].ExtendedS3DestinationDescription;
  assert.equal(dest.BucketARN, "arn:aws:s3:::jsbucket");
  assert.equal(dest.Prefix, "in/");
  assert.deepEqual(dest.BufferingHints, { SizeInMBs: 1, IntervalInSeconds: 0 });
  assert.deepEqual((await fh.send(new ListDeliveryStreamsCommand({}))).DeliveryStreamNames, ["js"]);

  await fh.send(new PutRecordCommand({ DeliveryStreamName: "js", Record: { Data: Buffer.from("first|") } }));
  const batch = await fh.send(
    new PutRecordBatchCommand({
      DeliveryStreamName: "js",
      Records: [{ Data: Buffer.from("second|") }, { Data: Buffer.from("third|") }],
    }),
  );
  assert.equal(batch.FailedPutCount, 0);
  assert.equal(batch.RequestResponses.length, 2);

  // With IntervalInSeconds 0 the PutRecord and the batch may land in separate
  // objects, whose keys (a random suffix within the same second) list in any
  // order: each object holds its records in order, and all three arrive once.
  let objects = [];
  const parts = () => objects.join("").split("|").filter(Boolean);
  for (let i = 0; i < 200 && parts().length < 3; ++i) {
    await new Promise((r) => setTimeout(r, 50));
    objects = files(path.join(s3dir, "jsbucket")).map((f) => fs.readFileSync(f, "utf8"));
  }
  assert.deepEqual(parts().sort(), ["first", "second", "third"]);
  for (const o of objects) assert.ok("first|second|third|".includes(o), `an object out of order: ${o}`);
  for (const f of files(path.join(s3dir, "jsbucket"))) {
    assert.ok(path.relative(path.join(s3dir, "jsbucket"), f).startsWith("in/"), f);
  }
  console.log("ok firehose");
} finally {
  fh.destroy();
}
