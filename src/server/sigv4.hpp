// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// AWS Signature Version 4 over the requests of wire.hpp: parsing the
// Authorization header (the region comes from its credential scope), computing
// the signature (HMAC-SHA256 via OpenSSL) to verify it, and signing (for tests
// and the `rill` CLI's endpoint client).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "server/wire.hpp"

namespace rill::wire {

struct sigv4_authorization {
  std::string access_key_id;
  std::string date;  ///< yyyymmdd of the credential scope
  std::string region;
  std::string service;
  std::string signed_headers;  ///< "content-type;host;x-amz-date"
  std::string signature;       ///< lower-case hex
};

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request,
/// SignedHeaders=a;b, Signature=hex`. Parameters missing from it are left empty.
sigv4_authorization parse_authorization(std::string_view header);

/// The signature of `req` under `secret`, for the scope and signed headers of `auth`
/// and the request time `amz_date` (yyyymmddThhmmssZ). The payload hash is
/// `payload_hash` if given, else the X-Amz-Content-Sha256 header, else SHA-256 of the body.
std::string sigv4_signature(const request& req, const sigv4_authorization& auth, std::string_view secret,
                            std::string_view amz_date, std::optional<std::string_view> payload_hash = std::nullopt);

/// The decoded value of a query-string parameter of `target` ("/?a=b&c=d"), or nullopt.
std::optional<std::string> query_param(std::string_view target, std::string_view name);

/// The SigV4 parameters of a presigned (query-string) request: X-Amz-Credential
/// (AKID/date/region/service/aws4_request), X-Amz-SignedHeaders, X-Amz-Signature.
sigv4_authorization parse_query_authorization(std::string_view target);

/// Presigns `req` (tests): appends X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
/// X-Amz-Expires, X-Amz-SignedHeaders=host and X-Amz-Signature to its target.
void sigv4_presign(request& req, std::string_view access_key_id, std::string_view secret, std::string_view region,
                   std::string_view service, std::string_view amz_date, int expires_seconds);

/// Adds X-Amz-Date, Host (if absent) and Authorization to `req`.
void sigv4_sign(request& req, std::string_view access_key_id, std::string_view secret, std::string_view region,
                std::string_view service, std::string_view amz_date);

/// Lower-case hex SHA-256.
std::string sha256_hex(std::string_view data);

}  // namespace rill::wire
