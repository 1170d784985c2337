// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// `rill`: a standalone Kinesis endpoint and a one-shot Kinesis client.
//
//   rill serve --port 4567 [--tls-port 4568] [--create-stream-delay-ms 500] ...
//   rill kinesis describe-stream --stream-name s --endpoint http://127.0.0.1:4567
//   rill kinesis read --stream-name s --endpoint http://127.0.0.1:4567
//
// `serve` takes kinesalite's option names too (--createStreamMs, --deleteStreamMs,
// --updateStreamMs, --shardLimit, --ssl), so a test setup switches with one line.
#include <signal.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/asio.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "rill/engine.hpp"
#include "rill/server.hpp"
#include "server/codec.hpp"
#include "server/sigv4.hpp"
#include "server/wire.hpp"

namespace {

using rill::wire::json;

// ---------------------------------------------------------------------------
// serve

struct serve_args {
  std::string host = "127.0.0.1";
  std::uint16_t port = 4567;
  std::optional<std::uint16_t> tls_port;
  bool ssl = false;
  std::string tls_cert, tls_key;
  std::string data_dir;
  std::int64_t create_ms = 0, delete_ms = 0, update_ms = 0;
  std::int32_t shard_limit = 20'000;
  std::string region = "us-east-1";
  std::string account = "000000000000";
  int io_threads = 2;
  std::vector<std::string> credentials;
  bool verify = false;
  std::size_t max_connections = 1024;
};

int serve(const serve_args& a) {
  rill::engine_options eo;
  eo.data_directory = a.data_dir;  // empty: streams in memory
  eo.region = a.region;
  eo.account_id = a.account;
  eo.create_stream_delay = rill::duration(a.create_ms);
  eo.delete_stream_delay = rill::duration(a.delete_ms);
  eo.update_stream_delay = rill::duration(a.update_ms);
  eo.shard_limit = a.shard_limit;
  auto opened = rill::engine::open(eo);
  if (!opened) {
    std::cerr << "rill serve: " << opened.error() << "\n";
    return 1;
  }
  rill::engine& engine = **opened;

  rill::server_options so;
  so.host = a.host;
  so.port = a.port;
  so.io_threads = a.io_threads;
  so.limits.max_connections = a.max_connections;
  if (a.tls_port || a.ssl) {
    so.tls = true;
    so.tls_port = a.tls_port.value_or(static_cast<std::uint16_t>(a.port + 1));
    so.tls_certificate_file = a.tls_cert;
    so.tls_private_key_file = a.tls_key;
  }
  so.sigv4.verify = a.verify;
  for (const auto& c : a.credentials) {
    auto colon = c.find(':');
    if (colon == std::string::npos) {
      std::cerr << "rill serve: --credentials takes ACCESS_KEY_ID:SECRET\n";
      return 2;
    }
    so.sigv4.credentials[c.substr(0, colon)] = c.substr(colon + 1);
  }
  if (a.verify && so.sigv4.credentials.empty()) {
    std::cerr << "rill serve: --verify-signatures needs at least one --credentials ACCESS_KEY_ID:SECRET\n";
    return 2;
  }

  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto srv = rill::server::start(engine, so);
  if (!srv) {
    std::cerr << "rill serve: " << srv.error() << "\n";
    return 1;
  }
  std::cout << "rill: Kinesis endpoint on http://" << a.host << ":" << (*srv)->port();
  if ((*srv)->tls_port()) std::cout << " and https://" << a.host << ":" << (*srv)->tls_port();
  std::cout << " (region " << a.region << ", account " << a.account << ")" << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  std::cout << "rill: stopping" << std::endl;
  (*srv)->stop();
  return 0;
}

// ---------------------------------------------------------------------------
// kinesis <operation>

std::string pascal_of(std::string_view kebab) {
  std::string out;
  bool up = true;
  for (char c : kebab) {
    if (c == '-') {
      up = true;
      continue;
    }
    out.push_back(up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c);
    up = false;
  }
  return out;
}

// A value as given on the command line: JSON when it parses as an object, an
// array, a number or a boolean; otherwise the string itself.
json cli_value(const std::string& v) {
  if (!v.empty() && (v[0] == '{' || v[0] == '[' || v[0] == '-' || std::isdigit(static_cast<unsigned char>(v[0])) ||
                     v == "true" || v == "false")) {
    auto j = json::parse(v, nullptr, false);
    if (!j.is_discarded()) {
      // Decimal strings AWS carries as strings (hash keys, sequence numbers) stay strings when long.
      if (j.is_number() && v.size() > 15) return json(v);
      return j;
    }
  }
  return json(v);
}

struct endpoint {
  std::string host;
  std::string port;
};

std::optional<endpoint> parse_endpoint(std::string url) {
  if (url.starts_with("http://")) url = url.substr(7);
  if (url.starts_with("https://")) return std::nullopt;
  auto slash = url.find('/');
  if (slash != std::string::npos) url = url.substr(0, slash);
  auto colon = url.rfind(':');
  if (colon == std::string::npos) return endpoint{url, "80"};
  return endpoint{url.substr(0, colon), url.substr(colon + 1)};
}

std::string amz_date_now() {
  // The client signs with the wall-clock time, as every AWS client does.
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

class http_client {
 public:
  explicit http_client(const endpoint& ep) : ep_(ep), socket_(ioc_) {
    boost::asio::ip::tcp::resolver resolver(ioc_);
    boost::asio::connect(socket_, resolver.resolve(ep.host, ep.port));
  }

  rill::wire::response call(const std::string& op, const std::string& body, const std::string& region,
                            const std::string& akid, const std::string& secret) {
    namespace http = boost::beast::http;
    rill::wire::request req;
    req.method = "POST";
    req.headers = {{"host", ep_.host + ":" + ep_.port},
                   {"content-type", "application/x-amz-json-1.1"},
                   {"x-amz-target", "Kinesis_20131202." + op}};
    req.body = body;
    rill::wire::sigv4_sign(req, akid, secret, region, "kinesis", amz_date_now());
    http::request<http::string_body> r{http::verb::post, "/", 11};
    for (const auto& h : req.headers) r.set(h.name, h.value);
    r.body() = req.body;
    r.prepare_payload();
    http::write(socket_, r);
    http::response_parser<http::string_body> p;
    p.body_limit(64u << 20);
    http::read(socket_, buffer_, p);
    rill::wire::response out;
    out.status = p.get().result_int();
    out.body = p.get().body();
    out.content_type = std::string(p.get()[http::field::content_type]);
    return out;
  }

 private:
  endpoint ep_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

struct kinesis_args {
  std::string operation;
  std::vector<std::string> fields;  // --name value pairs after the operation
  std::string endpoint_url;
  std::string region = "us-east-1";
  std::string access_key_id = "AKIDRILL";
  std::string secret = "secret";
  std::string input_json;
};

// The AWS CLI's exit code when the service returned an error.
constexpr int service_error_exit = 254;

int print_response(const std::string& op, const rill::wire::response& r) {
  json body;
  if (!r.body.empty()) {
    auto t = rill::wire::parse_body(r.body, rill::wire::body_format::json);
    body = t ? *t : json(r.body);
  }
  if (r.status != 200) {
    std::string type = body.is_object() && body.contains("__type") ? body["__type"].get<std::string>() : "Error";
    if (auto hash = type.find('#'); hash != std::string::npos) type = type.substr(hash + 1);
    std::string msg = body.is_object() && body.contains("message")   ? body["message"].get<std::string>()
                      : body.is_object() && body.contains("Message") ? body["Message"].get<std::string>()
                                                                     : std::string();
    std::cerr << "\nAn error occurred (" << type << ") when calling the " << op << " operation: " << msg << "\n";
    return service_error_exit;
  }
  if (!r.body.empty()) std::cout << body.dump(4) << "\n";
  return 0;
}

int run_kinesis(const kinesis_args& a) {
  json input = json::object();
  if (!a.input_json.empty()) {
    input = json::parse(a.input_json, nullptr, false);
    if (!input.is_object()) {
      std::cerr << "rill kinesis: --cli-input-json is not a JSON object\n";
      return 2;
    }
  }
  for (std::size_t i = 0; i < a.fields.size(); ++i) {
    const std::string& f = a.fields[i];
    if (!f.starts_with("--")) {
      std::cerr << "rill kinesis: expected --<field> <value>, got '" << f << "'\n";
      return 2;
    }
    std::string name = pascal_of(f.substr(2));
    if (i + 1 >= a.fields.size()) {
      std::cerr << "rill kinesis: " << f << " needs a value\n";
      return 2;
    }
    input[name] = cli_value(a.fields[++i]);
  }
  // Names the AWS CLI spells differently from the API.
  if (input.contains("StreamArn")) {
    input["StreamARN"] = input["StreamArn"];
    input.erase("StreamArn");
  }
  if (a.endpoint_url.empty()) {
    std::cerr << "rill kinesis: give --endpoint http://host:port (a rill serve, or any Kinesis endpoint over http)\n";
    return 2;
  }
  auto ep = parse_endpoint(a.endpoint_url);
  if (!ep) {
    std::cerr << "rill kinesis: only http:// endpoints are supported\n";
    return 2;
  }
  try {
    http_client client(*ep);
    if (a.operation == "read") {
      // Reads every shard of a stream to its end, parents before children (ListShards order), one JSON line per
      // record, with a progress line on stderr.
      std::string stream = input.value("StreamName", "");
      auto shards = client.call("ListShards", json{{"StreamName", stream}}.dump(), a.region, a.access_key_id, a.secret);
      if (shards.status != 200) return print_response("ListShards", shards);
      auto list = json::parse(shards.body);
      std::size_t total = 0, done_shards = 0;
      for (const auto& s : list["Shards"]) {
        auto it = client.call("GetShardIterator",
                              json{{"StreamName", stream},
                                   {"ShardId", s["ShardId"]},
                                   {"ShardIteratorType", input.value("ShardIteratorType", "TRIM_HORIZON")}}
                                  .dump(),
                              a.region, a.access_key_id, a.secret);
        if (it.status != 200) return print_response("GetShardIterator", it);
        std::optional<std::string> iter = json::parse(it.body)["ShardIterator"].get<std::string>();
        while (iter) {
          auto got =
              client.call("GetRecords", json{{"ShardIterator", *iter}}.dump(), a.region, a.access_key_id, a.secret);
          if (got.status != 200) return print_response("GetRecords", got);
          auto page = json::parse(got.body);
          for (auto& r : page["Records"]) {
            r["ShardId"] = s["ShardId"];
            std::cout << r.dump() << "\n";
          }
          total += page["Records"].size();
          std::cerr << "\r" << total << " records, " << done_shards << "/" << list["Shards"].size() << " shards done"
                    << std::flush;
          if (page["Records"].empty() && page.value("MillisBehindLatest", 0) == 0) break;  // open shard caught up
          iter = page.contains("NextShardIterator") ? std::optional(page["NextShardIterator"].get<std::string>())
                                                    : std::nullopt;
        }
        ++done_shards;
      }
      std::cerr << "\r" << total << " records, " << done_shards << "/" << list["Shards"].size() << " shards done\n";
      return 0;
    }
    std::string op = pascal_of(a.operation);
    return print_response(op, client.call(op, input.dump(), a.region, a.access_key_id, a.secret));
  } catch (const std::exception& e) {
    std::cerr << "rill kinesis: cannot reach " << a.endpoint_url << ": " << e.what() << "\n";
    return 255;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rill: an embeddable Kinesis engine, served over the Kinesis wire protocol"};
  app.require_subcommand(1);

  serve_args sa;
  auto* serve_cmd =
      app.add_subcommand("serve", "Run a standalone Kinesis endpoint (streams in memory, or durable in --data-dir)");
  serve_cmd->add_option("--host", sa.host, "Address to listen on")->capture_default_str();
  serve_cmd->add_option("--port,-p", sa.port, "Plain port: HTTP/1.1 and h2c")->capture_default_str();
  serve_cmd->add_option("--tls-port", sa.tls_port, "Also listen with TLS here (h2 and http/1.1 by ALPN)");
  serve_cmd->add_flag("--ssl", sa.ssl, "kinesalite's --ssl: TLS on --tls-port, or port + 1");
  serve_cmd->add_option("--tls-cert", sa.tls_cert, "PEM certificate chain (default: self-signed, generated)");
  serve_cmd->add_option("--tls-key", sa.tls_key, "PEM private key");
  serve_cmd->add_option("--data-dir,--path", sa.data_dir, "Keep streams durably in this folder (survive restarts)");
  serve_cmd->add_option("--create-stream-delay-ms,--createStreamMs", sa.create_ms, "Time a stream stays CREATING")
      ->capture_default_str();
  serve_cmd->add_option("--delete-stream-delay-ms,--deleteStreamMs", sa.delete_ms, "Time a stream stays DELETING")
      ->capture_default_str();
  serve_cmd->add_option("--update-stream-delay-ms,--updateStreamMs", sa.update_ms, "Time a stream stays UPDATING")
      ->capture_default_str();
  serve_cmd->add_option("--shard-limit,--shardLimit", sa.shard_limit, "Account shard quota")->capture_default_str();
  serve_cmd->add_option("--region", sa.region, "Region in ARNs")->capture_default_str();
  serve_cmd->add_option("--account-id", sa.account, "Account in ARNs")->capture_default_str();
  serve_cmd->add_option("--io-threads", sa.io_threads, "Network threads")->capture_default_str();
  serve_cmd->add_option("--max-connections", sa.max_connections, "Connections open at once")->capture_default_str();
  serve_cmd->add_flag("--verify-signatures", sa.verify, "Refuse requests without a valid SigV4 signature");
  serve_cmd->add_option("--credentials", sa.credentials, "ACCESS_KEY_ID:SECRET accepted with --verify-signatures");

  kinesis_args ka;
  auto* kinesis_cmd = app.add_subcommand(
      "kinesis",
      "Run one Kinesis operation and print the result as the AWS CLI does:\n"
      "  rill kinesis <operation> --<field> <value> ... --endpoint http://127.0.0.1:4567\n"
      "Operations in the AWS CLI's spelling (create-stream, put-record, get-records, ...), fields likewise\n"
      "(--stream-name, --shard-count, --data <base64>); values that are JSON (numbers, objects, lists) are sent as\n"
      "JSON. 'read --stream-name S' reads every shard to its end, one JSON line per record.");
  kinesis_cmd->add_option("operation", ka.operation, "Operation, e.g. describe-stream")->required();
  kinesis_cmd->add_option("--endpoint,--endpoint-url", ka.endpoint_url, "http://host:port of the endpoint");
  kinesis_cmd->add_option("--region", ka.region, "Region to sign for")->capture_default_str();
  kinesis_cmd->add_option("--access-key-id", ka.access_key_id, "Access key id to sign with")->capture_default_str();
  kinesis_cmd->add_option("--secret-access-key", ka.secret, "Secret key to sign with");
  kinesis_cmd->add_option("--cli-input-json", ka.input_json, "The request as JSON");
  kinesis_cmd->allow_extras();

  CLI11_PARSE(app, argc, argv);
  if (serve_cmd->parsed()) return serve(sa);
  ka.fields = kinesis_cmd->remaining();
  return run_kinesis(ka);
}
