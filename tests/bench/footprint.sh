#!/usr/bin/env bash
# The footprint benchmark (issues 6 and 11): builds the release and static binaries
# (every architecture in both flavours too, issue 11), measures them on the real kernel and prints a table of figures, each with how it was measured
# and PASS/FAIL against the budgets. It is a benchmark, not a test: it exits 0 whatever
# the figures are, and non-zero only when it could not measure.
#
# Usage: tests/bench/footprint.sh          (as root; about 7 minutes on 2 cores, 10-15 cold)
#   FOOTPRINT_BIN=PATH measures that binary instead of building (both columns use it;
#   the per-architecture rows are left out).
#
# It holds the test suite's lock for the whole run, so no test makes pressure meanwhile,
# and ends every process, namespace and file it made.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
  echo "footprint.sh: needs root (namespaces, strace, 1000 descriptors)" >&2
  exit 1
fi

missing=()
for tool in strace:strace valgrind:valgrind python3:python3 unshare:util-linux \
  qemu-aarch64-static:qemu-user-static; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/psi-footprint.XXXXXX")
rows=$work/rows
# shellcheck source=tests/bench/lib.sh
source tests/bench/lib.sh
trap 'stop_tracked; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# The lock tests/common takes (std::env::temp_dir() honours TMPDIR, as here).
exec 9>"${TMPDIR:-/tmp}/psi-syslogd-tests.lock"
echo "footprint: waiting for the test lock" >&2
flock 9

# 1000 triggers are 1000 descriptors, plus the receivers and the signal pipe.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
  ulimit -n 4096
fi

# ---- builds ----------------------------------------------------------------------------
if [ -n "${FOOTPRINT_BIN:-}" ]; then
  release=$FOOTPRINT_BIN
  static=$FOOTPRINT_BIN
  static_note="FOOTPRINT_BIN, not built here"
else
  echo "footprint: cargo build --release" >&2
  cargo build --release --locked >&2
  release=$PWD/target/release/psi-syslogd
  if [ -x packaging/build-static.sh ]; then
    echo "footprint: packaging/build-static.sh" >&2
    # Its last line: PATH SIZE bytes (LIBC static)
    read -r static _ _ static_libc _ < <(packaging/build-static.sh | tail -n 1)
    static_note="packaging/build-static.sh, ${static_libc#(} static"
  else
    static=$release
    static_note="packaging/build-static.sh missing: the dynamic release binary"
  fi
fi
repeat=()
mapfile -t repeat < <(repeat_option "$static")

{
  echo "psi-syslogd footprint, $(date -u '+%Y-%m-%d %H:%M UTC'), Linux $(uname -r), $(nproc) cores"
  echo "static: $static ($static_note)"
  echo "release: $release"
  echo "per-crossing runs pass: ${repeat[*]:-(no --repeat option: every crossing is logged)}"
} >"$work/header"

size=$(wc -c <"$static")
row "static binary size" "$(calc 1 'a / 1000' -v a="$size") KB ($size bytes)" "<= 450 KB" \
  "$(at_most "$size" 450000)" "wc -c of the stripped binary from $static_note"
row "release binary size (glibc, dynamic)" "$(calc 1 'a / 1000' -v a="$(wc -c <"$release")") KB" \
  "-" "info" "wc -c of target/release/psi-syslogd"

# ---- every architecture and flavour ---------------------------------------------------
# packaging/build-static.sh for each (its default target directory: the builds are made
# once), then each binary with 3 and 100 quiet triggers until event=start: natively
# where it is this machine's, and under qemu-user for all three. Under qemu-user VmHWM is
# qemu's own peak (its translator and code cache plus the guest's memory), not the
# daemon's: those rows compare builds with each other, not with the native ones.
if [ -z "${FOOTPRINT_BIN:-}" ]; then
  echo "footprint: every architecture and flavour" >&2
  start_receiver arch
  qemu_of() {
    case $1 in
      x86_64) echo "qemu-x86_64-static" ;;
      aarch64) echo "qemu-aarch64-static" ;;
      armv7) echo "qemu-arm-static" ;;
    esac
  }
  declare -A arch_hwm
  host_arch=$(uname -m)
  for arch in x86_64 aarch64 armv7; do
    qemu=$(qemu_of "$arch")
    for flavour in default tiny; do
      flag=()
      [ "$flavour" = tiny ] && flag=(--tiny)
      echo "footprint: packaging/build-static.sh --arch $arch ${flag[*]}" >&2
      read -r binary bytes _ < <(packaging/build-static.sh --arch "$arch" "${flag[@]}" | tail -n 1)
      case $arch-$flavour in
        x86_64-default) budget="<= 450 KB" verdict=$(at_most "$bytes" 450000) ;;
        *-tiny) budget="<= 200 KB" verdict=$(at_most "$bytes" 200000) ;;
        *) budget="-" verdict=info ;;
      esac
      row "size, $arch $flavour" "$(calc 1 'a / 1000' -v a="$bytes") KB ($bytes bytes)" "$budget" \
        "$verdict" "wc -c of packaging/build-static.sh --arch $arch${flag[*]:+ ${flag[*]}}"
      runners=("$qemu")
      [ "$arch" = "$host_arch" ] && runners=(native "$qemu")
      for runner in "${runners[@]}"; do
        for count in 3 100; do
          mapfile -t triggers < <(quiet_triggers "$count" io)
          if [ "$runner" = native ]; then
            "$binary" --socket "$work/arch.sock" "${triggers[@]}" 2>>"$work/arch.err" &
          else
            "$runner" "$binary" --socket "$work/arch.sock" "${triggers[@]}" 2>>"$work/arch.err" &
          fi
          pid=$!
          track $pid
          wait_for_text "$work/arch.log" "[$pid]: event=start" 30
          hwm=$(status_kb "$pid" VmHWM)
          arch_hwm[$arch-$flavour-$runner-$count]=$hwm
          kill -TERM "$pid"
          wait "$pid" 2>/dev/null || true
        done
        where=natively
        [ "$runner" = native ] || where="under $runner (qemu's VmHWM)"
        row "resident memory, $arch $flavour, $where" \
          "3 / 100 triggers: ${arch_hwm[$arch-$flavour-$runner-3]} / ${arch_hwm[$arch-$flavour-$runner-100]} kB" \
          "-" "info" "VmHWM of /proc/PID/status after event=start, quiet io triggers"
      done
    done
  done
  for runner in native qemu; do
    for arch in x86_64 aarch64 armv7; do
      key=$runner
      [ "$runner" = native ] || key=$(qemu_of "$arch")
      tiny_hwm=${arch_hwm[$arch-tiny-$key-100]:-}
      default_hwm=${arch_hwm[$arch-default-$key-100]:-}
      [ -n "$tiny_hwm" ] || continue
      row "resident memory, $arch tiny against default, 100 triggers ($runner)" \
        "$tiny_hwm kB against $default_hwm kB" "<= the default build's" \
        "$(at_most "$tiny_hwm" "$default_hwm")" "VmHWM, from the rows above"
    done
  done
fi

# ---- resident memory, then 10 s of idle ---------------------------------------------
# Six daemons at once, on quiet triggers (io full 100% of 2 s: they never fire),
# unprivileged 2 s windows, one receiver for all (each line carries its [PID]).
echo "footprint: resident memory and idle" >&2
start_receiver idle
declare -A daemon
for build in static release; do
  binary=$static
  [ "$build" = release ] && binary=$release
  for count in 3 100 1000; do
    mapfile -t triggers < <(quiet_triggers "$count" io)
    "$binary" --socket "$work/idle.sock" "${triggers[@]}" 2>>"$work/idle.err" &
    daemon[$build-$count]=$!
    track $!
  done
done
start_receiver peer
python3 tests/bench/peer_poll.py "$work/peer.sock" 5 &
peer=$!
track $peer
for key in "${!daemon[@]}"; do
  wait_for_text "$work/idle.log" "[${daemon[$key]}]: event=start" 20
done
sleep 0.5
for count in 3 100 1000; do
  for build in static release; do
    pid=${daemon[$build-$count]}
    rss=$(status_kb "$pid" VmRSS)
    hwm=$(status_kb "$pid" VmHWM)
    case $count in
      100) budget="<= 1 MiB"; verdict=$(at_most "$hwm" 1024) ;;
      1000) budget="<= 2 MiB"; verdict=$(at_most "$hwm" 2048) ;;
      *) budget="-"; verdict=info ;;
    esac
    [ "$build" = release ] && [ "$verdict" != info ] && verdict="info ($verdict)"
    row "resident memory, $count triggers ($build)" "VmRSS $rss kB, VmHWM $hwm kB" "$budget" \
      "$verdict" "/proc/PID/status after event=start; the budget is held against VmHWM"
  done
done

# Unprivileged triggers get spurious notifications after arming (NOTES.md), whenever
# their kind next accrues any stall: a burst of O_DSYNC writes (io full stall) brings
# them on now, and the idle window starts once no daemon has been woken for 6 s (at most
# 20 s: a daemon that never settles is measured anyway). strace watches the static
# daemons and the peer; the release daemons stay untraced and their context switches
# and CPU time are counted.
declare -A switches_at_start
for key in "${!daemon[@]}"; do switches_at_start[$key]=$(switches "${daemon[$key]}"); done
dd if=/dev/zero of="$work/dsync" bs=4k count=100 oflag=dsync 2>/dev/null
rm -f "$work/dsync"
quiet_since=$SECONDS
settle_start=$SECONDS
last=""
while ((SECONDS - quiet_since < 6 && SECONDS - settle_start < 20)); do
  now=""
  for key in static-3 static-1000 release-3 release-1000; do now+="$(switches "${daemon[$key]}") "; done
  [ "$now" = "$last" ] || quiet_since=$SECONDS
  last=$now
  sleep 0.5
done
settled=$((SECONDS - settle_start))
for key in static-3 static-1000; do
  woken=$(($(switches "${daemon[$key]}") - switches_at_start[$key]))
  row "wake-ups before settling, ${key#static-} triggers" "$woken in ${settled} s" "-" "info" \
    "context switches from event=start until none for 6 s, after 100 O_DSYNC writes (the kernel's spurious notifications)"
done
for key in static-3 static-1000; do
  timeout -s INT 10 strace -c -f -p "${daemon[$key]}" -o "$work/idle-$key.strace" 2>/dev/null &
  track $!
done
timeout -s INT 10 strace -c -f -p "$peer" -o "$work/idle-peer.strace" 2>/dev/null &
track $!
declare -A switches_before cpu_before
for key in release-3 release-1000; do
  switches_before[$key]=$(switches "${daemon[$key]}")
  cpu_before[$key]=$(cpu_ns "${daemon[$key]}")
done
lines_before=$(count_text "$work/idle.log" "event=")
sleep 10.3
wait "${tracked[@]: -3}" 2>/dev/null || true
lines_after=$(count_text "$work/idle.log" "event=")
quiet_lines=$((lines_after - lines_before))
for key in static-3 static-1000; do
  read -r calls detail < <(strace_calls "$work/idle-$key.strace")
  verdict=$(at_most "$calls" 0)
  # Reads and nothing logged: the kernel woke the daemon for nothing (the spurious
  # notifications of unprivileged triggers) and it read the file to find that out.
  if [ "$calls" != 0 ] && [ "$detail" = " pread64=$calls" ] && [ "$quiet_lines" = 0 ]; then
    verdict="$verdict (kernel's spurious notifications)"
  fi
  row "system calls in 10 s idle, ${key#static-} unprivileged triggers" "$calls${detail:+ ($detail)}" "0" \
    "$verdict" "strace -c -f -p for 10 s, static binary, no crossing ($quiet_lines lines logged)"
done
for key in release-3 release-1000; do
  woken=$(($(switches "${daemon[$key]}") - switches_before[$key]))
  spent=$(($(cpu_ns "${daemon[$key]}") - cpu_before[$key]))
  row "wake-ups and CPU in the same 10 s, ${key#release-} triggers" "$woken wake-ups, $spent ns CPU" \
    "0" "$(at_most "$woken" 0)" "context switches and schedstat of the untraced release daemon"
done
read -r peer_calls peer_detail < <(strace_calls "$work/idle-peer.strace")
echo "$peer_calls" >"$work/peer-idle-calls"

for key in "${!daemon[@]}"; do kill -TERM "${daemon[$key]}"; done
kill -TERM "$peer"

# ---- start-up -------------------------------------------------------------------------
# exec -> event=start received. The 1000-trigger run reaps its daemons in the background
# (12 s of RCU grace periods each) while the next phases run.
echo "footprint: start-up" >&2
mapfile -t triggers < <(quiet_triggers 3 io)
{
  read -r median fastest slowest
  read -r exit_median exit_slowest
} < <(python3 tests/bench/startup.py 20 "$work/start3.sock" "$static" "${triggers[@]}")
row "start-up, 3 triggers" "$median ms (min $fastest, max $slowest)" "-" "info" \
  "median of 20: posix_spawn to the event=start datagram received (tests/bench/startup.py), static"
row "stop, 3 triggers" "$exit_median ms (max $exit_slowest)" "-" "info" "median of 20: SIGTERM to exit (waitpid)"
mapfile -t triggers < <(quiet_triggers 1000 io)
python3 tests/bench/startup.py 5 "$work/start1000.sock" "$static" "${triggers[@]}" >"$work/start1000" &
start1000=$!
track $start1000
for ((i = 0; i < 600; i++)); do
  [ -s "$work/start1000" ] && break
  sleep 0.05
done
read -r median fastest slowest <"$work/start1000" || true
row "start-up, 1000 triggers" "${median:-n/a} ms (min ${fastest:-n/a}, max ${slowest:-n/a})" \
  "< 50 ms" "$(at_most "${median:-n/a}" 49.999)" "median of 5, as above; 1000 unprivileged 2 s-window triggers"

# ---- time to notice: the daemon against the peer's polling -----------------------------
# The daemon's default cpu trigger (cpu:some:50%:2s) against psi-notify's default (cpu
# some avg10 > 50, read every 5 s), both running while 4 busy loops start on the cores.
echo "footprint: time to notice CPU pressure, daemon and peer" >&2
for ((i = 0; i < 600; i++)); do
  avg10=$(awk -F'[ =]' '/^some/ { print $3 }' /proc/pressure/cpu)
  awk -v a="$avg10" 'BEGIN { exit !(a < 5) }' && break
  sleep 0.1
done
start_receiver notice
"$static" --socket "$work/notice.sock" 2>>"$work/notice.err" &
notice_daemon=$!
track $notice_daemon
wait_for_text "$work/notice.log" "[$notice_daemon]: event=start" 10
python3 tests/bench/peer_poll.py "$work/notice.sock" 5 &
notice_peer=$!
track $notice_peer
sleep 2.5
load_start=${EPOCHREALTIME/./}
first=${#tracked[@]}
start_cpu_load 4
for ((i = 0; i < 400; i++)); do
  grep -qF "[$notice_daemon]: event=pressure resource=cpu" "$work/notice.log" &&
    grep -qF "peer-poll: event=pressure resource=cpu" "$work/notice.log" && break
  sleep 0.05
done
for pid in "${tracked[@]:first}"; do kill -TERM "$pid"; done
kill -TERM "$notice_daemon" "$notice_peer"
notice_of() {
  awk -v t0="$load_start" -v text="$1" 'index($0, text) { printf "%.2f\n", ($1 / 1000 - t0) / 1e6; exit }' \
    "$work/notice.log"
}
daemon_notice=$(notice_of "[$notice_daemon]: event=pressure resource=cpu")
peer_notice=$(notice_of "peer-poll: event=pressure resource=cpu")
row "time to notice CPU pressure" "daemon ${daemon_notice:-none} s, peer ${peer_notice:-none} s" "-" "info" \
  "4 busy loops start at t=0 (avg10 was ${avg10}); first cpu line each receives; one sample, the peer's 5 s phase is random"

# ---- per crossing, in a user namespace ---------------------------------------------------
echo "footprint: per-crossing figures (user namespace, CPU load)" >&2
crossings_status=0
unshare --user --map-root-user --net \
  bash tests/bench/crossings.sh "$work" "$static" "$release" "${repeat[@]}" || crossings_status=$?

# ---- cgroup patterns: 1000 matched groups, and 10 / 100 / 1000 instances -----------------
echo "footprint: cgroup patterns (1000 matched groups)" >&2
instances_status=0
bash tests/bench/instances.sh "$work" "$static" || instances_status=$?

# ---- the peer, side by side -------------------------------------------------------------
idle_calls=$(strace_calls "$work/idle-static-3.strace" | awk '{ print $1 }')
row "peer: system calls in 10 s idle" "$peer_calls (${peer_detail# }) vs daemon $idle_calls" "-" \
  "ratio $(if [ "$idle_calls" = 0 ]; then echo "inf"; else calc 0 'a / b' -v a="$peer_calls" -v b="$idle_calls"; fi)" \
  "strace -c -f -p of tests/bench/peer_poll.py (psi-notify's loop: update 5, open/read/close x3) in the idle window"
if [ -n "${daemon_notice:-}" ] && [ -n "${peer_notice:-}" ]; then
  notice_ratio=$(calc 1 'a / b' -v a="$peer_notice" -v b="$daemon_notice")
else
  notice_ratio=n/a
fi
row "peer: time to notice" "$peer_notice s vs daemon $daemon_notice s" "-" "ratio $notice_ratio" \
  "from the row 'time to notice CPU pressure'"

wait "$start1000" || true
read -r exit_median exit_slowest < <(sed -n 2p "$work/start1000")
row "stop, 1000 triggers" "${exit_median:-n/a} ms (max ${exit_slowest:-n/a})" "-" "info" \
  "median of 5: SIGTERM to exit; the kernel waits one RCU grace period per closed trigger (psi_trigger_destroy)"

echo "footprint: stopping what it started" >&2
stop_tracked
cat "$work/header"
echo
echo "| figure | value | budget | verdict | how it was measured |"
echo "| --- | --- | --- | --- | --- |"
cat "$rows"
if [ "$crossings_status" != 0 ]; then
  echo "footprint: the per-crossing half (crossings.sh) failed with status $crossings_status" >&2
  exit "$crossings_status"
fi
if [ "$instances_status" != 0 ]; then
  echo "footprint: the cgroup-pattern part (instances.sh) failed with status $instances_status" >&2
  exit "$instances_status"
fi
