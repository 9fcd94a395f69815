#!/usr/bin/env bash
# Builds the libFuzzer targets (cargo fuzz, on the stable toolchain through RUSTC_BOOTSTRAP)
# and runs each for FUZZ_SECONDS (default 10) from its committed seeds in corpus/<target>/.
# What a run adds goes to work/<target>/ (ignored), so the committed corpus stays small; a
# crash leaves its input in artifacts/<target>/ and fails the script.
#
#   server/fuzz/run.sh                      # the bounded run ./test does
#   FUZZ_SECONDS=600 nice server/fuzz/run.sh json_request   # a long run of one target
#
# Without cargo-fuzz (and no way to install it) the script fails under CI=true and
# otherwise says why and exits 0.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-10}"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  if ! cargo install cargo-fuzz --locked; then
    echo "fuzz: cargo-fuzz is not installed and could not be installed" >&2
    [ "${CI:-}" = true ] && exit 1
    exit 0
  fi
fi

# No sanitizer: the targets are safe Rust over safe dependencies; what they look for are
# panics (debug assertions and overflow checks are on), which libFuzzer reports as crashes.
flags=(--sanitizer none)
cargo fuzz build "${flags[@]}"

targets=("$@")
if ((${#targets[@]} == 0)); then mapfile -t targets < <(cargo fuzz list); fi
for target in "${targets[@]}"; do
  mkdir -p "work/$target"
  log="work/$target.log"
  echo "fuzz: $target for ${seconds}s"
  if ! cargo fuzz run "${flags[@]}" "$target" "work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz: $target failed; the input is in server/fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E 'number_of_executed_units|^#[0-9]+ +DONE' "$log" || true
done
