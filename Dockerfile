# DetectX bot images.
#   docker build -t detectx-bot .                                 the lean TF Serving client (default)
#   docker build --target inprocess -t detectx-bot:inprocess .    with TensorFlow, model in-process
# The lean image has no TensorFlow: set TFSERVING_ADDRESS. The model is not baked into either:
# compose serves ./saved_model through TF Serving; for the in-process image mount a model base
# dir at /app/saved_model (or let the first run download the default model into it).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first: this layer is rebuilt only when pyproject.toml changes, not on every code
# change. Empty packages stand in for the code so pip can resolve the project.
COPY pyproject.toml README.md ./
RUN mkdir bot handlers db \
    && touch bot/__init__.py handlers/__init__.py db/__init__.py \
    && pip install . \
    && pip uninstall --yes detectx-bot

FROM deps AS deps-inprocess
# The project's own extra; its version pins live in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install '.[inprocess]' \
    && pip uninstall --yes detectx-bot

FROM deps AS wheel
COPY bot ./bot
COPY handlers ./handlers
COPY db ./db
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM deps AS venv-lean
COPY --from=wheel /wheels /wheels
RUN pip install --no-deps /wheels/*.whl \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM deps-inprocess AS venv-inprocess
COPY --from=wheel /wheels /wheels
RUN pip install --no-deps /wheels/*.whl \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +


FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin detectx \
    && mkdir -p /app/data /app/saved_model \
    && chown 10001:10001 /app/data /app/saved_model
WORKDIR /app
# SQLite (the default DATABASE_URL, sqlite+aiosqlite:///data/detectbot.db) lives here.
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('LISTEN_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["detectbot"]
CMD ["run"]


FROM runtime AS inprocess
ENV TF_CPP_MIN_LOG_LEVEL=2
COPY --from=venv-inprocess /opt/venv /opt/venv
USER 10001:10001


# The default target (last stage): the TF Serving client without TensorFlow.
FROM runtime AS lean
COPY --from=venv-lean /opt/venv /opt/venv
USER 10001:10001
