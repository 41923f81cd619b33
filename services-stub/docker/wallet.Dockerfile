# Image of the wallet service (accounts, top-ups, transfers on the double-entry ledger).
# Build from the repository root:  docker build -f services-stub/docker/wallet.Dockerfile -t walletco/wallet .
# Base pinned to an exact patch tag; dependencies installed from hashed pins (requirements.txt);
# no secrets at build time (credentials and database URLs come from the environment at run time).
FROM python:3.11.10-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY services-stub/docker/requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.txt

FROM python:3.11.10-slim-bookworm
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY services-stub/walletstubs/__init__.py /app/walletstubs/__init__.py
COPY services-stub/walletstubs/common /app/walletstubs/common
COPY services-stub/walletstubs/wallet /app/walletstubs/wallet
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WALLETSTUB_CONTAINER=1 \
    WALLETSTUB_HOST=0.0.0.0 \
    WALLETSTUB_PORT=8080
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"WALLETSTUB_PORT\"]}/healthz', timeout=2)"]
CMD ["python", "-m", "walletstubs.wallet"]
