# shellcheck shell=bash
# Shared by tools/demo and tools/test (sourced, not run). Makes sure the Debian 12
# packages rill builds with are installed, and says how to configure a build.

# The packages, and what each is for: see "Dependencies" in README.md.
RILL_PACKAGES=(
  cmake g++ ninja-build
  libboost-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libssl-dev
  libgtest-dev libbenchmark-dev
  zlib1g-dev libsnappy-dev libzstd-dev libisal-dev pkg-config
  libprotobuf-dev protobuf-compiler
  libnghttp2-dev libcbor-dev libcli11-dev
)
# Tools the tests drive (each test skips with a message when its tool is absent;
# CI installs them so that the tests do run): decompressors for the delivery
# streams' objects, clang for the libFuzzer targets.
RILL_TEST_PACKAGES=(
  gzip unzip zstd python3 python3-snappy clang
  golang-go golang-github-aws-aws-sdk-go-v2-dev
)

# The root of the repository (this file is tools/lib/deps.sh).
RILL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

rill_log() { printf '\n==> %s\n' "$*"; }

# Prints the packages of RILL_PACKAGES that are not installed, one per line.
rill_missing_packages() {
  local p
  for p in "${RILL_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      echo "$p"
    fi
  done
}

# Installs what is missing when run as root; otherwise says what to install and exits 1.
rill_ensure_deps() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "warning: not a Debian system; make sure these (or their equivalents) are installed:" >&2
    echo "  ${RILL_PACKAGES[*]}" >&2
    return 0
  fi
  local missing
  mapfile -t missing < <(rill_missing_packages)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "rill needs these Debian packages, which are not installed: ${missing[*]}" >&2
    echo "Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  rill_log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
}

# Installs the test tools of RILL_TEST_PACKAGES that are missing (root only;
# otherwise the tests that need them skip with a message), and Node.js when no
# `node` is on the PATH.
rill_ensure_test_tools() {
  command -v dpkg-query >/dev/null 2>&1 || return 0
  [[ "$(id -u)" -eq 0 ]] || return 0
  local p missing=()
  for p in "${RILL_TEST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
  ((${#missing[@]} == 0)) && return 0
  rill_log "installing test tools: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}" ||
    echo "warning: could not install ${missing[*]}; the tests that need them will skip" >&2
}

# Installs the npm packages of the tests that drive rill with real clients
# (tests/*/node/package.json: aws-kinesis-agg, the AWS SDK for JavaScript v3, …).
# Never used by the library itself. Failures are reported; those tests then skip.
rill_ensure_node_packages() {
  command -v npm >/dev/null 2>&1 || return 0
  local dir
  for dir in "$RILL_ROOT"/tests/*/node; do
    [[ -f "$dir/package.json" ]] || continue
    if [[ -d "$dir/node_modules" ]]; then continue; fi
    rill_log "npm install in ${dir#"$RILL_ROOT"/}"
    if [[ -f "$dir/package-lock.json" ]]; then
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || echo "warning: npm ci failed in $dir" >&2
    else
      (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) || echo "warning: npm install failed in $dir" >&2
    fi
  done
}

# Configures the build tree $1 with the remaining arguments as cache settings.
# Uses Ninja when available (and the tree is new: a tree keeps its generator).
rill_configure() {
  local dir="$1"
  shift
  local generator=()
  if [[ ! -f "$dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
  fi
  cmake -S "$RILL_ROOT" -B "$dir" "${generator[@]}" "$@"
}

# ON when the benchmarks can be built (bench/CMakeLists.txt exists), else OFF
# with a note: lets the tools run on trees where bench/ is still empty.
rill_bench_option() {
  if [[ -f "$RILL_ROOT/bench/CMakeLists.txt" ]]; then
    echo ON
  else
    echo "note: bench/CMakeLists.txt not found; configuring without the benchmarks" >&2
    echo OFF
  fi
}
