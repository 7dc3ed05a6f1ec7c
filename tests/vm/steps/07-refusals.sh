# shellcheck shell=sh
# Every spec this kernel refuses, each checked against the kernel's own answer to the
# same trigger: when the kernel takes it, psi-syslogd must too (exit 0); when it does
# not, the exit status and the rule named must match the answer.
failures=0
# check WHO SPEC KERNEL_TEXT RESOURCE RULE: WHO is root or the capability numbers uid
# 1000 keeps; RULE is the one an EINVAL from the kernel would mean for this spec
# (full: no such line; grid: not a multiple of 2s without CAP_SYS_RESOURCE; minimum:
# under 500ms).
check() {
  who=$1 spec=$2 text=$3 resource=$4 rule=$5
  answer=$(kernel_answer "$who" "/proc/pressure/$resource" "$text")
  if [ "$who" = root ]; then
    run_daemon "$DAEMON" --check -t "$spec"
  else
    run_daemon as_user "$who" "$DAEMON" --check -t "$spec"
  fi
  echo "  the kernel, asked directly: $answer"
  case "$answer:$rule" in
  OK:*) want=0 phrase="configuration valid" ;;
  open:EACCES:*) want=77 phrase="only root open its pressure files for writing" ;;
  open:EPERM:*) want=77 phrase="only openers with CAP_SYS_RESOURCE" ;;
  write:EINVAL:full) want=69 phrase="no 'full' line for $resource" ;;
  write:EINVAL:grid) want=77 phrase="multiple of 2s" ;;
  write:EINVAL:minimum) want=71 phrase="shortest window is 500ms" ;;
  *) want=unknown phrase="?" ;;
  esac
  if [ "$STATUS" != "$want" ] || ! echo "$OUTPUT" | grep -q -- "$phrase"; then
    echo "  MISMATCH: wanted exit $want and '$phrase'"
    failures=$((failures + 1))
  fi
  [ "$STATUS" = 0 ] || fact "refused.$who.$spec" "$STATUS"
}
check root cpu:full:200ms:2s 'full 200000 2000000' cpu full
check root cpu:some:50ms:100ms 'some 50000 100000' cpu minimum
check root memory:some:50ms:100ms 'some 50000 100000' memory minimum
check root io:full:100ms:400ms 'full 100000 400000' io minimum
check none cpu:some:100ms:1s 'some 100000 1000000' cpu grid
check none memory:some:10%:2s 'some 200000 2000000' memory grid
check none io:full:15%:2s 'full 300000 2000000' io grid
check none cpu:full:20%:2s 'full 400000 2000000' cpu full
check "$CAP_SYS_RESOURCE" cpu:some:100ms:1s 'some 100000 1000000' cpu grid
check "$CAP_SYS_RESOURCE" cpu:some:50ms:100ms 'some 50000 100000' cpu minimum
check "$CAP_SYS_RESOURCE" memory:some:10%:2s 'some 200000 2000000' memory grid
check "$CAP_DAC_OVERRIDE" cpu:some:100ms:1s 'some 100000 1000000' cpu grid
# No Debian kernel reports irq pressure: the documented 69.
if [ ! -e /proc/pressure/irq ]; then
  run_daemon "$DAEMON" --check -t irq:full:1ms:2s
  expect_status 69
  expect_output "no irq pressure"
fi
[ "$failures" = 0 ] || fail "$failures spec(s) not refused as the kernel refuses them"
cleanup
