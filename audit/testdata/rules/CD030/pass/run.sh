#!/bin/sh
# the engine socket, read-only or not
docker run -d --name ci-runner -v runner-config:/etc/gitlab-runner gitlab/gitlab-runner:v17.0.0
