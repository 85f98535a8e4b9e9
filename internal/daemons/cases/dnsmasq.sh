#!/bin/bash
# dnsmasq: DNS on port 53 and a DHCP range, as user dnsmasq; for DHCP it
# keeps CAP_NET_ADMIN across its switch of uid (capset).
. /cases/lib.sh
dnsmasq --conf-file=/dev/null --port=53 --no-resolv --no-hosts --address=/capdrop.test/10.1.2.3 \
  --dhcp-range=10.99.0.10,10.99.0.20,1h --user=dnsmasq --group=nogroup --pid-file=/run/dnsmasq.pid ||
  fail "dnsmasq did not start"
wait_for 10 udp_listening 53 || fail "nothing listens on UDP port 53"
answer=$(dig +short +time=2 +tries=2 @127.0.0.1 capdrop.test) || fail "dig failed"
[ "$answer" = 10.1.2.3 ] || fail "capdrop.test resolved to '$answer'"
udp_listening 67 || fail "nothing listens on UDP port 67 (DHCP)"
assert_dropped dnsmasq dnsmasq nogroup
stop /run/dnsmasq.pid
pass "resolved capdrop.test, DHCP listening, dnsmasq runs as dnsmasq"
