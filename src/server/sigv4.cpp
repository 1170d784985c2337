// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "server/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <map>
#include <vector>

namespace rill::wire {
namespace {

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = digits[p[i] >> 4];
    s[2 * i + 1] = digits[p[i] & 15];
  }
  return s;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Header value as SigV4 canonicalizes it: trimmed, inner runs of spaces collapsed.
std::string canonical_value(std::string_view v) {
  v = trim(v);
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  return out;
}

std::string uri_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto val = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      int a = val(s[i + 1]), b = val(s[i + 2]);
      if (a >= 0 && b >= 0) {
        out.push_back(static_cast<char>(a * 16 + b));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

std::string canonical_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string k = uri_decode(part.substr(0, eq));
    std::string v = eq == std::string_view::npos ? std::string{} : uri_decode(part.substr(eq + 1));
    if (k == "X-Amz-Signature") continue;
    params.emplace_back(uri_encode(k, false), uri_encode(v, false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += k + "=" + v;
  }
  return out;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  return hex(d, sizeof d);
}

sigv4_authorization parse_authorization(std::string_view h) {
  sigv4_authorization a;
  // Skip the algorithm, then read comma- or space-separated key=value parameters.
  auto sp = h.find(' ');
  std::string_view rest = sp == std::string_view::npos ? std::string_view{} : h.substr(sp + 1);
  while (!rest.empty()) {
    auto end = rest.find_first_of(", ");
    std::string_view part = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = part.substr(0, eq), v = part.substr(eq + 1);
    if (k == "Credential") {
      // AKID/date/region/service/aws4_request
      std::string_view parts[5];
      int n = 0;
      while (n < 5) {
        auto slash = v.find('/');
        parts[n++] = v.substr(0, slash);
        if (slash == std::string_view::npos) break;
        v = v.substr(slash + 1);
      }
      a.access_key_id = parts[0];
      if (n > 1) a.date = parts[1];
      if (n > 2) a.region = parts[2];
      if (n > 3) a.service = parts[3];
    } else if (k == "SignedHeaders") {
      a.signed_headers = v;
    } else if (k == "Signature") {
      a.signature = v;
    }
  }
  return a;
}

std::string sigv4_signature(const request& req, const sigv4_authorization& auth, std::string_view secret,
                            std::string_view amz_date, std::optional<std::string_view> payload_hash) {
  std::string_view target = req.target;
  auto qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  std::string_view query = qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1);
  if (path.empty()) path = "/";

  std::string canonical = req.method + "\n" + uri_encode(uri_decode(path), true) + "\n" + canonical_query(query) + "\n";
  std::string_view names = auth.signed_headers;
  while (!names.empty()) {
    auto semi = names.find(';');
    std::string name(names.substr(0, semi));
    names = semi == std::string_view::npos ? std::string_view{} : names.substr(semi + 1);
    std::string value;
    bool first = true;
    for (const auto& h : req.headers) {
      if (h.name != name) continue;
      if (!first) value.push_back(',');
      first = false;
      value += canonical_value(h.value);
    }
    canonical += name + ":" + value + "\n";
  }
  canonical += "\n" + auth.signed_headers + "\n";
  const std::string* content_sha = req.find("x-amz-content-sha256");
  canonical += payload_hash ? std::string(*payload_hash) : content_sha ? *content_sha : sha256_hex(req.body);

  std::string scope = auth.date + "/" + auth.region + "/" + auth.service + "/aws4_request";
  std::string to_sign = "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + scope + "\n" + sha256_hex(canonical);
  std::string key = hmac("AWS4" + std::string(secret), auth.date);
  key = hmac(key, auth.region);
  key = hmac(key, auth.service);
  key = hmac(key, "aws4_request");
  std::string sig = hmac(key, to_sign);
  return hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
}

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    auto eq = part.find('=');
    if (uri_decode(part.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string{} : uri_decode(part.substr(eq + 1));
    }
  }
  return std::nullopt;
}

sigv4_authorization parse_query_authorization(std::string_view target) {
  sigv4_authorization a;
  if (auto cred = query_param(target, "X-Amz-Credential")) {
    // The header parser reads the same Credential grammar.
    a = parse_authorization("AWS4-HMAC-SHA256 Credential=" + *cred);
  }
  a.signed_headers = query_param(target, "X-Amz-SignedHeaders").value_or("");
  a.signature = query_param(target, "X-Amz-Signature").value_or("");
  return a;
}

void sigv4_presign(request& req, std::string_view access_key_id, std::string_view secret, std::string_view region,
                   std::string_view service, std::string_view amz_date, int expires_seconds) {
  if (!req.find("host")) req.headers.push_back({"host", "localhost"});
  sigv4_authorization auth;
  auth.access_key_id = access_key_id;
  auth.date = std::string(amz_date.substr(0, 8));
  auth.region = region;
  auth.service = service;
  auth.signed_headers = "host";
  std::string credential =
      auth.access_key_id + "/" + auth.date + "/" + auth.region + "/" + auth.service + "/aws4_request";
  req.target += req.target.find('?') == std::string::npos ? "?" : "&";
  req.target += "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + uri_encode(credential, false) +
                "&X-Amz-Date=" + std::string(amz_date) + "&X-Amz-Expires=" + std::to_string(expires_seconds) +
                "&X-Amz-SignedHeaders=host";
  req.target += "&X-Amz-Signature=" + sigv4_signature(req, auth, secret, amz_date);
}

void sigv4_sign(request& req, std::string_view access_key_id, std::string_view secret, std::string_view region,
                std::string_view service, std::string_view amz_date) {
  if (!req.find("host")) req.headers.push_back({"host", "localhost"});
  req.headers.push_back({"x-amz-date", std::string(amz_date)});
  std::vector<std::string> names;
  for (const auto& h : req.headers) {
    if (h.name == "authorization") continue;
    names.push_back(h.name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  sigv4_authorization auth;
  auth.access_key_id = access_key_id;
  auth.date = std::string(amz_date.substr(0, 8));
  auth.region = region;
  auth.service = service;
  for (const auto& n : names) {
    if (!auth.signed_headers.empty()) auth.signed_headers.push_back(';');
    auth.signed_headers += n;
  }
  std::string sig = sigv4_signature(req, auth, secret, amz_date);
  req.headers.push_back({"authorization", "AWS4-HMAC-SHA256 Credential=" + std::string(access_key_id) + "/" +
                                              auth.date + "/" + auth.region + "/" + auth.service +
                                              "/aws4_request, SignedHeaders=" + auth.signed_headers +
                                              ", Signature=" + sig});
}

}  // namespace rill::wire
