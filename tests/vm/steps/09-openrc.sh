# shellcheck shell=sh
# The OpenRC script's choice of user, made by its own start_pre under BusyBox sh (the
# VMs have no openrc-run: its helpers are stubbed), then the daemon run as that user
# with the shipped configuration: it must arm everything.
ewarn() { echo "ewarn: $*"; }
ebegin() { echo "ebegin: $*"; }
eend() { :; }
RC_SVCNAME=psi-syslogd
# shellcheck source=/dev/null # packaging/openrc/psi-syslogd, copied in by run-matrix.sh
. /etc/init.d/psi-syslogd-openrc
start_pre || fail "start_pre: exit $?"
echo "command_user=$command_user"
fact openrc.user "$command_user"
case "$command_user" in
nobody:nogroup) run_daemon as_user none "$DAEMON" --check -c /etc/psi-syslogd.conf ;;
root:root) run_daemon "$DAEMON" --check -c /etc/psi-syslogd.conf ;;
*) fail "unexpected command_user $command_user" ;;
esac
expect_status 0
[ "$(stat -c %a /proc/pressure/memory)" = 666 ] || [ "$command_user" = root:root ] \
  || fail "root-only pressure files, yet the script chose $command_user"
cleanup
