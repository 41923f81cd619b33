# Image of the roundups service (card purchases rounded up, swept into investments).
# Built hermetically by `walletops pipeline build` (buildah, no network during the build):
#   BASE_IMAGE  the Debian bookworm base made from Debian's packages with mmdebstrap
#               (python3 3.11, libstdc++6, CA certificates, the `app` user 10001), by digest or tag;
#   wheels/     the locked wheels of requirements.txt, downloaded on the host into the build context.
# pip installs them with --no-index --require-hashes: no package index, every hash checked.
# No secrets at build time (credentials and database URLs come from the environment at run time).
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS build
COPY services-stub/docker/requirements.txt /tmp/requirements.txt
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /tmp/wheels --require-hashes --no-deps \
       --no-cache-dir --disable-pip-version-check --quiet -r /tmp/requirements.txt \
    && /opt/venv/bin/python -m compileall -q --invalidation-mode unchecked-hash /opt/venv/lib \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
COPY services-stub/walletstubs/__init__.py /app/walletstubs/__init__.py
COPY services-stub/walletstubs/common /app/walletstubs/common
COPY services-stub/walletstubs/roundups /app/walletstubs/roundups
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
CMD ["python", "-m", "walletstubs.roundups"]
