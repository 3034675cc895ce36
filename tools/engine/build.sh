#!/usr/bin/env bash
# Builds the engine tier's Pulumi engine from the Go module proxy and prints its bin directory (one
# absolute path, the last line of stdout) to put first on PATH:
#
#   pulumi                   the real CLI, github.com/pulumi/pulumi/pkg/v3 v3.274.1 (cli/)
#   pulumi-language-python   our Python language host (plugins/)
#   pulumi-resource-docker   the kreuzwerker Terraform provider through the Pulumi Terraform bridge,
#                            with pulumi-docker 5.2.0's tokens and names (docker/)
#   pulumi-resource-command  our stand-ins for pulumi-command 1.2.1, pulumi-random 4.21.4 and
#   pulumi-resource-random   pulumi-tls 5.6.2, limited to what the OpenWhisk program uses (plugins/)
#   pulumi-resource-tls
#
# The binaries are cached in ${OPENWHISK_ENGINE_CACHE:-/var/cache/openwhisk-pulumi/engine}/<key>/bin,
# keyed by the versions and a hash of tools/engine's sources: a warm run only checks them.
#
#   tools/engine/build.sh           build if needed, print the bin directory
#   tools/engine/build.sh --check   exit 0 (printing the bin directory) if the cache is warm, else 1
#
# A Pulumi CLI v3.272.0 or newer found on PATH with all five plugins beside it is used instead of
# a build. See tools/engine/README.md.
set -euo pipefail

PULUMI_VERSION=v3.274.1
GO_WANT=go1.26

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
    echo "tools/engine/build.sh: error: $*" >&2
    exit 1
}
say() { echo "tools/engine/build.sh: $*" >&2; }

mode=build
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (use --check or nothing)" ;;
esac

# --- an engine already on PATH --------------------------------------------------------------------
# A Pulumi CLI of the SDK's version or newer, with the Python language host and the four resource
# plugins beside it on PATH, is used as it is (OPENWHISK_ENGINE_FROM_PATH=no always builds): the
# bin directory printed is a directory of links to them, so that it can go first on PATH.
PULUMI_MIN=3.272.0
ENGINE_BINARIES="pulumi pulumi-language-python pulumi-resource-docker pulumi-resource-command pulumi-resource-random pulumi-resource-tls"
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }
if [ "${OPENWHISK_ENGINE_FROM_PATH:-auto}" != no ] && command -v pulumi >/dev/null 2>&1; then
    found=$(pulumi version 2>/dev/null | sed 's/^v//' || true)
    missing=""
    for b in $ENGINE_BINARIES; do command -v "$b" >/dev/null 2>&1 || missing="$missing $b"; done
    if [ -n "$found" ] && version_at_least "$found" "$PULUMI_MIN" && [ -z "$missing" ]; then
        links="${OPENWHISK_ENGINE_CACHE:-/var/cache/openwhisk-pulumi/engine}/from-path/bin"
        mkdir -p "$links"
        for b in $ENGINE_BINARIES; do ln -sfn "$(command -v "$b")" "$links/$b"; done
        say "using the Pulumi CLI v$found and its plugins found on PATH"
        echo "$links"
        exit 0
    fi
fi

# --- the Go toolchain ----------------------------------------------------------------------------
go_bin=""
for candidate in "${GO:-}" /usr/local/go/bin/go "$(command -v go 2>/dev/null || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then go_bin=$candidate; break; fi
done
# Never let go.mod's `go` line trigger a toolchain download; never pick up vendoring from outside.
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
if [ -n "$go_bin" ]; then
    go_version=$("$go_bin" env GOVERSION 2>/dev/null || true)
    go_platform=$("$go_bin" env GOOS 2>/dev/null)-$("$go_bin" env GOARCH 2>/dev/null)
else
    go_version=none
    go_platform=$(uname -s | tr 'A-Z' 'a-z')-$(uname -m)
fi

# --- the cache key -------------------------------------------------------------------------------
# Everything that changes a binary: our sources (go.mod, go.sum, Go and Python files, this script),
# the Go version and the platform. The README is not part of it.
src_hash=$(
    cd "$here"
    find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '*.py' -o -name 'build.sh' \) \
        -not -path '*/testdata/*' | LC_ALL=C sort | while read -r f; do
            printf '%s\n' "$f"
            cat "$f"
        done | sha256sum | cut -c1-16
)
key="pulumi-${PULUMI_VERSION}-${go_version}-${go_platform}-${src_hash}"

cache_root=${OPENWHISK_ENGINE_CACHE:-/var/cache/openwhisk-pulumi/engine}
if [ -z "${OPENWHISK_ENGINE_CACHE:-}" ] && ! { mkdir -p "$cache_root" 2>/dev/null && [ -w "$cache_root" ]; }; then
    # Not root: fall back to the user's cache directory.
    cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/openwhisk-pulumi/engine
fi
dest="$cache_root/$key"
bin="$dest/bin"

# name=expected `--version` output (pulumi is asked `pulumi version`)
expected=(
    "pulumi=$PULUMI_VERSION"
    "pulumi-language-python=${PULUMI_VERSION#v}"
    "pulumi-resource-docker=5.2.0"
    "pulumi-resource-command=1.2.1"
    "pulumi-resource-random=4.21.4"
    "pulumi-resource-tls=5.6.2"
)

# warm DIR: every binary is there, executable, and answers its version.
warm() {
    local dir=$1 entry name want got
    for entry in "${expected[@]}"; do
        name=${entry%%=*}
        want=${entry#*=}
        [ -x "$dir/$name" ] || return 1
        if [ "$name" = pulumi ]; then
            got=$(PULUMI_SKIP_UPDATE_CHECK=1 "$dir/$name" version 2>/dev/null </dev/null) || return 1
        else
            got=$("$dir/$name" --version 2>/dev/null </dev/null) || return 1
        fi
        [ "$got" = "$want" ] || return 1
    done
}

if warm "$bin"; then
    touch "$dest" 2>/dev/null || true # last use, for pruning
    echo "$bin"
    exit 0
fi
if [ "$mode" = check ]; then
    echo "tools/engine/build.sh: the engine cache is cold (no working build at $bin)" >&2
    exit 1
fi

# --- build ---------------------------------------------------------------------------------------
[ -n "$go_bin" ] || die "no Go toolchain: install Go 1.26 (/usr/local/go/bin/go) or set GO=/path/to/go"
case "$go_version" in
    "$GO_WANT"|"$GO_WANT".*) ;;
    *) die "Go $GO_WANT.x is required, found '$go_version' at $go_bin" ;;
esac
mkdir -p "$cache_root" || die "cannot create the cache directory $cache_root (set OPENWHISK_ENGINE_CACHE)"

# One build at a time per cache: a second caller waits, then finds the cache warm.
exec 9>"$cache_root/.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
    if warm "$bin"; then
        echo "$bin"
        exit 0
    fi
fi

# Go's own caches may sit in their default places (outside the work tree); make sure they resolve
# even without a HOME.
if [ -z "$("$go_bin" env GOCACHE 2>/dev/null || true)" ]; then export GOCACHE="$cache_root/go-build"; fi
if [ -z "$("$go_bin" env GOMODCACHE 2>/dev/null || true)" ]; then export GOPATH="$cache_root/gopath"; fi

work="$cache_root/.$key.partial.$$"
rm -rf "$cache_root"/.*.partial.* 2>/dev/null || true
mkdir -p "$work/bin"
trap 'rm -rf "$work"' EXIT

build() { # build MODULE_DIR OUTPUT PACKAGE [extra go build flags...]
    local module=$1 out=$2 pkg=$3
    shift 3
    local started=$SECONDS
    say "building $out from $module ($pkg)"
    (cd "$here/$module" && "$go_bin" build -trimpath "$@" -o "$work/bin/$out" "$pkg") >&2 \
        || die "building $out failed (see the Go output above)"
    say "built $out in $((SECONDS - started))s"
}

SECONDS=0
say "cold cache: building the engine into $dest (this takes several minutes on 2 cores)"
build plugins pulumi-language-python ./cmd/pulumi-language-python -ldflags "-s -w"
build plugins pulumi-resource-command ./cmd/pulumi-resource-command -ldflags "-s -w"
build plugins pulumi-resource-random ./cmd/pulumi-resource-random -ldflags "-s -w"
build plugins pulumi-resource-tls ./cmd/pulumi-resource-tls -ldflags "-s -w"
# no_compose: leave out the provider's docker_compose resource (not bridged; heavy to build).
build docker pulumi-resource-docker . -tags no_compose -ldflags "-s -w"
build cli pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"

warm "$work/bin" || die "the freshly built binaries do not answer their versions as expected"
cat >"$work/BUILD-INFO" <<EOF
key: $key
go: $go_version ($go_bin)
built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${SECONDS}s
pulumi: github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION
pulumi-resource-docker: github.com/kreuzwerker/terraform-provider-docker via github.com/pulumi/pulumi-terraform-bridge/v3 (see docker/go.mod)
stand-ins: pulumi-language-python, pulumi-resource-command, pulumi-resource-random, pulumi-resource-tls (plugins/)
EOF
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
# Keep the three most recently used builds (each is about 290 MB); remove older ones.
ls -1dt "$cache_root"/pulumi-* 2>/dev/null | tail -n +4 | while read -r old; do
    say "removing the old build $old"
    rm -rf "$old"
done
say "engine ready in ${SECONDS}s"
echo "$bin"
