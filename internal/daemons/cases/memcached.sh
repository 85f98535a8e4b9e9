#!/bin/bash
# memcached: stores and returns a value, as user memcache.
. /cases/lib.sh
memcached -u memcache -l 127.0.0.1 -p 11211 -U 0 -d -P /tmp/memcached.pid || fail "memcached did not start"
wait_for 10 tcp_listening 11211 || fail "nothing listens on port 11211"
out=$(printf 'set k 0 0 2\r\nok\r\nget k\r\nquit\r\n' | nc -N -w 3 127.0.0.1 11211)
[[ $out == *"VALUE k 0 2"* ]] || fail "set/get answered: $out"
assert_dropped memcached memcache memcache
stop /tmp/memcached.pid
pass "set and got a value, memcached runs as memcache"
