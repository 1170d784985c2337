// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The AWS SDK for Go v2 (Debian's golang-github-aws-aws-sdk-go-v2-dev) against a
// rill endpoint: create, put, get across a split, list, tags, retention and
// errors; enhanced fan-out (RegisterStreamConsumer, SubscribeToShard over
// HTTP/1.1, which is how this SDK reads the event stream on http://). Built in GOPATH mode from /usr/share/gocode by the C++ test that runs it.
// Usage: kinesis_client http://127.0.0.1:PORT
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func check(what string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", what, err)
		os.Exit(1)
	}
}

func expect(what string, ok bool) {
	if !ok {
		fmt.Fprintf(os.Stderr, "FAIL %s\n", what)
		os.Exit(1)
	}
}

func readShard(ctx context.Context, k *kinesis.Client, stream, shard string) ([]string, int) {
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	check("GetShardIterator", err)
	iter := it.ShardIterator
	var out []string
	children := 0
	for iter != nil {
		page, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		check("GetRecords", err)
		for _, r := range page.Records {
			out = append(out, string(r.Data))
			expect("ApproximateArrivalTimestamp", r.ApproximateArrivalTimestamp != nil && r.ApproximateArrivalTimestamp.Year() >= 2024)
		}
		children = len(page.ChildShards)
		if len(page.Records) == 0 && page.MillisBehindLatest != nil && *page.MillisBehindLatest == 0 && page.NextShardIterator != nil {
			break
		}
		iter = page.NextShardIterator
	}
	return out, children
}

func main() {
	endpoint := os.Args[1]
	ctx := context.Background()
	k := kinesis.New(kinesis.Options{
		Region:           "ap-southeast-2",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDGO", "secret", ""),
		EndpointResolver: kinesis.EndpointResolverFromURL(endpoint),
		RetryMaxAttempts: 1,
	})
	stream := "go-sdk"
	_, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)})
	check("CreateStream", err)
	sum, err := k.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	check("DescribeStreamSummary", err)
	expect("ACTIVE", sum.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive)

	put, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte("before"), PartitionKey: aws.String("a")})
	check("PutRecord", err)
	expect("shard 0", *put.ShardId == "shardId-000000000000")
	_, err = k.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728")})
	check("SplitShard", err)
	batch, err := k.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []types.PutRecordsRequestEntry{
		{Data: []byte("low"), PartitionKey: aws.String("x"), ExplicitHashKey: aws.String("1")},
		{Data: []byte("high"), PartitionKey: aws.String("y"), ExplicitHashKey: aws.String("170141183460469231731687303715884105729")},
	}})
	check("PutRecords", err)
	expect("no failures", *batch.FailedRecordCount == 0)
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	check("ListShards", err)
	expect("three shards", len(shards.Shards) == 3)
	parent, children := readShard(ctx, k, stream, "shardId-000000000000")
	expect("parent records", len(parent) == 1 && parent[0] == "before")
	expect("child shards at the end of the parent", children == 2)
	low, _ := readShard(ctx, k, stream, "shardId-000000000001")
	high, _ := readShard(ctx, k, stream, "shardId-000000000002")
	expect("children records", len(low) == 1 && low[0] == "low" && len(high) == 1 && high[0] == "high")

	_, err = k.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String(stream), Tags: map[string]string{"team": "go"}})
	check("AddTagsToStream", err)
	tags, err := k.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String(stream)})
	check("ListTagsForStream", err)
	expect("one tag", len(tags.Tags) == 1 && *tags.Tags[0].Key == "team")
	_, err = k.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String(stream), RetentionPeriodHours: aws.Int32(48)})
	check("IncreaseStreamRetentionPeriod", err)

	// Enhanced fan-out: the parent's stream ends with ChildShards; a child's streams live records.
	reg, err := k.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
		StreamARN: sum.StreamDescriptionSummary.StreamARN, ConsumerName: aws.String("go")})
	check("RegisterStreamConsumer", err)
	subscribe := func(shard string) *kinesis.SubscribeToShardEventStream {
		out, err := k.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: reg.Consumer.ConsumerARN,
			ShardId: aws.String(shard), StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
		check("SubscribeToShard "+shard, err)
		return out.GetStream()
	}
	parentStream := subscribe("shardId-000000000000")
	var got []string
	ended := false
	for ev := range parentStream.Events() {
		if e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
			for _, r := range e.Value.Records {
				got = append(got, string(r.Data))
			}
			if len(e.Value.ChildShards) > 0 {
				expect("no continuation at the shard's end", e.Value.ContinuationSequenceNumber == nil)
				ended = true
			}
		}
	}
	check("parent event stream", parentStream.Err())
	expect("parent records over fan-out", ended && len(got) == 1 && got[0] == "before")
	childStream := subscribe("shardId-000000000001")
	_, err = k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte("pushed"),
		PartitionKey: aws.String("z"), ExplicitHashKey: aws.String("2")})
	check("PutRecord (fan-out)", err)
	got = nil
	for ev := range childStream.Events() {
		if e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
			expect("continuation", e.Value.ContinuationSequenceNumber != nil)
			for _, r := range e.Value.Records {
				got = append(got, string(r.Data))
			}
		}
		if len(got) >= 2 {
			break
		}
	}
	childStream.Close()
	expect("child records over fan-out", len(got) == 2 && got[0] == "low" && got[1] == "pushed")
	_, err = k.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
	check("DeregisterStreamConsumer", err)

	_, err = k.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("missing")})
	var rnf *types.ResourceNotFoundException
	expect("ResourceNotFoundException", errors.As(err, &rnf))
	streams, err := k.ListStreams(ctx, &kinesis.ListStreamsInput{})
	check("ListStreams", err)
	expect("listed", len(streams.StreamNames) == 1)
	_, err = k.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(stream), EnforceConsumerDeletion: aws.Bool(true)})
	check("DeleteStream", err)
	fmt.Println("ok go-sdk-v2")
}
