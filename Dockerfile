# vrender: CPU image (software Vulkan via Mesa lavapipe + ffmpeg/x264).
# Build:  docker build -t vrender:cpu .
# Run:    docker run --rm -p 3001:3001 vrender:cpu                 # = vrender serve
#         docker run --rm --user "$(id -u)" -v "$PWD:/work" -w /work vrender:cpu \
#             render examples/hello.json -o hello.mp4
# Stages (the seed's): dev (toolchain + runtime tools, `docker build --target dev` for `cargo test`),
# build (release binary, dependencies cached in their own layer), prod (small runtime image).
# scripts/check-dockerfile.sh checks this file; keep it and Dockerfile.gpu in step.

ARG RUST_VERSION=1.95

# ---- dev ------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS dev
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libvulkan1 mesa-vulkan-drivers \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# ---- build ----------------------------------------------------------------------------------------
FROM dev AS build
# Dependency layer: the workspace manifests and empty crate roots, so that `cargo build` downloads and
# compiles every dependency; this layer is reused until Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY engine/Cargo.toml engine/Cargo.toml
COPY service/Cargo.toml service/Cargo.toml
COPY benches/Cargo.toml benches/Cargo.toml
RUN mkdir -p engine/src service/src benches/src \
    && touch engine/src/lib.rs service/src/lib.rs \
    && echo 'fn main() {}' > service/src/main.rs \
    && echo 'fn main() {}' > benches/src/main.rs \
    && cargo build --release --locked -p vrender-service \
    && rm -rf engine/src service/src benches/src
# The sources. Fonts (assets/) and shaders (shaders/) are compiled into the binary (include_bytes!/
# include_str!), so the binary is self-contained and prod needs neither folder.
COPY assets assets
COPY shaders shaders
COPY engine engine
COPY service service
COPY benches benches
# The Studio page (service/studio/) embeds the example projects.
COPY examples examples
# touch: the sources are older than the dummy build's outputs; make cargo rebuild the workspace crates.
RUN find engine service benches -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p vrender-service \
    && install -D -m 0755 target/release/vrender /out/vrender

# ---- prod -----------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS prod
# ffmpeg: encoder (x264, VP9/Opus for webm) and ffprobe; libvulkan1: the Vulkan loader wgpu opens;
# mesa-vulkan-drivers: lavapipe, the software Vulkan device; curl: HEALTHCHECK.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libvulkan1 mesa-vulkan-drivers ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# Non-root user; DATA_DIR holds the SQLite store, outputs/, tmp/ (per-render temporary files) and assets/.
RUN groupadd --system --gid 10001 vrender \
    && useradd --system --uid 10001 --gid vrender --home-dir /var/lib/vrender --shell /usr/sbin/nologin vrender \
    && mkdir -p /var/lib/vrender/data/tmp /var/lib/vrender/data/outputs /var/lib/vrender/data/assets /var/lib/vrender/.cache \
    && chown -R vrender:vrender /var/lib/vrender
COPY --from=build /out/vrender /usr/local/bin/vrender
ENV HOME=/var/lib/vrender \
    XDG_CACHE_HOME=/var/lib/vrender/.cache \
    DATA_DIR=/var/lib/vrender/data \
    HOST=0.0.0.0 \
    PORT=3001 \
    FFMPEG_PATH=/usr/bin/ffmpeg \
    GPU_ADAPTER=llvmpipe \
    RUST_LOG=info \
    LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/vrender
EXPOSE 3001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["sh", "-c", "curl -fsS -o /dev/null http://127.0.0.1:${PORT}/api/v1/health || exit 1"]
ENTRYPOINT ["vrender"]
CMD ["serve"]
