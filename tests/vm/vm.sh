# shellcheck shell=sh
# What every step of the kernel matrix shares (sourced by /init before each step).
# A step is a shell script that exits 0 for PASS; `fail` says why and exits 1.
# Waits have deadlines; nothing sleeps in place of a condition.

# shellcheck disable=SC2034 # used by the steps
LOG=/var/log/messages
DAEMON=/usr/sbin/psi-syslogd
UNPRIVILEGED_UID=1000
# shellcheck disable=SC2034 # used by the steps
CAP_DAC_OVERRIDE=1
# shellcheck disable=SC2034
CAP_SYS_RESOURCE=24

fail() {
  echo "FAIL: $*"
  cleanup
  exit 1
}

fact() {
  echo "@@ FACT $1 $2"
}

# Runs a command as uid 1000 keeping exactly the capabilities CAPS (numbers, or none).
as_user() {
  caps=$1
  shift
  vmtool as "$UNPRIVILEGED_UID" "$caps" "$@"
}

# Waits until the log holds a line matching `grep -E PATTERN` since mark_log, at most
# SECONDS.
wait_for() {
  pattern=$1 seconds=$2
  tries=$((seconds * 10))
  while [ "$tries" -gt 0 ]; do
    if step_log | grep -Eq -- "$pattern"; then
      step_log | grep -E -- "$pattern" | head -n 1 | sed 's/^/  logged: /'
      return 0
    fi
    usleep 100000
    tries=$((tries - 1))
  done
  echo "no line matching /$pattern/ in the log within ${seconds}s; since the step began it holds:"
  step_log | tail -n 20
  return 1
}

# The log is shared by all steps: mark_log remembers where this step's part begins.
mark_log() {
  LOG_START=$(($(wc -l <"$LOG") + 1))
}

step_log() {
  tail -n "+${LOG_START:-1}" "$LOG"
}

# Busy loops: more than the VM's 2 CPUs. With a cgroup, each moves itself there first.
start_cpu_load() {
  cgroup=${1:-}
  LOAD=""
  for _ in 1 2 3 4; do
    if [ -n "$cgroup" ]; then
      sh -c 'echo $$ >"$1/cgroup.procs" && while :; do :; done' sh "$cgroup" &
    else
      sh -c 'while :; do :; done' &
    fi
    LOAD="$LOAD $!"
  done
}

stop_cpu_load() {
  # shellcheck disable=SC2086 # a list of pids
  [ -n "${LOAD:-}" ] && kill $LOAD 2>/dev/null
  # shellcheck disable=SC2086
  [ -n "${LOAD:-}" ] && wait $LOAD 2>/dev/null
  LOAD=""
}

# Starts the daemon in the background, as root or (as_user CAPS ...) as uid 1000;
# DAEMON_PID is its pid.
DAEMON_PID=""
start_daemon() {
  if [ "$1" = as_user ]; then
    vmtool as "$UNPRIVILEGED_UID" "$2" "$DAEMON" &
  else
    "$@" &
  fi
  DAEMON_PID=$!
}

stop_daemon() {
  [ -n "$DAEMON_PID" ] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null
  wait "$DAEMON_PID"
  status=$?
  DAEMON_PID=""
  return "$status"
}

cleanup() {
  stop_cpu_load
  [ -n "$DAEMON_PID" ] && kill -TERM "$DAEMON_PID" 2>/dev/null
  [ -n "${EXTRA_CLEANUP:-}" ] && eval "$EXTRA_CLEANUP"
  return 0
}

# Runs the daemon to its exit; sets STATUS and OUTPUT (stderr and stdout).
run_daemon() {
  OUTPUT=$("$@" 2>&1)
  STATUS=$?
  echo "\$ $* -> exit $STATUS"
  echo "$OUTPUT" | sed 's/^/  /'
}

expect_status() {
  [ "$STATUS" = "$1" ] || fail "expected exit $1, got $STATUS"
}

expect_output() {
  echo "$OUTPUT" | grep -q -- "$1" || fail "the output does not say '$1'"
}

expect_no_output() {
  if echo "$OUTPUT" | grep -q -- "$1"; then fail "the output says '$1'"; fi
}

# What the kernel itself answers to TEXT on PATH: `open=... write=...`.
probe() {
  vmtool probe "$@"
}

# The kernel's answer in one word: OK, open:ERRNO or write:ERRNO. WHO is root, or the
# capabilities (numbers, or none) uid 1000 keeps.
kernel_answer() {
  who=$1 path=$2 text=$3
  if [ "$who" = root ]; then
    answer=$(probe "$path" "$text")
  else
    answer=$(as_user "$who" vmtool probe "$path" "$text")
  fi
  case "$answer" in
  "open=OK write=OK") echo OK ;;
  "open=OK write="*) echo "write:${answer#open=OK write=}" ;;
  "open="*) answer=${answer#open=}; echo "open:${answer%% *}" ;;
  *) echo "unknown:$answer" ;;
  esac
}
