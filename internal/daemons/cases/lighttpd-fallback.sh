#!/bin/bash
# lighttpd started the way some images' start scripts do: as www-data, and
# when that fails, again without the switch, as root. Its HTTP answer is the
# same either way; only the credentials of its process tell (verify's
# credential test uses it; it is not one of the ground-truth cases).
lighttpd -D -f /etc/lighttpd/lighttpd.conf 2>/tmp/lighttpd.err ||
  exec lighttpd -D -f /cases/lighttpd-root.conf
