# ofelia in a container, a drop-in for mcuadros/ofelia's image: built from
# source on Debian 12, run on Debian 12 slim.
#
#   docker build -t ofelia .
#   docker run -d --name ofelia \
#       -v /var/run/docker.sock:/var/run/docker.sock:ro \
#       -v ofelia-state:/var/lib/ofelia \
#       -v $PWD/config.ini:/etc/ofelia/config.ini:ro ofelia
#
# As Ofelia's image: ENTRYPOINT ofelia (behind tini, which reaps what local
# jobs leave behind), CMD `daemon --config /etc/ofelia/config.ini`, and the
# labels ofelia.service=true and ofelia.enabled=true that make this container
# the one whose labels may define local and service-run jobs. The database
# lives in /var/lib/ofelia: keep it on a volume. The web server is off; see
# docs/docker.md#the-container-image before turning it on.
FROM debian:12 AS build
WORKDIR /src
# The packages first, so the layer stays cached while sources change.
COPY tools/deps.sh tools/deps.sh
RUN ./tools/deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
ARG COMMIT=unknown
RUN make -j"$(nproc)" COMMIT="$COMMIT" ofelia && install -s -m 755 ofelia /usr/local/bin/ofelia

FROM debian:12-slim
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="ofelia" \
      org.opencontainers.image.description="A job scheduler for Docker hosts that keeps its state in SQLite; a drop-in for Ofelia" \
      org.opencontainers.image.revision="$COMMIT" \
      org.opencontainers.image.base.name="debian:12-slim" \
      ofelia.service="true" \
      ofelia.enabled="true"
# libcurl4 is not linked: notifications and the cluster load it when they
# first need it (src/lazycurl).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libh2o-evloop0.13 libwslay1 libjansson4 libjwt0 libssl3 libsqlite3-0 \
      libyaml-0-2 libuuid1 libcrypt1 libcurl4 tzdata ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && mkdir -p /var/lib/ofelia /etc/ofelia
COPY --from=build /usr/local/bin/ofelia /usr/bin/ofelia
RUN ln -s /usr/bin/ofelia /usr/local/bin/ofelia
# docker stop sends SIGTERM and SIGKILLs 10 s later: running jobs get 4 s,
# then are stopped (SIGTERM, SIGKILL 4 s later) and recorded, all within
# the 10 s. Longer jobs: raise this and the container's stop_grace_period
# (above twice this, plus 2 s).
ENV OFELIA_SHUTDOWN_GRACE=4s
VOLUME /var/lib/ofelia
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/bin/ofelia", "health"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/bin/ofelia"]
CMD ["daemon", "--config", "/etc/ofelia/config.ini"]
