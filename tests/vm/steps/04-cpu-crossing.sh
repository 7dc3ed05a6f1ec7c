# shellcheck shell=sh
# A real CPU crossing (four busy loops on two CPUs), delivered by BusyBox syslogd.
mark_log
start_daemon "$DAEMON" -t cpu:some:100ms:1s
wait_for "psi-syslogd\[$DAEMON_PID\]: event=start " 20 || fail "no event=start"
start_cpu_load
wait_for "psi-syslogd\[$DAEMON_PID\]: event=pressure resource=cpu kind=some threshold_us=100000 window_us=1000000 .*cgroup=/" \
  60 || fail "no cpu crossing logged"
stop_cpu_load
stop_daemon || fail "SIGTERM: exit $?"
cleanup
