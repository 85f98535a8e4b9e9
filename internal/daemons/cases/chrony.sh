#!/bin/bash
# chronyd: an NTP server on UDP port 123 that does not touch the clock
# (-x); it keeps CAP_NET_BIND_SERVICE across its switch to _chrony
# (PR_SET_KEEPCAPS, setuid, then cap_set_proc: capset).
. /cases/lib.sh
chronyd -f /cases/chrony.conf -x -u _chrony || fail "chronyd did not start"
wait_for 10 udp_listening 123 || fail "nothing listens on UDP port 123"
wait_for 5 test -n "$(procs chronyd)" || fail "no chronyd process"
sleep 0.5
[ -n "$(procs chronyd)" ] || fail "chronyd exited"
assert_dropped chronyd _chrony _chrony
stop /run/chrony/chronyd.pid
pass "NTP port 123 bound, chronyd runs as _chrony"
