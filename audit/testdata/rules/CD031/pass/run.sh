#!/bin/sh
# the host's root file system, writable
docker run --rm -it --cap-drop=ALL -v /srv/backup:/backup:ro alpine:3.20 ls /backup
