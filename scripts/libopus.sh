#!/usr/bin/env bash
# libopus.sh — what `make libopus` runs: the `-tags libopus` differential
# tests (dsp's pure-Go decoder, gopus, against the C reference through
# gopkg.in/hraban/opus.v2) linked against libopus 1.6.1, the release gopus
# ports, whatever libopus the system ships (Debian bookworm: 1.3.1, whose
# packet-loss concealment predates the one gopus implements).
#
# The first run fetches the 1.6.1 source from the Debian archive apt is
# configured with (pinned name and SHA-256), builds it with upstream's default
# configuration and installs it under .cache/libopus-1.6.1/ (git-ignored,
# about a minute, once). Later runs reuse it; nothing outside the repo is
# touched. The test binaries get an rpath to it, and each one is checked with
# ldd before it runs.
#
# Why not Debian's own 1.6.1 binary package: it is configured with
# --enable-deep-plc, and that build flag alone (deep PLC off at run time)
# drops SILK's gain ramp on the first good 16 kHz frame after a loss, which
# gopus, like upstream's default build, applies. Against it, wideband and
# hybrid streams with loss agree only to 40–57 dB; against the default build
# they are bit-exact.
#
# When the source cannot be fetched or built (offline, the archive dropped
# that version, an architecture without a pinned build) the tests still run,
# against the system libopus with the lenient lossy check, and the banner
# says so.
#
# Env: GO, LIBOPUS_CACHE (default .cache), LIBOPUS_MIRROR (a Debian archive
# URL; default: the first one apt is configured with), LIBOPUS_OFFLINE=1
# (skip the fetch, use what is cached or fall back).
set -euo pipefail

# --exec BINARY ARGS…: go test's -exec hook. It refuses to run a test binary
# that would load another libopus than the one prepared, then runs it.
if [[ ${1:-} == --exec ]]; then
	shift
	lib=$(ldd "$1" | awk '$1 ~ /^libopus\.so/ {print $3}')
	echo "$(basename "$1"): libopus.so from ${lib:-nowhere (not linked)}" >>"${LIBOPUS_EXEC_LOG:-/dev/null}"
	if [[ -n ${LIBOPUS_ROOT:-} && $lib != "$LIBOPUS_ROOT"/lib/* ]]; then
		echo "libopus.sh: $1 would load ${lib:-no libopus}, not the prepared $LIBOPUS_ROOT/lib" >&2
		exit 1
	fi
	exec "$@"
fi

cd "$(dirname "$0")/.."
GO=${GO:-go}
VERSION=1.6.1
TARBALL=opus_${VERSION}.orig.tar.xz
TARBALL_SHA256=001ac615b9f8f8994b229ad2b1a5969ed12ab48b0d154d0af1016a5899cd6ba1
CACHE=$(mkdir -p "${LIBOPUS_CACHE:-.cache}" && cd "${LIBOPUS_CACHE:-.cache}" && pwd)
DIR=$CACHE/libopus-$VERSION
ROOT=$DIR/root

say() { echo "libopus: $*" >&2; }

# mirror prints the Debian archive apt uses (the first deb822 URIs or
# one-line `deb` entry whose path ends in /debian), so no host is hard-coded.
mirror() {
	if [[ -n ${LIBOPUS_MIRROR:-} ]]; then
		echo "${LIBOPUS_MIRROR%/}"
		return
	fi
	local f
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		awk '/^[[:space:]]*URIs:/ {for (i = 2; i <= NF; i++) print $i}
		     /^[[:space:]]*deb[[:space:]]/ {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; break}}' "$f"
	done | sed 's:/*$::' | grep -m1 -E '://[^ ]*/debian$' || return 1
}

# fetch_source leaves the verified tarball in $DIR (kept, so a rebuild needs
# no network).
fetch_source() {
	local tb=$DIR/$TARBALL
	if [[ -f $tb ]] && echo "$TARBALL_SHA256  $tb" | sha256sum -c --status; then
		return 0
	fi
	[[ ${LIBOPUS_OFFLINE:-} == 1 ]] && { say "LIBOPUS_OFFLINE=1 and no cached $TARBALL"; return 1; }
	local m
	m=$(mirror) || { say "no Debian archive in the apt sources (set LIBOPUS_MIRROR)"; return 1; }
	say "fetching $TARBALL from the Debian archive ($m)"
	curl -fsSL --retry 2 --connect-timeout 15 --max-time 300 -o "$tb.part" "$m/pool/main/o/opus/$TARBALL" ||
		{ say "download failed"; rm -f "$tb.part"; return 1; }
	if ! echo "$TARBALL_SHA256  $tb.part" | sha256sum -c --status; then
		say "$TARBALL does not match its pinned SHA-256"
		rm -f "$tb.part"
		return 1
	fi
	mv "$tb.part" "$tb"
}

# build compiles upstream's default configuration (float, no deep PLC, DRED
# or OSCE: what gopus ports) and installs it under $ROOT. The stamp records
# the prefix, so a moved checkout rebuilds instead of linking a dead rpath.
build() {
	local b=$DIR/build
	rm -rf "$b" "$ROOT"
	mkdir -p "$b"
	tar -xJf "$DIR/$TARBALL" -C "$b" --strip-components=1
	say "building libopus $VERSION (once, about a minute)"
	(
		cd "$b"
		./configure --quiet --prefix="$ROOT" --disable-static --disable-doc --disable-extra-programs
		make -s -j"$(nproc)"
		make -s install
	) >"$DIR/build.log" 2>&1 || { say "build failed, see $DIR/build.log"; rm -rf "$ROOT"; return 1; }
	rm -rf "$b"
	echo "$ROOT" >"$ROOT/.prepared"
}

prepare() {
	mkdir -p "$DIR"
	# Teammates share the checkout: one build at a time.
	exec 9>"$DIR/.lock"
	flock 9
	if [[ -f $ROOT/.prepared && $(cat "$ROOT/.prepared") == "$ROOT" && -e $ROOT/lib/libopus.so.0 ]]; then
		return 0
	fi
	fetch_source && build
}

prepared() {
	local rc=0
	prepare || rc=$?
	exec 9>&- # release the lock: concurrent runs only share the build
	return $rc
}

tags=libopus,nolibopusfile # the twin needs libopus only, not libopusfile
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export LIBOPUS_EXEC_LOG=$log
start=$SECONDS
if prepared; then
	export PKG_CONFIG_PATH=$ROOT/lib/pkgconfig
	export CGO_LDFLAGS="${CGO_LDFLAGS:--O2 -g} -Wl,-rpath,$ROOT/lib"
	export LIBOPUS_ROOT=$ROOT
	export AMD_LIBOPUS_WANT=$VERSION # the tests fail if another version loads
	say "using libopus $VERSION from $ROOT (strict lossy check)"
else
	sys=$(pkg-config --modversion opus 2>/dev/null || echo "unknown")
	echo "##########################################################################" >&2
	echo "# libopus $VERSION unavailable: the differential tests run against the" >&2
	echo "# SYSTEM libopus $sys, lossy streams checked leniently (see above)" >&2
	echo "##########################################################################" >&2
	fallback="ran against the SYSTEM libopus $sys, lenient lossy check, not $VERSION"
fi
prep=$((SECONDS - start))
# -count=1: the ldd check and the lines below are about this run. dsp's
# differential tests start no goroutine, and the race detector makes its
# pure-Go decoding ten times slower (measured: 42 s against 5 s for the
# sweep), so only webrtcleg, whose session runs pion's goroutines, runs with
# -race.
rc=0
t() { "$GO" test -count=1 -tags "$tags" -timeout 10m -exec "$PWD/scripts/libopus.sh --exec" -run 'Libopus|Differential' "$@"; }
t ./dsp/... || rc=$?
t -race ./webrtcleg/... || rc=$?
sort -u "$log" | sed 's/^/libopus: /' >&2
say "prepared in ${prep}s, tests in $((SECONDS - start - prep))s"
[[ -z ${fallback:-} ]] || say "$fallback"
exit $rc
