#!/bin/bash
# nginx: a master as root, workers as www-data, serving port 80.
. /cases/lib.sh
nginx || fail "nginx did not start"
wait_for 10 tcp_listening 80 || fail "nothing listens on port 80"
body=$(curl -fsS --max-time 5 http://127.0.0.1/) || fail "GET / failed"
[[ $body == *"Welcome to nginx"* ]] || fail "GET / did not answer nginx's page"
assert_dropped nginx www-data www-data 1
nginx -s quit 2>/dev/null || note "nginx -s quit failed"
pass "GET / answered, workers run as www-data"
