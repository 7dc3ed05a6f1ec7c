#!/usr/bin/env bash
# The cgroup-pattern part of the footprint benchmark: a pattern that matches 1000 groups
# (start-up to event=start, resident memory), and CPU per crossing with 10, 100 and
# 1000 instances of one pattern, 10 of them firing. footprint.sh runs it as root; it
# makes its own groups under the cgroup2 mount (found in /proc/self/mountinfo) and
# removes them, and ends every process it starts.
#
# Start-up and memory are measured as the daemon runs by default here: unprivileged
# (this machine's root lacks CAP_SYS_RESOURCE), 2 s windows. The crossings need many
# notifications a second, so that daemon runs in a user namespace, with CAP_SYS_RESOURCE
# and 100 ms windows, like crossings.sh.
#
# Usage: instances.sh WORK STATIC; appends rows to WORK/rows.
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$1 static=$2
rows=$work/rows
# shellcheck source=tests/bench/lib.sh
source tests/bench/lib.sh

mount=$(awk '$9 == "cgroup2" && $4 == "/" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$mount" ]; then
  echo "instances.sh: no cgroup2 mount in /proc/self/mountinfo" >&2
  exit 1
fi
name=psi-bench-$$
tree=$mount/$name

# Groups removed deepest first, once their processes are gone.
remove_tree() {
  [ -d "$tree" ] || return 0
  find "$tree" -depth -type d -exec rmdir {} + 2>/dev/null || true
  local i
  for ((i = 0; i < 100 && ${#tree} > 0; i++)); do
    [ -d "$tree" ] || return 0
    sleep 0.1
    find "$tree" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}
trap 'stop_tracked; remove_tree' EXIT
trap 'exit 130' INT TERM

# make_groups DIR COUNT: DIR/g0 ... DIR/g(COUNT-1).
make_groups() {
  local dir=$1 count=$2 i
  mkdir -p "$dir"
  for ((i = 0; i < count; i++)); do mkdir "$dir/g$i"; done
}

start_receiver i

# ---- start-up and memory at 1000 matched groups ------------------------------------------
make_groups "$tree/thousand" 1000
pattern="memory:some:10%:2s:/$name/thousand/g*"
# One start at a time, each after the last daemon is gone: closing 1000 cgroup triggers
# takes the kernel seconds (one RCU grace period each, under kernfs's open-file lock,
# which opens of the same files wait for), and no supervisor starts a daemon while its
# predecessor still exits.
starts=()
for run in 1 2 3; do
  python3 tests/bench/startup.py 1 "$work/start-groups.sock" "$static" -t "$pattern" >"$work/start-groups-$run"
  read -r ms _ <"$work/start-groups-$run" || ms=n/a
  starts+=("$ms")
done
read -r start_median start_min start_max < <(printf '%s\n' "${starts[@]}" | sort -n |
  awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)], v[1], v[NR] }')
row "start-up to event=start, 1000 matched groups" "${start_median:-n/a} ms (median of 3; min ${start_min:-n/a}, max ${start_max:-n/a})" \
  "<= 100 ms" "$(at_most "${start_median:-n/a}" 100)" \
  "tests/bench/startup.py, one run at a time: posix_spawn of the static binary to the datagram with event=start, -t '$pattern'"

"$static" --socket "$work/i.sock" -t "$pattern" 2>"$work/groups.err" &
pid=$!
track "$pid"
wait_for_text "$work/i.log" "[$pid]: event=start" 30
armed=$(find "/proc/$pid/fd" -lname '*.pressure' 2>/dev/null | wc -l)
hwm=$(status_kb "$pid" VmHWM)
row "resident memory (VmHWM), 1000 matched groups" "$hwm kB ($armed triggers armed)" "<= 2048 kB" \
  "$(at_most "$hwm" 2048)" "/proc/PID/status of the static binary after event=start, -t '$pattern'"
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true

# ---- CPU per crossing at 10, 100 and 1000 instances --------------------------------------
# One busy loop in each of 10 groups: 10 runnable tasks on fewer cores keep every one
# of those groups stalled, and each of their triggers crosses once per 100 ms window.
declare -A per_crossing
for count in 10 100 1000; do
  dir=$tree/c$count
  make_groups "$dir" "$count"
  loads=()
  for ((i = 0; i < 10; i++)); do
    nice -n 19 sh -c 'while :; do :; done' &
    loads+=($!)
    track $!
    echo $! >"$dir/g$i/cgroup.procs"
  done
  unshare --user --map-root-user "$static" --socket "$work/i.sock" --repeat 0 \
    -t "cpu:some:1ms:100ms:/$name/c$count/g*" 2>"$work/c$count.err" &
  pid=$!
  track "$pid"
  wait_for_text "$work/i.log" "[$pid]: event=start" 60
  sleep 2
  lines0=$(count_crossings "$work/i.log" "$pid")
  ns0=$(cpu_ns "$pid")
  sleep 8
  sleep 0.1 # the receiver flushes its log every 50 ms
  lines=$(($(count_crossings "$work/i.log" "$pid") - lines0))
  ns=$(($(cpu_ns "$pid") - ns0))
  per_crossing[$count]=$(calc 2 'a / b / 1000' -v a="$ns" -v b="$lines")
  row "CPU per crossing, $count instances of one pattern" "${per_crossing[$count]} us ($lines crossings in 8 s)" "-" "info" \
    "schedstat run time / lines, static, user namespace, 10 firing instances of cpu:some:1ms:100ms:/$name/c$count/g*"
  kill -TERM "$pid" "${loads[@]}"
  wait "$pid" "${loads[@]}" 2>/dev/null || true
done
row "CPU per crossing, 1000 / 10 instances" \
  "$(calc 2 'a / b' -v a="${per_crossing[1000]}" -v b="${per_crossing[10]}")x" "-" "info" \
  "ratio of the two rows above: poll(2) scans every descriptor on each wake-up"
