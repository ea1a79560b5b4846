# chat-server: one binary, REST + Socket.IO on one port, data under /data.
#
#   docker build -t chat-server .
#   docker run -d --name chat -p 3000:3000 -v chat-data:/data chat-server
#
# See docs/deploy.md for Fly.io, Render and a plain VPS.

# ---- build ------------------------------------------------------------------
# Builder and runtime are both Debian bookworm, so the binary links against
# the same glibc it runs with. The image has gcc, which the bundled SQLite
# (rusqlite's `bundled` feature) needs.
ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src

# 1. Dependencies only, against placeholder crates, so this layer is reused
#    until Cargo.toml, Cargo.lock or the SQLite options change. The workspace
#    also holds the load generator (bench/): only its manifest is needed.
COPY Cargo.toml Cargo.lock ./
# SQLite compile options (see the file).
COPY .cargo ./.cargo
COPY bench/Cargo.toml ./bench/Cargo.toml
RUN mkdir -p src bench/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > bench/src/main.rs \
    && cargo build --release --locked -p chat-server \
    && rm -rf src

# 2. The crate itself. The web assets are embedded into the binary.
#    `touch` makes sure cargo rebuilds the crate instead of reusing the
#    placeholder built above (copied files can be older than that build).
COPY src ./src
COPY assets ./assets
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked -p chat-server

# ---- run --------------------------------------------------------------------
FROM debian:bookworm-slim

# A fixed, unprivileged uid/gid; /data is created here, owned by it, before
# the VOLUME line, so a fresh named volume starts out writable by it.
RUN groupadd --system --gid 10001 chat \
    && useradd --system --uid 10001 --gid chat --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin chat \
    && mkdir /data \
    && chown chat:chat /data \
    && chmod 0750 /data

COPY --from=builder /src/target/release/chat-server /usr/local/bin/chat-server

ENV CHAT_ADDR=0.0.0.0:3000 \
    CHAT_DATA_DIR=/data \
    CHAT_LOG_FORMAT=json

USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 3000

# `chat-server healthcheck` GETs /healthz on the CHAT_ADDR port (the image
# has no curl). start-period covers database migrations on a large database.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["chat-server", "healthcheck"]

# On SIGTERM the server closes sockets, finishes in-flight requests and
# checkpoints the WAL; give it time (docker stop -t 30, or stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["chat-server"]
CMD ["serve"]
