# shellcheck shell=sh
# What PSI offers on this kernel, and what the kernel itself answers to each kind of
# trigger from each kind of opener: the facts the other steps and the README table
# are checked against.
[ -d /proc/pressure ] || fail "no /proc/pressure"
for resource in cpu memory io irq; do
  file=/proc/pressure/$resource
  if [ -e "$file" ]; then
    fact "mode.$resource" "$(stat -c '%A:%U' "$file")"
    if grep -q '^full ' "$file"; then fact "full.$resource" yes; else fact "full.$resource" no; fi
  else
    fact "mode.$resource" absent
  fi
  sed "s/^/  $resource: /" "$file" 2>/dev/null
done
mkdir -p /sys/fs/cgroup/psi-probe
fact cgroup.files "$(cd /sys/fs/cgroup/psi-probe && for f in *.pressure; do printf '%s,' "$f"; done | sed 's/,$//')"
rmdir /sys/fs/cgroup/psi-probe
fact cgroup.controllers "$(tr ' ' ',' </sys/fs/cgroup/cgroup.controllers)"

cpu=/proc/pressure/cpu
fact root.window_100ms "$(kernel_answer root $cpu 'some 50000 100000')"
fact root.window_500ms "$(kernel_answer root $cpu 'some 50000 500000')"
fact root.window_1s "$(kernel_answer root $cpu 'some 150000 1000000')"
fact root.cpu_full "$(kernel_answer root $cpu 'full 100000 1000000')"
fact user.window_2s "$(kernel_answer none $cpu 'some 200000 2000000')"
fact user.window_1s "$(kernel_answer none $cpu 'some 100000 1000000')"
fact sys_resource.window_1s "$(kernel_answer "$CAP_SYS_RESOURCE" $cpu 'some 100000 1000000')"
fact sys_resource.window_2s "$(kernel_answer "$CAP_SYS_RESOURCE" $cpu 'some 200000 2000000')"
fact dac_override.window_2s "$(kernel_answer "$CAP_DAC_OVERRIDE" $cpu 'some 200000 2000000')"
fact dac_override.window_1s "$(kernel_answer "$CAP_DAC_OVERRIDE" $cpu 'some 100000 1000000')"
# vmtool itself works: it keeps the one capability and drops the rest.
as_user "$CAP_SYS_RESOURCE" vmtool caps | grep -q '^uid=1000 euid=1000 effective=1000000$' \
  || fail "vmtool did not keep exactly CAP_SYS_RESOURCE: $(as_user "$CAP_SYS_RESOURCE" vmtool caps)"
as_user none vmtool caps | grep -q '^uid=1000 euid=1000 effective=0$' \
  || fail "vmtool did not drop every capability"
