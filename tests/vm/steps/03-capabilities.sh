# shellcheck shell=sh
# uid 1000 with exactly one capability: CAP_SYS_RESOURCE (short windows from 6.5; no
# help against a 0444 file), then CAP_DAC_OVERRIDE (gets past the file mode only).
for who in sys_resource dac_override; do
  case $who in
  sys_resource) cap=$CAP_SYS_RESOURCE ;;
  dac_override) cap=$CAP_DAC_OVERRIDE ;;
  esac
  as_user "$cap" vmtool caps
  answer=$(kernel_answer "$cap" /proc/pressure/cpu 'some 100000 1000000')
  echo "$who, a 1s window, the kernel asked directly: $answer"
  run_daemon as_user "$cap" "$DAEMON" --check -t cpu:some:100ms:1s
  case "$answer" in
  OK) expect_status 0 ;;
  open:EACCES)
    expect_status 77
    expect_output "CAP_SYS_RESOURCE does not get past a file mode"
    expect_output "CAP_DAC_OVERRIDE"
    ;;
  write:EINVAL)
    expect_status 77
    expect_output "multiple of 2s"
    ;;
  *) fail "the kernel answered $answer, which this step does not know" ;;
  esac
done
cleanup
