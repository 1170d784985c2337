// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A self-signed certificate for tests and local use (EC P-256, CN=localhost,
// subjectAltName DNS:localhost and IP:127.0.0.1, valid for ten years from its
// notBefore, which is the `not_before` given, from the server's clock).
#pragma once

#include <string>

#include "rill/error.hpp"
#include "rill/types.hpp"

namespace rill::wire {

struct pem_pair {
  std::string certificate;
  std::string private_key;
};

result<pem_pair> make_self_signed_certificate(timestamp not_before);

}  // namespace rill::wire
