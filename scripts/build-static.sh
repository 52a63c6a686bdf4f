#!/usr/bin/env bash
# Builds cmcop as one statically linked file for x86_64 Linux (musl libc), with the pages, their
# libraries and the default basemap inside it: copy the file to a machine and run it.
#
#   scripts/build-static.sh            # -> target/x86_64-unknown-linux-musl/static/cmcop
#
# Needs the Rust target (`rustup target add x86_64-unknown-linux-musl`) and a C compiler for
# musl, because ring and the bundled SQLite are C (Debian: `apt-get install musl-tools`).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-musl
command -v musl-gcc >/dev/null 2>&1 || {
    echo "musl-gcc is missing: install musl-tools (Debian/Ubuntu: apt-get install musl-tools)" >&2
    exit 1
}
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$TARGET"; then
    echo "the Rust target $TARGET is missing: rustup target add $TARGET" >&2
    exit 1
fi

export CC_x86_64_unknown_linux_musl=musl-gcc
# musl targets link statically by default; say so, in case a toolchain default ever changes.
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="${CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS:-} -C target-feature=+crt-static"

cargo build --locked --profile static --target "$TARGET" --bin cmcop

BIN="${CARGO_TARGET_DIR:-target}/$TARGET/static/cmcop"
echo "built $BIN ($(stat -c %s "$BIN") bytes)"
if command -v file >/dev/null 2>&1; then file "$BIN"; fi
