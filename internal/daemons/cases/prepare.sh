#!/bin/sh
# Prepares the image once, at build time, with full privileges: users,
# directories and keys the cases need, so that the cases themselves need
# nothing but what their daemons need.
set -e
# rsyslog's user, and the log directory it writes as that user.
useradd --system --no-create-home --user-group syslog
mkdir -p /var/log/capdrop && chown syslog:syslog /var/log/capdrop
# Runtime directories the daemons' packages create at boot.
mkdir -p /run/chrony /run/named /run/sshd /run/postgresql /var/run/postgresql
chown _chrony:_chrony /run/chrony
chown bind:bind /run/named
chown postgres:postgres /run/postgresql
chmod 2775 /run/postgresql
# sshd: user tester logs in with a key.
useradd --create-home --uid 2000 --shell /bin/bash tester
usermod -p "*" tester # no password, but not locked: sshd refuses locked accounts
ssh-keygen -q -t ed25519 -N '' -f /cases/id_ed25519
mkdir -p /home/tester/.ssh
cp /cases/id_ed25519.pub /home/tester/.ssh/authorized_keys
chown -R tester:tester /home/tester/.ssh
chmod 700 /home/tester/.ssh && chmod 600 /home/tester/.ssh/authorized_keys
chmod 600 /cases/id_ed25519
# PostgreSQL: a cluster that trusts TCP connections from the loopback.
[ -d /etc/postgresql/15/main ] || pg_createcluster 15 main >/dev/null
sed -i 's/^\(host\s\+all\s\+all\s\+127.0.0.1\/32\s\+\)\S\+/\1trust/' /etc/postgresql/15/main/pg_hba.conf
grep -q '127.0.0.1/32.*trust' /etc/postgresql/15/main/pg_hba.conf
