# shellcheck shell=sh
# Root arms the project's headline example and it reaches syslog.
run_daemon "$DAEMON" --check -t memory:some:150000:1000000
expect_status 0
expect_output "trigger memory:some:150000:1000000"
mark_log
start_daemon "$DAEMON" -t memory:some:150000:1000000
wait_for "psi-syslogd\[$DAEMON_PID\]: event=start .*specs=memory:some:150000:1000000" 20 \
  || fail "no event=start"
stop_daemon || fail "SIGTERM: exit $?"
wait_for "psi-syslogd\[[0-9]+\]: event=stop signal=SIGTERM" 10 || fail "no event=stop"
cleanup
