# ofelia in a container: build on Debian 12, run on Debian 12 slim.
#
#   docker build -t ofelia .
#   docker run -d -v /var/run/docker.sock:/var/run/docker.sock \
#              -v ofelia-state:/var/lib/ofelia -v $PWD/ofelia.yaml:/etc/ofelia/ofelia.yaml:ro \
#              ofelia daemon --config /etc/ofelia/ofelia.yaml
#
# The database lives in /var/lib/ofelia: keep it on a volume so history,
# next runs and interrupted executions survive the container. A hardened,
# restart-safe deployment (healthcheck, non-root user, compose file) is the
# subject of its own issue; this file builds exactly what `make` builds.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN ./tools/deps.sh build && make

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libh2o-evloop0.13 libwslay1 libjansson4 libjwt0 libcurl4 libsqlite3-0 \
      libyaml-0-2 libuuid1 libcrypt1 tzdata ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/ofelia
COPY --from=build /src/ofelia /usr/local/bin/ofelia
VOLUME /var/lib/ofelia
ENTRYPOINT ["/usr/local/bin/ofelia"]
CMD ["daemon", "--enable-web", "--web-address", "0.0.0.0:8080"]
