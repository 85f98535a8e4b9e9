#!/bin/sh
# /etc read-only: shadow included
docker run --rm --cap-drop=ALL --mount type=bind,source=/etc,target=/host/etc,readonly alpine:3.20 cat /host/etc/hostname
