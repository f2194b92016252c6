#!/usr/bin/env bash
# Times rewind against kubectl kustomize and the `cat | sha256sum` floor on
# synthetic apps (100, 1,000, 10,000 resources) and ../shared/corpus.
# Usage: bench/compare.sh [--runs N] [--sizes 100,1000,10000] [--keep DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin rewind
exec python3 bench/compare.py --rewind target/release/rewind "$@"
