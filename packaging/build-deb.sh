#!/usr/bin/env bash
# Build the Debian package of s2d: target/debian/s2d_<version>-1_<arch>.deb
#
#   bash packaging/build-deb.sh            # then: dpkg -i target/debian/s2d_*.deb
#
# Builds the release binary, runs it to generate what the package installs beside it (the
# manual pages, gzipped, and the bash, zsh and fish completions) into
# <target dir>/release/s2d-assets/, then packs everything Cargo.toml's [package.metadata.deb]
# lists with `cargo deb --no-build`. Needs cargo-deb (`cargo install cargo-deb --locked`) and
# gzip; dpkg-shlibdeps (dpkg-dev) fills in the library dependencies when present.
# Outside a git checkout, set S2D_COMMIT (and S2D_COMMIT_DATE) to name the commit in
# `s2d --version`. S2D_DEB_BUILD_ALSO: more targets for the same `cargo build` (.ci/run:
# `--example transfer_bench`, the benchmark ci-tier.sh runs, so the two release builds are
# one; the dev-dependencies' features, e.g. tokio's test-util, then reach the binary too).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "packaging/build-deb.sh: cargo-deb is missing: cargo install cargo-deb --locked" >&2
  exit 1
fi

# shellcheck disable=SC2086 # S2D_DEB_BUILD_ALSO is a list of arguments
cargo build --release --locked --bin s2d ${S2D_DEB_BUILD_ALSO:-}

target_dir=${CARGO_TARGET_DIR:-$root/target}
bin=$target_dir/release/s2d
assets=$target_dir/release/s2d-assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"

"$bin" man --out "$assets/man"
gzip -9 -n "$assets/man"/*.1
"$bin" completions bash >"$assets/completions/s2d"
"$bin" completions zsh >"$assets/completions/_s2d"
"$bin" completions fish >"$assets/completions/s2d.fish"

# cargo deb prints the package's path on stdout; it is this script's last line.
cargo deb --no-build --locked "$@"
