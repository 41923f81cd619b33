# Image of the in-cluster load test (infra/loadtest_cluster.py): Locust with the walletops toolkit's
# contracts/ and loadtests/ packages. The master and worker Deployments mount the locustfile, the SLO
# file and the gateway spec from a ConfigMap and run `locust -f /etc/walletops/locustfile.py`.
# Built hermetically by `walletops pipeline build` like the service images (buildah, no network
# during the build): BASE_IMAGE is the mmdebstrap Debian base; wheels/ holds the locked wheels of
# loadtest-requirements.txt; pip installs them with --no-index --require-hashes.
# No secrets at build time (the API keys come from the Secret loadtest-api-keys at run time).
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS build
COPY services-stub/docker/loadtest-requirements.txt /tmp/requirements.txt
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /tmp/wheels --require-hashes --no-deps \
       --no-cache-dir --disable-pip-version-check --quiet -r /tmp/requirements.txt \
    && /opt/venv/bin/python -m compileall -q --invalidation-mode unchecked-hash /opt/venv/lib \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
COPY contracts /app/contracts
COPY loadtests /app/loadtests
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 5557 8089
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import locust, loadtests.journeys, loadtests.shapes"]
CMD ["locust", "-f", "/app/loadtests/locustfile.py"]
