#!/bin/sh
# the host's processes
docker run --rm -it --pid=host --cap-drop=ALL alpine:3.20 ps aux
