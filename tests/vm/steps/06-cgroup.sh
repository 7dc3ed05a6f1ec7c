# shellcheck shell=sh
# A cgroup v2 trigger under load; the group removed (event=lost) and made again
# (event=rearmed), with no restart of the daemon.
group=/sys/fs/cgroup/psi-load
mkdir -p $group
EXTRA_CLEANUP="rmdir $group 2>/dev/null"
mark_log
start_daemon "$DAEMON" -t cpu:some:100ms:1s:/psi-load
wait_for "psi-syslogd\[$DAEMON_PID\]: event=start " 20 || fail "no event=start"
start_cpu_load $group
wait_for "psi-syslogd\[$DAEMON_PID\]: event=pressure resource=cpu .*cgroup=/psi-load" 60 \
  || fail "no crossing in the group"
stop_cpu_load
rmdir $group || fail "cannot remove the group"
wait_for "psi-syslogd\[$DAEMON_PID\]: event=lost resource=cpu .*cgroup=/psi-load" 20 \
  || fail "no event=lost"
mkdir $group
wait_for "psi-syslogd\[$DAEMON_PID\]: event=rearmed resource=cpu .*cgroup=/psi-load" 20 \
  || fail "no event=rearmed"
stop_daemon || fail "SIGTERM: exit $?"
cleanup
