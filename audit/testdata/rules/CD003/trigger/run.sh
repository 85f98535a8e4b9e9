#!/bin/sh
docker run --cap-drop=ALL --cap-add=SYS_ADMIN app:1
