# fusionbridge container image: the daemon as a non-root process on a read-only root filesystem.
#
#   docker build -t fusionbridge .
#   docker build --secret id=ca_bundle,src=/path/to/proxy-ca.pem -t fusionbridge .   # behind a TLS-intercepting proxy
#
# The defaults are the production bases; both can be swapped (e.g. for an offline build that uses
# locally made base images). Builder and runtime must use the same Python image: the virtual
# environment's interpreter path is copied over as is.
ARG PYTHON_IMAGE=python:3.12-slim-trixie
# Pinned to the uv that wrote uv.lock.
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# Dependencies first: this layer is rebuilt only when the lock changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi; \
    uv sync --locked --no-dev --no-install-project

# Then the project itself, installed as a wheel (not editable) so /src is not needed at run time.
COPY pyproject.toml uv.lock README.md ./
COPY fusionbridge ./fusionbridge
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi; \
    uv sync --locked --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
# Slim Python images ship the standard library without bytecode; compile it once here because a
# read-only root filesystem (and PYTHONDONTWRITEBYTECODE) means it would be recompiled on every
# start and every healthcheck otherwise.
RUN python3 -m compileall -q -j 0 \
      -x '/(test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip|pydoc_data)/' \
      "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')" \
 && groupadd --gid 10001 fusionbridge \
 && useradd --uid 10001 --gid fusionbridge --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin fusionbridge \
 && install -d -o fusionbridge -g fusionbridge -m 0750 /var/lib/fusionbridge
COPY --from=builder /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FUSIONBRIDGE_STORAGE__PATH=/var/lib/fusionbridge/fusionbridge.db \
    FUSIONBRIDGE_HTTP__HOST=0.0.0.0
LABEL org.opencontainers.image.title="fusionbridge" \
      org.opencontainers.image.description="Huawei FusionSolar generation to REDEX I-REC monthly submissions" \
      org.opencontainers.image.licenses="MIT"
WORKDIR /var/lib/fusionbridge
VOLUME ["/var/lib/fusionbridge"]
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["fusionbridge", "healthcheck"]
ENTRYPOINT ["fusionbridge"]
CMD ["run"]
