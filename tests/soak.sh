#!/usr/bin/env bash
# tests/soak.sh N: runs the whole suite (tests/run.sh) N times in a row while the
# machine is busy, to prove that no test depends on a quiet machine. Not part of CI.
#
# The load, made here for the whole soak:
# - one busy loop per core, at normal priority;
# - real memory pressure: a process that touches more memory than its memory cgroup
#   allows, with a swap file to reclaim to (a v1 memory cgroup's limit_in_bytes where
#   the memory controller is on v1, as on hybrid machines; else cgroup v2 memory.high).
#
# Every run goes on whatever the last one did. Each prints PASS/FAIL and its duration
# (its log is kept in the log directory printed at the start); the end gives the
# longest and the final streak of consecutive green runs. Everything made here (busy
# loops, the memory process, the cgroup, the swap file, a run in progress) is undone
# on exit, Ctrl-C included. Exits 0 only if every run passed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-}
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: tests/soak.sh N (N runs of tests/run.sh under load)" >&2
  exit 64
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "tests/soak.sh: needs root (swap, cgroups, and tests/run.sh itself)" >&2
  exit 1
fi

# What the memory process touches, and what its cgroup lets it keep resident.
TOUCH_MB=${PSI_SOAK_TOUCH_MB:-96}
LIMIT_MB=${PSI_SOAK_LIMIT_MB:-32}
SWAP_MB=${PSI_SOAK_SWAP_MB:-512}

work=$(mktemp -d /var/tmp/psi-syslogd-soak.XXXXXX)
# PSI_SOAK_LOGS keeps every run's log there; by default only failed runs' logs stay.
logs=${PSI_SOAK_LOGS:-$work/logs}
mkdir -p "$logs"
busy_pids=()
memory_pid=()
run_pid=
cgroup=
swapfile=

# The processes of session SID (a run of the suite is one: its receivers put
# themselves in process groups of their own, but stay in the session).
session_pids() {
  local stat line fields
  for stat in /proc/[0-9]*/stat; do
    { read -r line < "$stat"; } 2>/dev/null || continue
    # After the command's closing parenthesis: state, ppid, pgrp, session.
    read -ra fields <<< "${line##*) }"
    [ "${fields[3]:-}" = "$1" ] && echo "${stat//[!0-9]/}"
  done
  return 0
}

# Stops a run in progress and whatever it left: its processes, then the test
# cgroups whose test process is gone.
stop_run() {
  local pids pid group owner mount
  pids=$(session_pids "$run_pid")
  # shellcheck disable=SC2086 # a list of pids
  [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -z "$(session_pids "$run_pid")" ] && break
    sleep 0.5
  done
  pids=$(session_pids "$run_pid")
  # shellcheck disable=SC2086 # a list of pids
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  wait "$run_pid" 2>/dev/null
  mount=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
  for group in "$mount"/psi-syslogd-test-*; do
    [ -d "$group" ] || continue
    owner=${group##*-}
    kill -0 "$owner" 2>/dev/null && continue
    echo 1 > "$group/cgroup.kill" 2>/dev/null
    rmdir "$group" 2>/dev/null || sleep 0.5
    rmdir "$group" 2>/dev/null || echo "soak: could not remove $group" >&2
  done
}

cleanup() {
  trap - EXIT INT TERM
  set +e
  [ -n "$run_pid" ] && stop_run
  local pid
  for pid in "${busy_pids[@]}" "${memory_pid[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${busy_pids[@]}" "${memory_pid[@]}"; do
    wait "$pid" 2>/dev/null
  done
  if [ -n "$cgroup" ]; then
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      rmdir "$cgroup" 2>/dev/null && break
      sleep 0.5
    done
    [ -d "$cgroup" ] && echo "soak: could not remove $cgroup" >&2
  fi
  if [ -n "$swapfile" ]; then
    swapoff "$swapfile" 2>/dev/null
    rm -f "$swapfile"
  fi
  if [ -d "$work/failed" ]; then
    echo "soak: the logs of failed runs are in $work/failed"
    find "$work" -mindepth 1 -maxdepth 1 ! -name failed -exec rm -rf {} +
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'echo "soak: interrupted" >&2; exit 130' INT TERM

# One busy loop per core.
cores=$(nproc)
for _ in $(seq "$cores"); do
  sh -c 'while :; do :; done' &
  busy_pids+=($!)
done

# A swap file, so reclaim has somewhere to go and the memory process stalls on it
# instead of being killed.
swapfile=$work/swap
dd if=/dev/zero of="$swapfile" bs=1M count="$SWAP_MB" status=none
chmod 600 "$swapfile"
mkswap "$swapfile" >/dev/null
swapon "$swapfile"

# The memory cgroup: v1 where the memory controller is mounted there, else v2.
v1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
if [ -n "$v1" ]; then
  cgroup=$v1/psi-syslogd-soak-$$
  mkdir "$cgroup"
  echo "${LIMIT_MB}M" > "$cgroup/memory.limit_in_bytes"
  limit="v1 memory.limit_in_bytes ${LIMIT_MB}M at $cgroup"
else
  v2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
  if [ -z "$v2" ]; then
    echo "soak: no memory cgroup (neither v1 memory nor cgroup2) to make memory pressure in" >&2
    exit 1
  fi
  grep -qw memory "$v2/cgroup.subtree_control" || echo +memory > "$v2/cgroup.subtree_control"
  cgroup=$v2/psi-syslogd-soak-$$
  mkdir "$cgroup"
  echo "${LIMIT_MB}M" > "$cgroup/memory.high"
  limit="v2 memory.high ${LIMIT_MB}M at $cgroup"
fi

start_memory_process() {
  # The shell joins the cgroup, then becomes the process that touches every page of
  # TOUCH_MB over and over.
  sh -c 'echo $$ > "$1/cgroup.procs" && exec python3 -c "
import sys
size = int(sys.argv[1]) << 20
pages = bytearray(size)
while True:
    for offset in range(0, size, 4096):
        pages[offset] = (pages[offset] + 1) & 255
" "$2"' sh "$cgroup" "$TOUCH_MB" &
  memory_pid=($!)
}
start_memory_process

pressure() {
  awk '/^some/ { split($2, a, "="); printf "%s", a[2] }' "/proc/pressure/$1"
}
sleep 5
echo "soak: $runs run(s) of tests/run.sh; load: $cores busy loop(s), a process touching" \
  "${TOUCH_MB} MB in a ${LIMIT_MB} MB cgroup ($limit) with ${SWAP_MB} MB of swap"
echo "soak: after 5 s of load: cpu some avg10=$(pressure cpu), memory some avg10=$(pressure memory)"
echo "soak: logs in $logs"

passed=0
streak=0
longest=0
soak_started=$SECONDS
for run in $(seq "$runs"); do
  if ! kill -0 "${memory_pid[0]}" 2>/dev/null; then
    echo "soak: the memory process had ended; started again"
    start_memory_process
  fi
  log=$logs/run-$run.log
  started=$EPOCHREALTIME
  status=0
  setsid bash tests/run.sh > "$log" 2>&1 < /dev/null &
  run_pid=$!
  wait "$run_pid" || status=$?
  run_pid=
  seconds=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
  load="cpu some avg10=$(pressure cpu), memory some avg10=$(pressure memory)"
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
    streak=$((streak + 1))
    ((streak > longest)) && longest=$streak
    echo "soak: run $run/$runs PASS in ${seconds} s ($load)"
  else
    streak=0
    mkdir -p "$work/failed"
    cp "$log" "$work/failed/"
    echo "soak: run $run/$runs FAIL (status $status) in ${seconds} s ($load); its summary:"
    sed -n '/^== summary/,$p' "$log" | grep -E '^(FAIL|total)' | sed 's/^/soak:   /'
  fi
done
echo "soak: $passed of $runs run(s) green in $((SECONDS - soak_started)) s;" \
  "consecutive green runs: $streak at the end, $longest at most"
[ "$passed" -eq "$runs" ]
