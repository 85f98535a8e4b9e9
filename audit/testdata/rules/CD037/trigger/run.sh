#!/bin/sh
# the host's shared memory
docker run -d --ipc=host --cap-drop=ALL postgres:16
