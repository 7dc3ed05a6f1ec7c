# shellcheck shell=sh
# The systemd unit's sandbox as far as BusyBox can build it: uid 1000 in a private user
# namespace mapping root and itself (PrivateUsers=yes with DynamicUser=yes), with no
# capability and then with only CAP_DAC_OVERRIDE (the drop-in dac-override.conf). The
# drop-in must arm the default triggers on every kernel, 5.10's 0444 files included.
run_daemon vmtool userns "$UNPRIVILEGED_UID" none "$DAEMON" --check -c /etc/psi-syslogd.conf
fact private_users.none "$STATUS"
case "$(stat -c %a /proc/pressure/memory)" in
666) expect_status 0 ;;
*)
  expect_status 77
  expect_output "dac-override.conf"
  ;;
esac
run_daemon vmtool userns "$UNPRIVILEGED_UID" "$CAP_DAC_OVERRIDE" "$DAEMON" --check -c /etc/psi-syslogd.conf
fact private_users.dac_override "$STATUS"
expect_status 0
expect_output "CAP_DAC_OVERRIDE: yes"
cleanup
