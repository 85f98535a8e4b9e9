#!/bin/sh
docker run --cap-drop=ALL --cap-add=SYS_ADMN app:1
