#!/usr/bin/env bash
# metsentry build script. Subcommands:
#   deps    install what builds and tests need (Debian packages, staticcheck,
#           ONNX Runtime 1.24.1 for linux x64 and arm64 from npm, sha256-checked)
#   test    deps, a check that APT_PACKAGES covers every program and Python
#           module used, then gofmt, go vet, staticcheck, cgo isolation, go mod tidy,
#           go test -race ./..., then without -race the packages holding
#           //go:build !race tests (the README's test command; CI runs only this)
#   build   host binaries into bin/
#   cross   linux/arm64 binaries (cgo, aarch64-linux-gnu-gcc) into bin/linux-arm64/
#   package the metsentry .deb for amd64 and arm64 into dist/ (tools/mkdeb)
#   demo    the main job on the simulator board
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$root"

# ---- pinned versions --------------------------------------------------------
ORT_VERSION=1.24.1
ORT_NPM_SHA256=57181cf6e6e711b155c5b942d591fd63ded0b5de5c4922d51fd994e7f6ac2772
ORT_X64_SHA256=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
ORT_ARM64_SHA256=7954e8bdedb497f830c6a679e818d98399b7f4d81ade1126c3e0be74d28111ab
STATICCHECK_VERSION=v0.8.2 # honnef.co/go/tools
APT_PACKAGES=(
  dcmtk            # echoscu, storescu, storescp, dcmsend, dsrdump, dcmconv: real DICOM peers
  orthanc          # a real PACS on loopback
  dicom3tools      # dciodvfy, dcentvfy: validate the objects we write
  pixelmed-apps libpixelmed-java openjdk-17-jre-headless # TID 1500 structured report validator (java)
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross # cross-compiling the cgo runtime for Jetson
  python3 python3-minimal python3-torch python3-numpy python3-onnx # runtime/bench: PyTorch against ONNX Runtime; runtime/testdata and models/recipe scripts
  systemd          # systemd-analyze verify: the unit in the .deb (tools/mkdeb)
  strace           # tools/dimsebench -strace: the daemon's syncs per instance
  file socat iproute2 util-linux ca-certificates
)

cache=${METSENTRY_CACHE:-$root/.cache}
ortdir=$cache/ort/$ORT_VERSION
export PATH="$cache/bin:/usr/local/go/bin:$PATH"
export METSENTRY_ORT_LIB=${METSENTRY_ORT_LIB:-$ortdir/linux-x64/libonnxruntime.so.1}

say() { printf '\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

deps_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "apt-get install ${missing[*]}"
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand (Debian 12 package names)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq || die "apt-get update failed: is the Debian package mirror reachable?"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed (see the messages above)"
}

deps_ort() {
  if sha_ok "$ortdir/linux-x64/libonnxruntime.so.1" "$ORT_X64_SHA256" &&
     sha_ok "$ortdir/linux-arm64/libonnxruntime.so.1" "$ORT_ARM64_SHA256"; then
    return 0
  fi
  say "fetching ONNX Runtime $ORT_VERSION (npm onnxruntime-node@$ORT_VERSION)"
  command -v npm >/dev/null || die "npm not found: it is needed once to fetch onnxruntime-node@$ORT_VERSION"
  ort_tmp=$(mktemp -d)
  local tmp=$ort_tmp
  trap 'rm -rf "${ort_tmp:-}"' EXIT
  # npm pack only downloads the tarball; npm install would run its install
  # script, which reaches hosts this network cannot.
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null 2>"$tmp/npm.err") \
    || die "cannot fetch onnxruntime-node@$ORT_VERSION from the npm registry (is it reachable?): $(tail -3 "$tmp/npm.err")"
  sha_ok "$tmp/onnxruntime-node-$ORT_VERSION.tgz" "$ORT_NPM_SHA256" \
    || die "onnxruntime-node-$ORT_VERSION.tgz has sha256 $(sha256sum "$tmp"/*.tgz | cut -d' ' -f1), expected $ORT_NPM_SHA256: refusing it"
  tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" \
    package/bin/napi-v6/linux/x64/libonnxruntime.so.1 package/bin/napi-v6/linux/arm64/libonnxruntime.so.1
  for a in x64 arm64; do
    mkdir -p "$ortdir/linux-$a"
    install -m 0644 "$tmp/package/bin/napi-v6/linux/$a/libonnxruntime.so.1" "$ortdir/linux-$a/libonnxruntime.so.1.tmp"
    mv "$ortdir/linux-$a/libonnxruntime.so.1.tmp" "$ortdir/linux-$a/libonnxruntime.so.1"
  done
  sha_ok "$ortdir/linux-x64/libonnxruntime.so.1" "$ORT_X64_SHA256" || die "linux-x64 libonnxruntime.so.1 sha256 mismatch"
  sha_ok "$ortdir/linux-arm64/libonnxruntime.so.1" "$ORT_ARM64_SHA256" || die "linux-arm64 libonnxruntime.so.1 sha256 mismatch"
}

deps_go() {
  command -v go >/dev/null || die "go not found: install Go 1.26 (/usr/local/go)"
  if ! [ -x "$cache/bin/staticcheck" ] || ! "$cache/bin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
    say "installing staticcheck $STATICCHECK_VERSION"
    GOBIN="$cache/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" \
      || die "cannot install staticcheck $STATICCHECK_VERSION from the Go module proxy (is it reachable?)"
  fi
  go mod download || die "go mod download failed: is the Go module proxy reachable?"
}

cmd_deps() { deps_apt; deps_go; deps_ort; }

# cgo (ONNX Runtime, the AMX guard) is allowed only in runtime/ and in the mains
# that link it: every other package must build with CGO_ENABLED=0.
cgo_check() {
  local listing bad pure
  listing=$(go list -f '{{.ImportPath}} {{.Name}} {{if .CgoFiles}}cgo{{else}}-{{end}} {{join .Deps " "}}' ./...)
  # cgo packages: our own with cgo files, and github.com/yalue/onnxruntime_go.
  local cgo_re
  cgo_re=$(echo "$listing" | awk '$3 == "cgo" {printf "%s|", $1}')"github.com/yalue/onnxruntime_go"
  bad=$(echo "$listing" | awk -v re="^($cgo_re)$" '
    $2 != "main" && $1 !~ /^metsentry\/runtime\// {
      if ($3 == "cgo") { print $1; next }
      for (i = 4; i <= NF; i++) if ($i ~ re) { print $1; next }
    }')
  [ -z "$bad" ] || die "only runtime/ may use cgo or import ONNX Runtime; these do: $bad"
  pure=$(echo "$listing" | awk -v re="^($cgo_re)$" '
    $2 != "main" && $3 != "cgo" {
      for (i = 4; i <= NF; i++) if ($i ~ re) next
      print $1
    }')
  CGO_ENABLED=0 go build $pure || die "a package that should be pure Go does not build with CGO_ENABLED=0"
}

cmd_test() {
  cmd_deps
  # Static, so a package installed by hand on this machine cannot hide a gap
  # in APT_PACKAGES: every program the Go code runs and every module a Python
  # script imports must be provided by a listed package (firmware/testenv).
  say "build.sh installs every program and Python module the tests, tools and scripts use"
  go test -count=1 -run '^TestDeps' ./firmware/testenv \
    || die "a program or Python module is not provided by a package in APT_PACKAGES (see above): add the package and run again"
  say "gofmt -s"
  local unformatted; unformatted=$(gofmt -s -l $(git ls-files -co --exclude-standard '*.go'))
  [ -z "$unformatted" ] || die "gofmt -s would change: $unformatted"
  say "go vet";        go vet ./...
  say "staticcheck";   staticcheck ./...
  say "cgo only in runtime/"; cgo_check
  say "go mod tidy";   go mod tidy -diff || die "go mod tidy would change go.mod/go.sum (run go mod tidy and commit)"
  say "go test -race"; go test -race -timeout 25m ./...
  # Tests too slow under the race detector carry //go:build !race; they run
  # once more without it, and only they: the rest of their packages (the
  # crash tests, 11 minutes) already ran under -race.
  local files; files=$(git ls-files -co --exclude-standard '*_test.go' | xargs grep -l '^//go:build !race')
  if [ -n "$files" ]; then
    local norace; norace=$(echo "$files" | xargs -r -n1 dirname | sort -u | sed 's|^|./|')
    local names; names=$(grep -ho '^func \(Test\|Fuzz\|Example\)[A-Za-z0-9_]*' $files | awk '{print $2}' | sort -u | paste -sd'|')
    say "go test (without -race): the //go:build !race tests of $(echo $norace)"
    go test -timeout 10m -run "^(${names})\$" $norace
  fi
}

mains() { go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./...; }

cmd_build() {
  deps_go; deps_ort
  mkdir -p bin
  go build -o bin/ $(mains)
  say "built: $(ls bin | grep -v '^linux-' | tr '\n' ' ')"
}

cmd_cross() {
  command -v aarch64-linux-gnu-gcc >/dev/null || deps_apt
  mkdir -p bin/linux-arm64
  CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc go build -o bin/linux-arm64/ $(mains)
  local f
  for f in bin/linux-arm64/*; do
    file "$f" | grep -q 'ARM aarch64' || die "$f is not an ARM aarch64 binary: $(file "$f")"
    echo "$(file "$f")"
  done
}

# The .deb for both architectures: metsentryd built for each, ONNX Runtime
# from the cache, the models and the systemd unit (tools/mkdeb). The version
# is METSENTRY_VERSION or 0.1.0+git<commit date>.<commit>; file times are the
# commit's, so one commit gives the same packages.
cmd_package() {
  deps_go; deps_ort
  command -v aarch64-linux-gnu-gcc >/dev/null || deps_apt
  [ "$(go env GOARCH)" = amd64 ] || die "package builds on an amd64 machine (this one is $(go env GOARCH))"
  local version
  version=${METSENTRY_VERSION:-0.1.0+git$(git log -1 --format=%cd.%h --date=format:%Y%m%d)}
  git diff --quiet HEAD -- || version=$version.dirty
  export SOURCE_DATE_EPOCH; SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
  pkg_stage=$(mktemp -d)
  local stage=$pkg_stage
  trap 'rm -rf "${ort_tmp:-}" "${pkg_stage:-}"' EXIT
  say "metsentryd and metctl for amd64 and arm64"
  go build -o "$stage/amd64/metsentryd" ./firmware/cmd/metsentryd
  CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc go build -o "$stage/arm64/metsentryd" ./firmware/cmd/metsentryd
  CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o "$stage/amd64/metctl" ./tools/metctl
  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -o "$stage/arm64/metctl" ./tools/metctl
  go build -o "$stage/mkdeb" ./tools/mkdeb
  mkdir -p dist
  "$stage/mkdeb" -arch amd64 -version "$version" -daemon "$stage/amd64/metsentryd" -ctl "$stage/amd64/metctl" -ort "$ortdir/linux-x64/libonnxruntime.so.1" -out dist
  "$stage/mkdeb" -arch arm64 -version "$version" -daemon "$stage/arm64/metsentryd" -ctl "$stage/arm64/metctl" -ort "$ortdir/linux-arm64/libonnxruntime.so.1" -out dist
}

cmd_demo() {
  deps_apt # storescu and echoscu play the scanner console
  cmd_build
  bash "$root/tools/demo/demo.sh"
}

case "${1:-}" in
  deps) cmd_deps ;;
  test) cmd_test ;;
  build) cmd_build ;;
  cross) cmd_cross ;;
  package) cmd_package ;;
  demo) cmd_demo ;;
  *) echo "usage: ./build.sh deps|test|build|cross|package|demo" >&2; exit 2 ;;
esac
