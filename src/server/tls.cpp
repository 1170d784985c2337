// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "server/tls.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace rill::wire {
namespace {

template <class T, void (*F)(T*)>
struct deleter {
  void operator()(T* p) const { F(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;

std::string bio_string(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

error failure(const char* what) { return error(error_code::internal_failure, std::string("TLS: ") + what); }

}  // namespace

result<pem_pair> make_self_signed_certificate(timestamp not_before) {
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) return failure("cannot generate a key");
  x509_ptr cert(X509_new());
  if (!cert) return failure("cannot allocate a certificate");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(not_before.time_since_epoch()).count();
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(secs - 3600));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(secs + 10LL * 365 * 24 * 3600));
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("rill"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!ext) return failure("cannot build an extension");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return failure("cannot sign the certificate");

  bio_ptr cb(BIO_new(BIO_s_mem()));
  bio_ptr kb(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(cb.get(), cert.get())) return failure("cannot write the certificate");
  if (!PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr)) {
    return failure("cannot write the key");
  }
  return pem_pair{bio_string(cb.get()), bio_string(kb.get())};
}

}  // namespace rill::wire
