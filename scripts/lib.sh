# Shared helpers for scripts/*. Sourced, not executed.

# Runs one named step, printing one line with its elapsed time, or which step failed.
step() {
  local name=$1; shift
  local t0=$SECONDS
  echo "==> $name"
  if "$@"; then
    echo "<== $name: ok ($((SECONDS - t0))s)"
  else
    local rc=$?
    echo "!!! step '$name' failed (exit $rc after $((SECONDS - t0))s); see the output above" >&2
    exit "$rc"
  fi
}

debweb_ready() {
  rustup toolchain list 2>/dev/null | grep -q '^debweb' &&
    ls /usr/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib >/dev/null 2>&1
}

# Chooses the toolchain that can build wasm32: the default one when it has the target, else debweb.
export_toolchain() {
  if [ -n "${RUSTUP_TOOLCHAIN:-}" ]; then return 0; fi
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then return 0; fi
  if debweb_ready; then export RUSTUP_TOOLCHAIN=debweb; fi
}

# Version of a package as resolved in Cargo.lock.
lock_version() {
  awk -v n="$1" '$0=="name = \""n"\"" {getline; gsub(/version = |"/,""); print; exit}' Cargo.lock
}

# Free space, in MiB, on the filesystem holding the current directory.
free_mib() { df -Pm . | awk 'NR==2 {print $4}'; }

# binaryen 132's wasm-opt from npm (installed by scripts/setup into end2end/node_modules) ahead of any
# other on PATH: cargo-leptos runs the first `wasm-opt` it finds for release builds, and Debian's
# binaryen 108 produces a module that fails to instantiate in browsers.
use_npm_wasm_opt() { export PATH="$PWD/end2end/node_modules/.bin:$PATH"; }

# A key's value in one table of the app's Cargo.toml (first match; fails when there is none).
# Scripts and tests read the app's names from there: a project made from the template
# (cargo-generate.toml) has its own. end2end/processes.js reads them the same way.
cargo_toml_value() { # table key
  awk -v t="[$1]" -v k="$2" '
    /^\[/ { in_table = ($0 == t); next }
    in_table && $0 ~ ("^" k "[ \t]*=[ \t]*\"") {
      v = $0; sub(/^[^=]*=[ \t]*"/, "", v); sub(/".*$/, "", v); print v; found = 1; exit
    }
    END { if (!found) { print "Cargo.toml has no " k " in " t > "/dev/stderr"; exit 1 } }
  ' Cargo.toml
}
# The package (and server binary) name, and the site files' name (`pkg/<output name>.wasm`).
app_package_name() { cargo_toml_value package name; }
app_output_name() { cargo_toml_value package.metadata.leptos output-name; }
