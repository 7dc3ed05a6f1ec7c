# shellcheck shell=bash
# Shared by footprint.sh and crossings.sh: processes the benchmark starts (and so stops),
# the receiver, counters read from /proc, and the rows of the figures table.
#
# The caller sets `work` (a private scratch directory) and `rows` (the table file) and
# calls `track` for every background process it starts; `stop_tracked` ends exactly
# those, by PID.
# shellcheck disable=SC2154 # work and rows are the caller's, as said above

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tracked=()

track() { tracked+=("$1"); }

# Ends every process this script started, newest first, and reaps them. A daemon with
# 1000 triggers takes about 12 s to exit: the kernel waits one RCU grace period per
# trigger it closes (psi_trigger_destroy calls synchronize_rcu).
stop_tracked() {
  local i
  for ((i = ${#tracked[@]} - 1; i >= 0; i--)); do
    kill -TERM "${tracked[i]}" 2>/dev/null || true
  done
  for ((i = ${#tracked[@]} - 1; i >= 0; i--)); do
    wait "${tracked[i]}" 2>/dev/null || true
  done
  tracked=()
}

# One row of the figures table: figure, value, budget, verdict, how it was measured.
row() { printf '| %s | %s | %s | %s | %s |\n' "$@" >>"$rows"; }

# PASS when VALUE <= LIMIT (both numbers), FAIL otherwise, n/a without a value.
at_most() {
  awk -v v="$1" -v limit="$2" 'BEGIN {
    if (v == "" || v == "n/a") print "n/a"; else print (v + 0 <= limit + 0) ? "PASS" : "FAIL" }'
}

# awk arithmetic with a fixed number of decimals: calc DECIMALS EXPRESSION (a, b, c ...
# as -v variables after it). Prints n/a when dividing by zero.
calc() {
  local decimals=$1 expression=$2
  shift 2
  awk "$@" -v d="$decimals" "BEGIN { r = $expression; printf \"%.*f\\n\", d, r }" 2>/dev/null \
    || echo n/a
}

# Starts a receiver on $work/NAME.sock that logs to $work/NAME.log; waits for the socket.
start_receiver() {
  local name=$1 i
  python3 "$bench_dir/receiver.py" "$work/$name.sock" "$work/$name.log" &
  track $!
  for ((i = 0; i < 100; i++)); do
    [ -S "$work/$name.sock" ] && return 0
    sleep 0.05
  done
  echo "footprint: the receiver $name did not bind $work/$name.sock" >&2
  return 1
}

# Waits until FILE holds a line with the fixed string TEXT; fails after SECONDS.
wait_for_text() {
  local file=$1 text=$2 seconds=$3 i
  for ((i = 0; i < seconds * 20; i++)); do
    grep -qF -- "$text" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "footprint: no '$text' in $file after ${seconds}s" >&2
  return 1
}

# Lines in FILE holding the fixed string TEXT.
count_text() { grep -cF -- "$2" "$1" 2>/dev/null || true; }

# Nanoseconds PID has run on a CPU (the scheduler's exact sum, /proc/PID/schedstat).
cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }

# utime + stime of PID in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# voluntary + involuntary context switches of PID: each is a time it stopped running.
switches() { awk '/ctxt_switches/ { n += $2 } END { print n }' "/proc/$1/status"; }

# A field of /proc/PID/status in kB (VmRSS, VmHWM).
status_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }

# COUNT trigger options that never fire: 100% full stall over 2 s, a 2 s window so they
# arm without CAP_SYS_RESOURCE. KINDS is `io` (all on io full: a short burst of O_DSYNC
# writes then provokes the kernel's spurious first notifications at a known time) or
# `mixed` (memory full and io full in turn).
quiet_triggers() {
  local count=$1 kinds=$2 i
  for ((i = 0; i < count; i++)); do
    if [ "$kinds" = io ] || ((i % 2)); then
      printf -- '-t\nio:full:2s:2s\n'
    else
      printf -- '-t\nmemory:full:2s:2s\n'
    fi
  done
}

# Lines in FILE that log a crossing of daemon PID: event=pressure, and event=ongoing for
# the later crossings of an episode (with --repeat 0).
count_crossings() {
  awk -v a="[$2]: event=pressure" -v b="[$2]: event=ongoing" \
    'index($0, a) || index($0, b) { n++ } END { print n + 0 }' "$1" 2>/dev/null || echo 0
}

# `--repeat 0` (log every crossing, not one line per episode) where the daemon has it.
repeat_option() {
  if "$1" --help 2>/dev/null | grep -q -- '--repeat'; then printf -- '--repeat\n0\n'; fi
}

# Busy loops at nice 19: COUNT of them on fewer cores keep CPU `some` pressure near 100%,
# while the daemon and the receiver (nice 0) still get the CPU at once when they wake.
start_cpu_load() {
  local count=$1 i
  for ((i = 0; i < count; i++)); do
    nice -n 19 sh -c 'while :; do :; done' &
    track $!
  done
}

# Parses `strace -c` output: prints `TOTAL NAME=CALLS NAME=CALLS ...`. restart_syscall
# is left out: it is strace's attach interrupting the poll the daemon was waiting in.
strace_calls() {
  awk '
    $1 ~ /^[0-9.]+$/ && $NF != "total" && $NF != "restart_syscall" && NF >= 5 {
      total += $4; list = list " " $NF "=" $4 }
    END { print total + 0 list }' "$1"
}
