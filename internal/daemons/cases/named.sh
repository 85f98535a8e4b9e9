#!/bin/bash
# named (BIND 9): answers for localhost on port 53 as user bind; it keeps
# CAP_NET_BIND_SERVICE across its switch of uid (capset).
. /cases/lib.sh
named -u bind -4 -c /etc/bind/named.conf || fail "named did not start"
wait_for 15 tcp_listening 53 || fail "nothing listens on port 53"
answer=$(dig +short +time=2 +tries=3 @127.0.0.1 localhost) || fail "dig failed"
[ "$answer" = 127.0.0.1 ] || fail "localhost resolved to '$answer'"
assert_dropped named bind bind
stop /run/named/named.pid
pass "resolved localhost, named runs as bind"
