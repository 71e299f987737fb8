# syntax=docker/dockerfile:1

# Build stage: install the package and its dependencies into a self-contained venv.
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY engine ./engine
RUN pip install --no-cache-dir .

# Runtime stage: the venv, the page's templates and static files, nothing else.
FROM python:3.12-slim AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BACKPROP_LAB_STATIC_DIR=/app/static \
    BACKPROP_LAB_TEMPLATES_DIR=/app/templates
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY static ./static
COPY templates ./templates
USER 10001:10001
EXPOSE 8000
# The slim image has no curl: probe /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
# One worker: sessions live in the process's memory. Behind a reverse proxy, trust its headers.
CMD ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--workers", "1", "--proxy-headers", "--forwarded-allow-ips", "*"]
