# DetectX bot image: `docker build -t detectx-bot .`
# The model is not baked in: compose serves ./saved_model through TF Serving, or mount a
# model base dir at /app/saved_model to run it in-process.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv && pip install --upgrade pip
WORKDIR /src

# Dependencies first (TensorFlow is most of the image): this layer is rebuilt only when
# pyproject.toml changes, not on every code change.
COPY pyproject.toml README.md ./
RUN mkdir bot handlers db \
    && touch bot/__init__.py handlers/__init__.py db/__init__.py \
    && pip install . \
    && pip uninstall --yes detectx-bot

COPY bot ./bot
COPY handlers ./handlers
COPY db ./db
RUN pip install --no-deps . \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +


FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLCONFIGDIR=/tmp/matplotlib
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin detectx \
    && mkdir -p /app/data /app/saved_model \
    && chown detectx:detectx /app/data /app/saved_model
COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
USER detectx
# SQLite (the default DATABASE_URL, sqlite+aiosqlite:///data/detectbot.db) lives here.
VOLUME ["/app/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('LISTEN_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["detectbot"]
CMD ["run"]
