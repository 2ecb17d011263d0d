# syntax=docker/dockerfile:1
# regwatch API image.
#
#   docker build -t regwatch-api .
#   docker run --rm -p 127.0.0.1:8000:8000 -v regwatch-registry:/data/registry regwatch-api
#
# Two stages: `builder` turns the source tree into a wheel and installs it (with its
# pinned dependencies) into the virtualenv /opt/venv; `runtime` receives that venv
# and nothing else, so no source tree, pip cache or build tool reaches the final image.
# Both stages use the same base image, so the venv's interpreter path
# (/usr/local/bin/python3.11) is valid in the runtime stage.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Every pinned dependency ships manylinux wheels for CPython 3.11, so the builder
# needs no compiler. If one ever must be compiled, apt-get install build-essential
# HERE, in the builder, never in the runtime stage.
COPY pyproject.toml README.md* ./
COPY registry/ registry/
COPY events/ events/
COPY watcher/ watcher/
COPY fleet/ fleet/
COPY serving/ serving/
COPY api/ api/
COPY cli/ cli/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --upgrade pip \
 && pip wheel --no-deps --wheel-dir /wheels . \
 && pip install /wheels/*.whl \
 && regwatch --help > /dev/null

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="regwatch-api" \
      org.opencontainers.image.description="regwatch: a folder-based scikit-learn model registry served over HTTP"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REGWATCH_REGISTRY=/data/registry \
    REGWATCH_HOST=0.0.0.0 \
    REGWATCH_PORT=8000
# Unprivileged user. The registry directory is created and chowned BEFORE the
# VOLUME instruction: a fresh named volume is initialised from the image's copy of
# /data/registry, ownership included, so the volume starts out writable by regwatch.
RUN groupadd --system --gid 10001 regwatch \
 && useradd --system --uid 10001 --gid regwatch --home-dir /home/regwatch \
            --create-home --shell /usr/sbin/nologin regwatch \
 && mkdir -p /data/registry \
 && chown -R regwatch:regwatch /data
COPY --from=builder /opt/venv /opt/venv
USER regwatch
WORKDIR /home/regwatch
VOLUME /data/registry
EXPOSE 8000
# Liveness only (/healthz): an empty registry is a healthy, not-yet-ready service,
# and `depends_on: condition: service_healthy` must not wait for a first model.
# slim images have no curl: use the interpreter that is already there.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('REGWATCH_PORT', '8000'), timeout=2)"]
CMD ["regwatch", "serve", "--host", "0.0.0.0"]
