#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 240), one after the other, one
# process each (the machine is shared), and prints how long each ran clean and how many inputs it
# executed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Installs the nightly toolchain and cargo-fuzz if they are missing. Committed seeds are read
# from fuzz/corpus/<target>/; what libFuzzer adds goes to fuzz/corpus-run/<target>/ (ignored
# by git), crashes to fuzz/artifacts/<target>/, logs to fuzz/logs/. Exits non-zero if any
# target found something; reproduce with
#   cd fuzz && cargo +nightly fuzz run -O -a <target> artifacts/<target>/<file>
# (XCS_FUZZ_TRACE=1 in front: the normalise targets say how far each document got).
#
# Everything is built once, first; the targets then run from that build, so a working tree that
# others edit meanwhile cannot rebuild (or break) a target between runs.
set -euo pipefail

seconds=${1:-240}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/../fuzz"

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Release with debug assertions and overflow checks (-a), AddressSanitizer (the default).
cargo +nightly fuzz build -O -a
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir="target/$triple/release"

# No input larger than max_len, no process above 1 GiB or single allocation above 256 MiB,
# no input taking more than 10 s.
limits=(-rss_limit_mb=1024 -malloc_limit_mb=256 -timeout=10)
mkdir -p logs
failed=()
summary=()
for target in "${targets[@]}"; do
    case "$target" in
        normalise_* | classify) extra=(-max_len=65536 -dict=json.dict) ;;
        config_*) extra=(-max_len=16384) ;;
        *) extra=(-max_len=16384) ;;
    esac
    mkdir -p "corpus-run/$target" "corpus/$target" "artifacts/$target"
    echo "== $target: ${seconds}s"
    start=$(date +%s)
    # As `cargo fuzz run -O -a` runs it, without building again.
    if ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}" "$bin_dir/$target" \
        -artifact_prefix="artifacts/$target/" "corpus-run/$target" "corpus/$target" \
        -max_total_time="$seconds" "${limits[@]}" "${extra[@]}" -print_final_stats=1 \
        >"logs/$target.log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$target.log" | grep -o '[0-9]*$' || echo '?')
        ran=$(grep -oE '^Done [0-9]+ runs in [0-9]+ second' "logs/$target.log" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+' || echo "$(($(date +%s) - start))")
        cov=$(grep -oE 'cov: [0-9]+' "logs/$target.log" | tail -1 | grep -oE '[0-9]+' || echo '?')
        summary+=("$target: clean for $ran s, $runs runs, coverage $cov")
    else
        failed+=("$target")
        summary+=("$target: FOUND SOMETHING after $(($(date +%s) - start)) s (logs/$target.log, artifacts/$target/)")
        tail -n 40 "logs/$target.log"
    fi
done

echo
printf '%s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ]
