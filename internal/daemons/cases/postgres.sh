#!/bin/bash
# PostgreSQL 15: pg_ctlcluster starts the cluster as user postgres; a query
# over TCP answers.
. /cases/lib.sh
pg_ctlcluster 15 main start >/tmp/pg.out 2>&1 || fail "pg_ctlcluster start failed: $(tail -n 5 /tmp/pg.out)"
wait_for 20 tcp_listening 5432 || fail "nothing listens on port 5432"
answer=$(psql -h 127.0.0.1 -U postgres -Atc 'select 40 + 2' 2>&1) || fail "psql failed: $answer"
[ "$answer" = 42 ] || fail "select answered '$answer'"
assert_dropped postgres postgres postgres
pg_ctlcluster 15 main stop -m fast >/dev/null 2>&1 || note "pg_ctlcluster stop failed"
pass "a query answered, postgres runs as postgres"
