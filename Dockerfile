# Preroll on a machine that is not a Raspberry Pi: a USB camera (v4l2:), a network camera (url:)
# or the built-in demo scene. On a Pi, use deploy/install.sh instead (the Pi camera needs
# rpicam-apps from Raspberry Pi OS). See docs/install-raspberry-pi.md, "Docker".
#
#   docker build -t preroll .
#   docker run -d --name preroll -p 8080:8080 -v preroll-data:/var/lib/preroll \
#       -e PREROLL_PASSWORD='a long password' preroll
#   USB camera:     --device /dev/video0 --group-add "$(getent group video | cut -d: -f3)" \
#                   -e PREROLL_SOURCE=v4l2:/dev/video0
#   network camera: -e PREROLL_SOURCE='url:rtsp://user:password@192.168.1.20:554/stream'
#   a config file:  -v /etc/preroll:/etc/preroll:ro -e PREROLL_CONFIG=/etc/preroll/config.json
#   the CLI:        docker run --rm preroll probe --source url:rtsp://... --frames 5 --json

# --- build: compilers for the native SQLite module, pnpm, the TypeScript build -------------------
FROM debian:trixie-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nodejs npm ffmpeg ca-certificates g++ make python3 libnode-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/preroll
COPY . .
# The same script as a bare-metal install: checks Node >= 20.19, installs pnpm 10, the locked
# dependencies and builds. Then the development tools (TypeScript, jest) are dropped.
RUN sh deploy/setup.sh \
 && CI=true pnpm install --prod --frozen-lockfile --reporter=append-only

# --- runtime: node and ffmpeg only ---------------------------------------------------------------
FROM debian:trixie-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nodejs ffmpeg ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --home-dir /var/lib/preroll --no-create-home \
      --shell /usr/sbin/nologin --groups video preroll \
 && mkdir -p /var/lib/preroll \
 && chown preroll:preroll /var/lib/preroll
COPY --from=build /opt/preroll /opt/preroll
WORKDIR /opt/preroll
# The recordings go to the volume whatever a mounted config says (the environment wins over it).
# MALLOC_ARENA_MAX=2 keeps the native memory flat over long runs; a fixed mmap threshold and 2 MB
# semi-spaces keep the resident memory about 50 MB lower; a 256 MB old generation caps V8's heap
# growing factor, so dead Buffers never pile up between collections (docs/benchmarks.md, Soak).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    NODE_OPTIONS="--max-semi-space-size=2 --max-old-space-size=256" \
    PREROLL_DATA=/var/lib/preroll
VOLUME ["/var/lib/preroll"]
EXPOSE 8080
USER preroll
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PREROLL_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM closes the clip being recorded before exiting: give `docker stop` time (-t 60).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "apps/server/dist/src/cli.js"]
CMD ["serve"]
