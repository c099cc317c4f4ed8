#!/bin/sh
# Runs every target for a bounded time, one at a time, at the lowest priority, starting from
# the committed seeds (some of which abort an emulator whose readers are unbounded), in
# libFuzzer's fork mode so a crash is saved under artifacts/<target>/ and fuzzing goes on;
# prints each target's executions and crashes. Build first (see README.md).
# Usage: ./run-all.sh [seconds per target, default 60] [target …]
set -u
cd "$(dirname "$0")"
SECS=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-"parse_sql parse_fetchxml parse_query_expression parse_multipart http_filter http_expand http_apply http_sql http_fetchxml http_query_expression http_batch http_create"}
BIN=target/x86_64-unknown-linux-gnu/release
mkdir -p logs
for t in $TARGETS; do
  case $t in
    http_create|http_batch|http_query_expression|parse_query_expression|parse_multipart) LEN=131072 ;;
    *) LEN=32768 ;;
  esac
  mkdir -p "corpus/$t" "artifacts/$t"
  nice -n 19 "$BIN/$t" "corpus/$t" "seeds/$t" -max_total_time="$SECS" -max_len="$LEN" \
    -timeout=20 -rss_limit_mb=4096 -artifact_prefix="artifacts/$t/" \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    > "logs/$t.log" 2>&1
  rc=$?
  execs=$(grep -E '^#[0-9]+:' "logs/$t.log" | tail -1 | sed -E 's/^#([0-9]+):.*/\1/')
  echo "$t: exit $rc, ${execs:-?} executions in ${SECS} s; $(ls "artifacts/$t" | wc -l) artifact(s)"
done
