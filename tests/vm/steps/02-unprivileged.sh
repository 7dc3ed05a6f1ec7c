# shellcheck shell=sh
# The default triggers as uid 1000 with no capabilities, as systemd's DynamicUser=yes
# runs the unit: armed where the kernel's own answer says so, else exit 77 naming the
# rule that refused and a way out that works here.
answer=$(kernel_answer none /proc/pressure/memory 'some 200000 2000000')
echo "the kernel, asked directly: $answer"
run_daemon as_user none "$DAEMON" --check
case "$answer" in
OK)
  expect_status 0
  expect_output "a 2s window: armed"
  mark_log
  start_daemon as_user none
  wait_for "psi-syslogd\[$DAEMON_PID\]: event=start .*triggers=3" 20 || fail "no event=start"
  stop_daemon || fail "SIGTERM: exit $?"
  ;;
open:EACCES)
  expect_status 77
  expect_output "only root open its pressure files for writing"
  expect_output "CAP_DAC_OVERRIDE"
  expect_output "dac-override.conf"
  expect_no_output "kernels before 6.5"
  ;;
open:EPERM)
  expect_status 77
  expect_output "only openers with CAP_SYS_RESOURCE"
  ;;
*) fail "the kernel answered $answer, which this step does not know" ;;
esac
# The way out named on a 0444 kernel works: CAP_DAC_OVERRIDE alone arms the defaults.
run_daemon as_user "$CAP_DAC_OVERRIDE" "$DAEMON" --check
expect_status 0
cleanup
