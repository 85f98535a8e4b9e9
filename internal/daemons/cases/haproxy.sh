#!/bin/bash
# haproxy: binds port 80, chroots to /var/lib/haproxy, runs as haproxy.
. /cases/lib.sh
haproxy -f /cases/haproxy.cfg || fail "haproxy did not start"
wait_for 10 tcp_listening 80 || fail "nothing listens on port 80"
body=$(curl -fsS --max-time 5 http://127.0.0.1/) || fail "GET / failed"
[ "$body" = "haproxy ok" ] || fail "GET / answered '$body'"
assert_dropped haproxy haproxy haproxy
stop /run/haproxy.pid
pass "GET / answered, haproxy runs as haproxy"
