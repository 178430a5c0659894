#!/usr/bin/env bash
# Build the compiled twins with AddressSanitizer and UndefinedBehaviorSanitizer
# (GCC's runtimes; clang's work the same with CC=clang) in a throw-away venv,
# then run the test suite and replay the fuzz corpus under them.
#
#     bash fuzz/sanitize.sh [corpus-dir ...]
#
# Any sanitizer report aborts the run with a non-zero status.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
venv=$(mktemp -d)/asan
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q "Cython>=3.0.11" "setuptools>=77" pytest hypothesis paho-mqtt "amqtt>=0.12,<0.13" "websockets>=13" "aiomqtt>=2" "gmqtt>=0.6"
# Build from a copy without any earlier build products, so that every extension is compiled with the
# sanitizers and nothing is written into the working tree.
tree=$(mktemp -d)/tree
mkdir -p "$tree"
tar --exclude=./.venv --exclude=./build --exclude='*.so' --exclude='./src/mqttfast/*_c.c' -cf - . | tar -xf - -C "$tree"
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g"
(cd "$tree" && CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" \
    "$venv/bin/python" -m pip install -q --no-build-isolation --no-cache-dir .)
cc=${CC:-gcc}
runtime="$($cc -print-file-name=libasan.so) $($cc -print-file-name=libubsan.so)"
# CPython keeps objects alive until exit by design, and ASan holds freed memory in quarantine:
# leaks are the job of fuzz/leaks.py, run without sanitizers.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The system allocator instead of pymalloc, so ASan sees every object's bounds.
export PYTHONMALLOC=malloc MQTTFAST_REQUIRE_EXTENSIONS=1
run() { LD_PRELOAD="$runtime" "$venv/bin/python" "$@"; }
corpus=$(mktemp -d)
run fuzz/seeds.py "$corpus"
run -m pytest -q -p no:cacheprovider -m "not peer" tests
run fuzz/differential.py --replay "$corpus" "$@"
echo "sanitizers: no findings"
