#!/bin/bash
# tcpdump: captures one packet on lo, after switching to user tcpdump.
. /cases/lib.sh
tcpdump -i lo -p -n -Z tcpdump -c 1 udp port 9 >/tmp/tcpdump.out 2>/tmp/tcpdump.err &
pid=$!
wait_for 10 grep -q "listening on" /tmp/tcpdump.err || fail "tcpdump did not start: $(cat /tmp/tcpdump.err)"
assert_dropped tcpdump tcpdump tcpdump
for _ in 1 2 3; do echo capdrop | nc -u -w1 127.0.0.1 9 2>/dev/null; grep -q UDP /tmp/tcpdump.out && break; done
wait $pid || fail "tcpdump exited with $?: $(cat /tmp/tcpdump.err)"
grep -q "UDP, length 8" /tmp/tcpdump.out || fail "no packet captured: $(cat /tmp/tcpdump.out /tmp/tcpdump.err)"
pass "captured a packet on lo, tcpdump ran as tcpdump"
