#!/bin/sh
# the host's hostname
docker run --rm --hostname=builder --cap-drop=ALL alpine:3.20 hostname
