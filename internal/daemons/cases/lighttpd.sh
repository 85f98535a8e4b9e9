#!/bin/bash
# lighttpd: drops to www-data after binding port 80.
. /cases/lib.sh
lighttpd -f /etc/lighttpd/lighttpd.conf || fail "lighttpd did not start"
wait_for 10 tcp_listening 80 || fail "nothing listens on port 80"
curl -fsS --max-time 5 -o /dev/null http://127.0.0.1/index.lighttpd.html || fail "GET /index.lighttpd.html failed"
wait_for 5 test -n "$(procs lighttpd)" || fail "no lighttpd process"
assert_dropped lighttpd www-data www-data
stop /run/lighttpd.pid
pass "GET answered, lighttpd runs as www-data"
