# shellcheck shell=sh
# A real memory crossing: processes that each touch 48 MB in a group whose
# memory.high is 16 MB (the VM has 256 MB and no swap). The kernel reclaims and then
# throttles each one over memory.high, and counts that time as memory stall, in the
# group and system-wide. Logged through BusyBox syslogd.
group=/sys/fs/cgroup/psi-memory
echo +memory >/sys/fs/cgroup/cgroup.subtree_control || fail "cannot enable the memory controller"
mkdir -p $group
echo 16M >$group/memory.high
EXTRA_CLEANUP="kill \$HOG 2>/dev/null; wait \$HOG 2>/dev/null; rmdir $group 2>/dev/null"
mark_log
start_daemon "$DAEMON" -t memory:some:100ms:1s
wait_for "psi-syslogd\[$DAEMON_PID\]: event=start " 20 || fail "no event=start"
sh -c 'echo $$ >"$1/cgroup.procs" && while :; do dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null; done' sh $group &
HOG=$!
wait_for "psi-syslogd\[$DAEMON_PID\]: event=pressure resource=memory kind=some threshold_us=100000 window_us=1000000 .*cgroup=/" \
  60 || { cat $group/memory.pressure $group/memory.events; fail "no memory crossing logged"; }
cat $group/memory.pressure
stop_daemon || fail "SIGTERM: exit $?"
cleanup
