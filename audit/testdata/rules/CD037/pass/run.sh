#!/bin/sh
# the host's shared memory
docker run -d --ipc=shareable --cap-drop=ALL postgres:16
