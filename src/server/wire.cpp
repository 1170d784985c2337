// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "server/wire.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "server/operations.hpp"
#include "server/sigv4.hpp"

namespace rill::wire {
namespace {

constexpr std::string_view json_type = "application/x-amz-json-1.1";
constexpr std::string_view cbor_type = "application/x-amz-cbor-1.1";
constexpr std::string_view legacy_json_type = "application/json";
constexpr std::string_view kinesis_prefix = "Kinesis_20131202";
constexpr std::string_view firehose_prefix = "Firehose_20150804";

enum class content_kind { json11, cbor11, legacy_json, other };

content_kind kind_of(const std::string* ct) {
  if (!ct) return content_kind::other;
  std::string_view v = *ct;
  v = v.substr(0, v.find(';'));
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  if (v == json_type) return content_kind::json11;
  if (v == cbor_type) return content_kind::cbor11;
  if (v == legacy_json_type) return content_kind::legacy_json;
  return content_kind::other;
}

std::mt19937_64& rng() {
  thread_local std::mt19937_64 g{[] {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
  }()};
  return g;
}

struct target_parts {
  std::string_view service;
  std::string_view operation;
  bool well_formed = false;  // "a.b" with both non-empty
};

target_parts split_target(const std::string* t) {
  target_parts p;
  if (!t) return p;
  std::string_view v = *t;
  auto dot = v.find('.');
  if (dot == std::string_view::npos) {
    p.service = v;
    return p;
  }
  p.service = v.substr(0, dot);
  p.operation = v.substr(dot + 1);
  p.well_formed = !p.service.empty() && !p.operation.empty();
  return p;
}

bool query_has(std::string_view target, std::string_view param) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return false;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    if (part.substr(0, part.find('=')) == param) return true;
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return false;
}

// yyyymmddThhmmssZ -> epoch milliseconds (nullopt if malformed).
std::optional<std::int64_t> parse_amz_date(std::string_view d) {
  if (d.size() != 16 || d[8] != 'T' || d[15] != 'Z') return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) -> int {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (d[i] < '0' || d[i] > '9') return -1;
      v = v * 10 + (d[i] - '0');
    }
    return v;
  };
  int y = num(0, 4), mo = num(4, 2), da = num(6, 2), h = num(9, 2), mi = num(11, 2), s = num(13, 2);
  if (y < 0 || mo < 1 || mo > 12 || da < 1 || da > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60) {
    return std::nullopt;
  }
  using namespace std::chrono;
  auto days = sys_days(year(y) / month(static_cast<unsigned>(mo)) / day(static_cast<unsigned>(da)));
  auto t = days + hours(h) + minutes(mi) + seconds(s);
  return duration_cast<milliseconds>(t.time_since_epoch()).count();
}

std::string format_amz_date(std::int64_t millis) {
  using namespace std::chrono;
  sys_time<milliseconds> t{milliseconds(millis)};
  auto dp = floor<days>(t);
  year_month_day ymd{dp};
  hh_mm_ss hms{floor<seconds>(t - dp)};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

}  // namespace

const std::string* request::find(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name == name) return &h.value;
  }
  return nullptr;
}

std::string make_request_id() {
  auto& g = rng();
  std::uint64_t a = g(), b = g();
  a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 1
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xFFFF), static_cast<unsigned>(a & 0xFFFF),
                static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
  return buf;
}

std::string make_id_2() {
  auto& g = rng();
  std::array<char, 48> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 8) {
    std::uint64_t v = g();
    for (int j = 0; j < 8; ++j) bytes[i + static_cast<std::size_t>(j)] = static_cast<char>(v >> (8 * j));
  }
  return base64_encode(std::string_view(bytes.data(), bytes.size()));
}

struct dispatcher::impl {
  kinesis& k;
  dispatcher_options opt;

  response handle(const request& req) const;

  // A response skeleton with the headers every response carries.
  response base(const request& req) const {
    response r;
    r.headers.push_back({"x-amzn-RequestId", make_request_id()});
    r.headers.push_back({"x-amz-id-2", make_id_2()});
    if (opt.cors && req.find("origin")) r.headers.push_back({"Access-Control-Allow-Origin", "*"});
    return r;
  }

  response xml(const request& req, unsigned status, std::string body) const {
    response r = base(req);
    r.status = status;
    r.content_type = "application/xml";
    r.body = std::move(body);
    return r;
  }

  // An error in the request's body format. `capital` gives "Message" (type-check failures).
  response fail(const request& req, content_kind kind, std::string_view type, std::string_view message,
                unsigned status = 400, bool capital = false) const {
    response r = base(req);
    r.status = status;
    r.headers.push_back({"x-amzn-ErrorType", std::string(type)});
    json body = json::object();
    if (kind == content_kind::legacy_json) {
      json inner = json::object();
      inner["__type"] = "com.amazon.coral.service#" + std::string(type);
      if (!message.empty()) inner["message"] = std::string(message);
      body["Output"] = std::move(inner);
      body["Version"] = "1.0";
      r.content_type = legacy_json_type;
      r.body = write_body(body, body_format::json);
      return r;
    }
    body["__type"] = std::string(type);
    if (!message.empty()) body[capital ? "Message" : "message"] = std::string(message);
    if (kind == content_kind::json11) {
      r.content_type = json_type;
      r.body = write_body(body, body_format::json);
    } else {
      r.content_type = cbor_type;
      r.body = write_body(body, body_format::cbor);
    }
    return r;
  }

  std::optional<response> check_auth(const request& req, content_kind kind) const {
    const std::string* auth = req.find("authorization");
    bool query_auth = query_has(req.target, "X-Amz-Algorithm");
    if (auth && query_auth) {
      return fail(req, kind, "InvalidSignatureException",
                  "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.");
    }
    if (!auth && !query_auth)
      return fail(req, kind, "MissingAuthenticationTokenException", "Missing Authentication Token");
    std::string msg;
    sigv4_authorization a;
    if (auth) {
      a = parse_authorization(*auth);
      if (a.access_key_id.empty()) msg += "Authorization header requires 'Credential' parameter. ";
      if (a.signature.empty()) msg += "Authorization header requires 'Signature' parameter. ";
      if (a.signed_headers.empty()) msg += "Authorization header requires 'SignedHeaders' parameter. ";
      if (!req.find("x-amz-date") && !req.find("date")) {
        msg += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ";
      }
      if (!msg.empty()) msg += "Authorization=" + *auth;
    } else {
      for (std::string_view p :
           {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"}) {
        if (!query_has(req.target, p)) msg += "AWS query-string parameters must include '" + std::string(p) + "'. ";
      }
      if (!msg.empty()) msg += "Re-examine the query-string parameters.";
    }
    if (!msg.empty()) return fail(req, kind, "IncompleteSignatureException", msg);
    if (!opt.sigv4.verify) return std::nullopt;

    // Verification: the header form, or a presigned request (X-Amz-* in the query).
    std::string date_text;
    std::optional<std::int64_t> expires_s;
    if (auth) {
      const std::string* date = req.find("x-amz-date");
      date_text = date ? *date : std::string();
    } else {
      a = parse_query_authorization(req.target);
      date_text = query_param(req.target, "X-Amz-Date").value_or("");
      if (query_param(req.target, "X-Amz-Algorithm").value_or("") != "AWS4-HMAC-SHA256") {
        return fail(req, kind, "IncompleteSignatureException",
                    "Unsupported AWS 'algorithm': '" + query_param(req.target, "X-Amz-Algorithm").value_or("") + "'");
      }
      if (auto e = query_param(req.target, "X-Amz-Expires")) {
        std::int64_t v = -1;
        if (!e->empty() && e->size() <= 7 &&
            std::all_of(e->begin(), e->end(), [](char c) { return c >= '0' && c <= '9'; })) {
          v = std::stoll(*e);
        }
        if (v < 1 || v > 604800) {
          return fail(req, kind, "IncompleteSignatureException",
                      "X-Amz-Expires must be an integer between 1 and 604800 seconds. Got '" + *e + "'.");
        }
        expires_s = v;
      }
    }
    auto secret = opt.sigv4.credentials.find(a.access_key_id);
    if (secret == opt.sigv4.credentials.end()) {
      return fail(req, kind, "UnrecognizedClientException", "The security token included in the request is invalid.");
    }
    auto when = parse_amz_date(date_text);
    if (!when) {
      return fail(req, kind, "IncompleteSignatureException",
                  "Date must be in ISO-8601 'basic format'. Got '" + date_text + "'.");
    }
    if (opt.clock) {
      std::int64_t now = opt.clock->now().time_since_epoch().count();
      constexpr std::int64_t skew = 15 * 60 * 1000;
      if (expires_s && now > *when + *expires_s * 1000) {
        return fail(req, kind, "InvalidSignatureException",
                    "Signature expired: " + date_text + " is now earlier than " +
                        format_amz_date(now - *expires_s * 1000) + " (" + format_amz_date(now) + " - " +
                        std::to_string(*expires_s) + " sec.)");
      }
      if (!expires_s && *when < now - skew) {
        return fail(req, kind, "InvalidSignatureException",
                    "Signature expired: " + date_text + " is now earlier than " + format_amz_date(now - skew) + " (" +
                        format_amz_date(now) + " - 15 min.)");
      }
      if (*when > now + skew) {
        return fail(req, kind, "InvalidSignatureException",
                    "Signature not yet current: " + date_text + " is still later than " + format_amz_date(now + skew) +
                        " (" + format_amz_date(now) + " + 15 min.)");
      }
    }
    bool valid = sigv4_signature(req, a, secret->second, date_text) == a.signature;
    if (!valid && !auth) {
      // Presigners of other services sign an unsigned payload.
      valid = sigv4_signature(req, a, secret->second, date_text, "UNSIGNED-PAYLOAD") == a.signature;
    }
    if (!valid) {
      return fail(req, kind, "InvalidSignatureException",
                  "The request signature we calculated does not match the signature you provided. Check your AWS "
                  "Secret Access Key and signing method. Consult the service documentation for details.");
    }
    return std::nullopt;
  }

  response handle_inner(const request& req) const {
    const std::string* target_header = req.find("x-amz-target");
    target_parts target = split_target(target_header);
    const std::string* ct = req.find("content-type");
    content_kind kind = kind_of(ct);

    // 1. Method.
    if (req.method == "OPTIONS" && opt.cors) {
      response r = base(req);
      r.headers.push_back({"Access-Control-Allow-Origin", "*"});
      r.headers.push_back({"Access-Control-Max-Age", "172800"});
      if (const std::string* h = req.find("access-control-request-headers")) {
        r.headers.push_back({"Access-Control-Allow-Headers", *h});
      }
      if (const std::string* m = req.find("access-control-request-method")) {
        r.headers.push_back({"Access-Control-Allow-Methods", *m});
      }
      r.content_type = "text/plain";
      return r;
    }
    if (req.method != "POST") {
      return xml(req, 403,
                 "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be "
                 "authorized</Message>\n</AccessDeniedException>\n");
    }

    const operation* op = nullptr;
    if (target.well_formed && target.service == kinesis_prefix) op = find_kinesis_operation(target.operation);
    if (target.well_formed && target.service == firehose_prefix && opt.firehose) {
      op = find_firehose_operation(target.operation);
    }

    // 2. Empty body.
    if (req.body.empty()) {
      content_kind reply = kind == content_kind::json11 ? content_kind::json11 : content_kind::cbor11;
      return fail(req, reply, op ? "SerializationException" : "UnknownOperationException", "");
    }
    // 3. Content type.
    if (kind == content_kind::other) {
      if (!target.well_formed) {
        return xml(req, 403,
                   "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be "
                   "authorized</Message>\n</AccessDeniedException>\n");
      }
      return xml(req, 404, "<UnknownOperationException/>\n");
    }
    // Size (transports refuse larger bodies before reading them; this covers direct calls).
    std::size_t cap = op && op->large_body ? opt.limits.max_body_bytes : opt.limits.max_control_body_bytes;
    if (req.body.size() > std::max(cap, opt.limits.max_control_body_bytes)) {
      return fail(req, kind, "SerializationException",
                  "Request body of " + std::to_string(req.body.size()) + " bytes exceeds the limit of " +
                      std::to_string(cap) + " bytes",
                  413);
    }
    body_format fmt = kind == content_kind::cbor11 ? body_format::cbor : body_format::json;
    // Fast path: a well-formed body of the common shape, with a known target and
    // authorization present, skips the tree (steps 4-8 cannot fail for it).
    if (op && op->fast && opt.fast_paths && kind == content_kind::json11 && !check_auth(req, kind)) {
      if (auto out = op->fast(k, req.body, fmt)) return finish(req, kind, fmt, std::move(*out));
    }
    // 4. Body syntax.
    auto body = parse_body(req.body, fmt);
    if (!body) return fail(req, kind, "SerializationException", "");
    // 5. Target.
    if (!op) {
      unsigned status = kind == content_kind::legacy_json ? 404 : 400;
      return fail(req, kind, "UnknownOperationException", "", status);
    }
    // 6. Authorization.
    if (auto refused = check_auth(req, kind)) return std::move(*refused);
    // 7–9. Member types, required members, the operation.
    if (!body->is_object()) {
      return fail(req, kind, "SerializationException",
                  body->is_array() ? "Start of list found where not expected" : "Unexpected value type in payload", 400,
                  true);
    }
    reader_state state;
    reader in(*body, fmt, state);
    op_result out = op->firehose ? op->firehose(*opt.firehose, in) : op->fn(k, in);
    if (state.type_error) return fail(req, kind, "SerializationException", *state.type_error, 400, true);
    return finish(req, kind, fmt, std::move(out));
  }

  response finish(const request& req, content_kind kind, body_format fmt, op_result out) const {
    if (!out) {
      const error& e = out.error();
      unsigned status = e.code() == error_code::internal_failure ? 500 : 400;
      return fail(req, kind, e.name(), e.message(), status);
    }
    response r = base(req);
    r.content_type = kind == content_kind::json11   ? std::string(json_type)
                     : kind == content_kind::cbor11 ? std::string(cbor_type)
                                                    : std::string(legacy_json_type);
    if (out->stream) {
      r.content_type = "application/vnd.amazon.eventstream";
      r.stream = std::move(out->stream);
    } else if (out->raw) {
      r.body = std::move(*out->raw);
    } else if (out->tree) {
      write_body(*out->tree, fmt, r.body);
    }
    return r;
  }
};

response dispatcher::impl::handle(const request& req) const {
  response r = handle_inner(req);
  if (opt.metrics) {
    // Requests per operation, and the 4xx and 5xx answers among them (namespace rill/Server).
    std::string_view op = "Unknown";
    if (const std::string* t = req.find("x-amz-target")) {
      auto dot = t->find('.');
      if (dot != std::string::npos) op = std::string_view(*t).substr(dot + 1);
      if (op.size() > 64) op = "Unknown";
    }
    const metric_dimension dims[] = {{"Operation", std::string(op)}};
    opt.metrics->put("rill/Server", "Requests", dims, 1, "Count");
    if (r.status >= 400 && r.status < 500) opt.metrics->put("rill/Server", "ClientErrors", dims, 1, "Count");
    if (r.status >= 500) opt.metrics->put("rill/Server", "ServerErrors", dims, 1, "Count");
  }
  return r;
}

dispatcher::dispatcher(rill::kinesis& kinesis, dispatcher_options options)
    : impl_(std::make_unique<impl>(impl{kinesis, std::move(options)})) {}
dispatcher::~dispatcher() = default;

response dispatcher::handle(const request& req) const { return impl_->handle(req); }

std::size_t dispatcher::body_limit(std::string_view x_amz_target) const noexcept {
  auto dot = x_amz_target.find('.');
  if (dot != std::string_view::npos) {
    auto service = x_amz_target.substr(0, dot);
    const operation* op = service == kinesis_prefix    ? find_kinesis_operation(x_amz_target.substr(dot + 1))
                          : service == firehose_prefix ? find_firehose_operation(x_amz_target.substr(dot + 1))
                                                       : nullptr;
    if (op && !op->large_body) return impl_->opt.limits.max_control_body_bytes;
  }
  return std::max(impl_->opt.limits.max_body_bytes, impl_->opt.limits.max_control_body_bytes);
}

}  // namespace rill::wire
