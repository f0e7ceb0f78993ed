# syntax=docker/dockerfile:1
# One image for `plugwork run`, `plugwork worker` and `plugwork hub` (docs/deploy.md), with the `speed`
# (uvloop, httptools) and `postgres` (asyncpg) extras. The greeter example is the default app in /app;
# build your own image FROM this one and COPY your app over /app.
#
#   docker build -t plugwork .
#   docker run -p 8000:8000 plugwork                                           # the greeter, HTTP
#   docker run -e PLUGWORK_QUEUE_URL=postgresql://... -e PLUGWORK_HEALTHCHECK=worker plugwork \
#       plugwork worker app:app --config plugwork.yaml                         # a worker
#   docker run -p 4000:4000 -e PLUGWORK_HUB_STORE=postgresql://... \
#       -e PLUGWORK_HEALTHCHECK_URL=http://127.0.0.1:4000/health/live plugwork plugwork hub   # a hub

ARG PYTHON_VERSION=3.11

# ---- build: a virtual environment with Plugwork and its extras (wheels only; no compiler in the image)
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install --only-binary=asyncpg,uvloop,httptools,orjson,pydantic-core ".[speed,postgres]"

# ---- runtime: the virtual environment, the scripts of deploy/bin, a non-root user
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# HTTP_HOST (the seed projects' name) rather than PLUGWORK_HTTP_HOST, so either overrides it at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HTTP_HOST=0.0.0.0 \
    PLUGWORK_HUB_HOST=0.0.0.0 \
    PLUGWORK_LOG_JSON=true
RUN groupadd --system --gid 10001 plugwork \
    && useradd --system --uid 10001 --gid plugwork --home-dir /app --shell /usr/sbin/nologin plugwork \
    && install -d -o plugwork -g plugwork -m 700 /var/lib/plugwork /var/lib/plugwork/bootstrap
COPY --from=build /opt/venv /opt/venv
COPY deploy/bin/ /usr/local/bin/
WORKDIR /app
COPY --chown=plugwork:plugwork examples/greeter/ /app/
USER 10001:10001
EXPOSE 8000 4000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["plugwork-healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["plugwork-entrypoint"]
CMD ["plugwork", "run", "app:app", "--config", "plugwork.yaml"]
