# syntax=docker/dockerfile:1

# Build stage: the pinned dependencies in a layer of their own (a code change does not reinstall
# them), then the package itself, whose wheel carries the page's static files and templates.
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
WORKDIR /src
# Exact versions for reproducible builds; regenerate with `python .ci/pins.py image`.
COPY .ci/image-requirements.txt ./
RUN pip install --no-cache-dir --requirement image-requirements.txt
COPY pyproject.toml README.md LICENSE ./
COPY app ./app
COPY engine ./engine
COPY static ./static
COPY templates ./templates
COPY lessons ./lessons
# Built with the pinned setuptools above; `pip check` proves the pinned set is complete.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && pip check
# The sessions' folder, copied into the runtime stage owned by the server's user.
RUN mkdir -p /data

# Runtime stage: the venv and nothing else.
FROM python:3.12-slim AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BACKPROP_LAB_HOST=0.0.0.0 \
    BACKPROP_LAB_PORT=8000 \
    BACKPROP_LAB_FORWARDED_ALLOW_IPS=* \
    BACKPROP_LAB_STORE=sqlite:////data/sessions.db
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=10001:10001 /data /data
USER 10001:10001
# Sessions live in /data (a SQLite file): mount a volume there and they survive a new
# container; replicas on several hosts share Redis instead (BACKPROP_LAB_STORE=redis://…).
VOLUME ["/data"]
EXPOSE 8000
# The slim image has no curl: probe /healthz with the standard library, on the port in use.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('BACKPROP_LAB_PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status != 200)"]
# The same command as outside the image: every BACKPROP_LAB_* setting means the same here
# (BACKPROP_LAB_WORKERS=2 for two processes sharing the file). Proxy headers are trusted from
# any address (the container sits behind a reverse proxy); set
# BACKPROP_LAB_FORWARDED_ALLOW_IPS to narrow that.
CMD ["backprop-lab", "serve"]
