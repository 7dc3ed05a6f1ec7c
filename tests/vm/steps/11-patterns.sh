# shellcheck shell=sh
# A cgroup pattern on this kernel's own cgroup v2 tree: every matching group armed and
# no sibling, a group made later armed at once (event=armed), load in it logged with the
# trigger's name at its severity, and its removal normal churn (event=removed, no
# event=lost).
parent=/sys/fs/cgroup/psi-pattern
mkdir -p $parent/a.service $parent/b.socket
EXTRA_CLEANUP="rmdir $parent/a.service $parent/b.socket $parent/c.service $parent 2>/dev/null"
mark_log
start_daemon "$DAEMON" -t 'cpu:some:100ms:1s:/psi-pattern/*.service severity=crit name=svc'
wait_for "psi-syslogd\[$DAEMON_PID\]: event=start " 20 || fail "no event=start"
armed=""
for fd in "/proc/$DAEMON_PID/fd/"*; do
  target=$(readlink "$fd")
  case $target in *.pressure) armed="$armed $target" ;; esac
done
[ "$armed" = " $parent/a.service/cpu.pressure" ] \
  || fail "armed at start:$armed (a.service alone matches)"
mkdir $parent/c.service
wait_for "psi-syslogd\[$DAEMON_PID\]: event=armed resource=cpu .* name=svc cgroup=/psi-pattern/c.service" 20 \
  || fail "no event=armed for c.service"
start_cpu_load $parent/c.service
wait_for "daemon.crit psi-syslogd\[$DAEMON_PID\]: event=pressure resource=cpu .* name=svc cgroup=/psi-pattern/c.service" 60 \
  || fail "no crit crossing in c.service"
stop_cpu_load
rmdir $parent/c.service || fail "cannot remove c.service"
wait_for "psi-syslogd\[$DAEMON_PID\]: event=removed resource=cpu .* name=svc cgroup=/psi-pattern/c.service" 20 \
  || fail "no event=removed"
if step_log | grep -q "psi-syslogd\[$DAEMON_PID\]: event=lost "; then
  fail "a removed match is not lost"
fi
stop_daemon || fail "SIGTERM: exit $?"
cleanup
