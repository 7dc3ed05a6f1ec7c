# shellcheck shell=sh
# The shipped sysvinit script with BusyBox's start-stop-daemon and the shipped default
# configuration: it starts the default triggers with the least privilege this kernel
# needs (nobody where the files are 0666, root where they are 0444), reloads, stops.
mark_log
/etc/init.d/psi-syslogd start || fail "start: exit $?"
wait_for "psi-syslogd\[[0-9]+\]: event=start .*triggers=3" 20 || fail "no event=start"
pid=$(cat /run/psi-syslogd.pid)
uid=$(awk '/^Uid:/ { print $3 }' "/proc/$pid/status")
echo "running as uid $uid"
fact sysvinit.uid "$uid"
case "$(stat -c %a /proc/pressure/memory)" in
666) [ "$uid" = 65534 ] || fail "the files are 0666, yet it runs as uid $uid, not nobody" ;;
*) [ "$uid" = 0 ] || fail "the files are root-only, yet it runs as uid $uid" ;;
esac
/etc/init.d/psi-syslogd status || fail "status: exit $?"
/etc/init.d/psi-syslogd reload || fail "reload: exit $?"
wait_for "psi-syslogd\[$pid\]: event=reload triggers=3" 20 || fail "no event=reload"
/etc/init.d/psi-syslogd stop || fail "stop: exit $?"
wait_for "psi-syslogd\[$pid\]: event=stop signal=SIGTERM" 20 || fail "no event=stop"
cleanup
