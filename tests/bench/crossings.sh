#!/usr/bin/env bash
# The per-crossing half of the footprint benchmark. footprint.sh runs it inside
# `unshare --user --map-root-user --net`: there the process has CAP_SYS_RESOURCE, so
# 10 ms and 100 ms windows arm, and under CPU load each trigger fires once per window,
# a steady stream of real crossings. The private network namespace lets it raise
# net.unix.max_dgram_qlen (10 by default) for the receiver's socket only, so a burst
# never meets a full queue while the receiver is off the CPU.
#
# Usage: crossings.sh WORK STATIC RELEASE [--repeat 0]; appends rows to WORK/rows.
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$1 static=$2 release=$3
shift 3
repeat=("$@")
rows=$work/rows
# shellcheck source=tests/bench/lib.sh
source tests/bench/lib.sh
trap stop_tracked EXIT
trap 'exit 130' INT TERM

if ! grep -q 'CapEff:.*[1-9a-f]' /proc/self/status || [ "$(id -u)" -ne 0 ]; then
  echo "crossings.sh: run it through footprint.sh, inside unshare --user --map-root-user" >&2
  exit 1
fi
echo 4096 >/proc/sys/net/unix/max_dgram_qlen

# COUNT triggers on cpu some, threshold 1 ms, window FIRST_MS + i * STEP_MS: windows of
# different lengths fall out of step, so crossings come one by one, not all in one poll.
firing_triggers() {
  local count=$1 first_ms=$2 step_ms=$3 i
  for ((i = 0; i < count; i++)); do
    printf -- '-t\ncpu:some:1ms:%dms\n' $((first_ms + i * step_ms))
  done
}

# Starts BINARY with the given triggers on the x receiver; sets `pid`, and `err` to the
# file that takes its stderr: a daemon whose socket works writes nothing there.
started=0
start_daemon() {
  local binary=$1
  shift
  started=$((started + 1))
  err=$work/daemon-$started.err
  "$binary" --socket "$work/x.sock" "${repeat[@]}" "$@" 2>"$err" &
  pid=$!
  track "$pid"
  wait_for_text "$work/x.log" "[$pid]: event=start" 20
}

lines_of() { count_crossings "$work/x.log" "$1"; }

# Measures the running daemon `pid` for SECONDS: sets rate (lines/s), lines, ns (CPU).
measure() {
  local seconds=$1 lines0 ns0
  lines0=$(lines_of "$pid")
  ns0=$(cpu_ns "$pid")
  sleep "$seconds"
  ns=$(($(cpu_ns "$pid") - ns0))
  sleep 0.1 # the receiver flushes its log every 50 ms
  lines=$(($(lines_of "$pid") - lines0))
  rate=$(calc 0 'a / b' -v a="$lines" -v b="$seconds")
}

start_receiver x

# ---- idle, privileged --------------------------------------------------------------------
# Privileged triggers have no spurious notifications (NOTES.md): 1000 of them on an idle
# machine are the design's case of nothing happening.
mapfile -t quiet < <(quiet_triggers 1000 mixed)
start_daemon "$static" "${quiet[@]}"
sleep 1
switches0=$(switches "$pid")
timeout -s INT 10 strace -c -f -p "$pid" -o "$work/idle-privileged.strace" 2>/dev/null || true
read -r calls detail < <(strace_calls "$work/idle-privileged.strace")
row "system calls in 10 s idle, 1000 privileged triggers" "$calls${detail:+ ($detail)}" "0" \
  "$(at_most "$calls" 0)" "strace -c -f -p for 10 s, static, in the user namespace; $(($(switches "$pid") - switches0)) context switches (strace's attach included)"
kill -TERM "$pid"

start_cpu_load 4
sleep 1

# ---- CPU per crossing at 10 and at 1000 armed triggers ---------------------------------
# The same 10 firing triggers both times; the second run adds 990 that never fire, so the
# difference is what every extra armed trigger costs a crossing (poll's scan of the set).
mapfile -t firing < <(firing_triggers 10 100 10)
mapfile -t quiet < <(quiet_triggers 990 mixed)
declare -A per_crossing
for armed in 10 1000; do
  if [ "$armed" = 10 ]; then start_daemon "$static" "${firing[@]}"; else start_daemon "$static" "${firing[@]}" "${quiet[@]}"; fi
  sleep 2
  ticks0=$(cpu_ticks "$pid")
  measure 8
  ticks=$(($(cpu_ticks "$pid") - ticks0))
  per_crossing[$armed]=$(calc 2 'a / b / 1000' -v a="$ns" -v b="$lines")
  row "CPU per crossing, $armed armed" "${per_crossing[$armed]} us ($lines crossings, $rate/s)" "-" "info" \
    "schedstat run time / lines over 8 s, static, 10 firing cpu:some:1ms:100..190ms; utime+stime $ticks ticks"
  kill -TERM "$pid"
done
row "CPU per crossing, 1000 / 10 armed" \
  "$(calc 2 'a / b' -v a="${per_crossing[1000]}" -v b="${per_crossing[10]}")x" "-" "info" "ratio of the two rows above"

# ---- system calls per crossing ---------------------------------------------------------
start_daemon "$static" "${firing[@]}"
sleep 1
lines0=$(lines_of "$pid")
timeout -s INT 6 strace -c -f -p "$pid" -o "$work/crossing.strace" 2>/dev/null || true
sleep 0.1
lines=$(($(lines_of "$pid") - lines0))
kill -TERM "$pid"
read -r calls detail < <(strace_calls "$work/crossing.strace")
per_line=$(calc 2 'a / b' -v a="$calls" -v b="$lines")
breakdown=$(for pair in $detail; do
  printf '%s %s, ' "${pair%%=*}" "$(calc 2 'a / b' -v a="${pair#*=}" -v b="$lines")"
done)
row "system calls per crossing" "$per_line (${breakdown%, })" "<= 3" "$(at_most "$per_line" 3)" \
  "strace -c -f -p for 6 s over $lines crossings, static, 10 firing triggers (a poll that wakes for several is shared)"

# ---- heap allocations per crossing -----------------------------------------------------
# DHAT replaces malloc, so it needs the dynamic binary. Two runs at once: one stopped as
# soon as it has started, one left to log crossings for 6 s; the difference in blocks
# over the difference in lines is what a crossing allocates.
declare -A dhat_pid
for run in short long; do
  valgrind --tool=dhat --dhat-out-file="$work/dhat-$run.json" \
    "$release" --socket "$work/x.sock" "${repeat[@]}" "${firing[@]}" 2>"$work/dhat-$run.err" &
  dhat_pid[$run]=$!
  track $!
done
for run in short long; do
  wait_for_text "$work/x.log" "[${dhat_pid[$run]}]: event=start" 60
done
kill -TERM "${dhat_pid[short]}"
sleep 6
kill -TERM "${dhat_pid[long]}"
wait "${dhat_pid[short]}" "${dhat_pid[long]}" || true
sleep 0.1
blocks_of() { awk '/ Total: / { gsub(",", "", $(NF - 1)); print $(NF - 1) }' "$work/dhat-$1.err"; }
short_blocks=$(blocks_of short)
long_blocks=$(blocks_of long)
short_lines=$(lines_of "${dhat_pid[short]}")
long_lines=$(lines_of "${dhat_pid[long]}")
allocations=$(calc 2 '(a - b) / (c - d)' -v a="$long_blocks" -v b="$short_blocks" -v c="$long_lines" -v d="$short_lines")
row "heap allocations per crossing" "$allocations ($long_blocks blocks with $long_lines lines, $short_blocks with $short_lines)" \
  "0" "$(at_most "$allocations" 0)" "valgrind --tool=dhat, release binary, two runs (stopped at start / after 6 s)"

# ---- crossings per second before falling behind ----------------------------------------
# A ladder of offered rates. A trigger fires at most once per window, so the 10-trigger
# step of each window length gives the kernel's rate per trigger; the 1000-trigger step
# offers 100 times that. Lines that could not be sent go to the daemon's stderr.
# The daemon falls behind only when lines are missing while it is busy: a shortfall while
# it still sleeps in poll most of the time is the kernel delivering fewer notifications.
best=0
busiest=0
verdict="not reached"
for window in 100 10; do
  for count in 10 1000; do
    mapfile -t ladder < <(firing_triggers "$count" "$window" 0)
    start_daemon "$static" "${ladder[@]}"
    sleep 1
    measure 4
    kill -TERM "$pid"
    # What the daemon said on stderr (a full queue, dropped lines).
    complaints=$(wc -l <"$err")
    complaint=$(head -n 1 "$err" | cut -c 1-100)
    # Ten triggers are surely kept up with: their rate is the kernel's, per trigger.
    [ "$count" = 10 ] && per_trigger=$(calc 3 'a / 10' -v a="$rate")
    offered=$(calc 0 'a * b' -v a="$per_trigger" -v b="$count")
    kept=$(calc 0 '100 * a / b' -v a="$rate" -v b="$offered")
    cpu=$(calc 0 '100 * a / 4e9' -v a="$ns")
    row "logged rate, $count x cpu:some:1ms:${window}ms" \
      "$rate/s of ~$offered/s offered ($kept%), daemon CPU $cpu%, $complaints stderr lines${complaint:+: $complaint}" "-" "info" \
      "lines received over 4 s; offered = $count x the per-trigger rate of the 10-trigger step (kernel limit: one per window)"
    dropped=$(count_text "$err" "dropped")
    if [ "$kept" != n/a ] && { [ "$kept" -ge 95 ] || [ "$cpu" -lt 90 ]; } && [ "$dropped" = 0 ]; then
      ((rate > best)) && best=$rate
      ((cpu > busiest)) && busiest=$cpu
    elif [ "$verdict" = "not reached" ]; then
      verdict="behind at ~$offered/s offered"
    fi
  done
done
ceiling=$(calc 0 'a / (b / 4e9)' -v a="$rate" -v b="$ns")
row "crossings per second before falling behind" \
  ">= $best/s without falling behind ($verdict; daemon at most $busiest% of a CPU); ceiling ~$ceiling/s" "-" "info" \
  "behind = < 95% of offered logged while the daemon is >= 90% busy, or lines dropped; ceiling = the last step's rate / its CPU share"
