# syntax=docker/dockerfile:1
# The prediction service. Build after `dvc repro` (or `dvc pull`) has produced models/:
#   docker build -t movie-rating .   &&   docker run -p 8000:8000 movie-rating
# The base image (a Python 3.11 with `python3` on PATH) and the image uv is copied from are
# build arguments, so a machine that cannot pull them can build from its own (.ci/container).
ARG BASE_IMAGE=python:3.11-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# --- models: fail early, with a clear message, when the DVC artifact is not there ----------
FROM ${BASE_IMAGE} AS models
WORKDIR /models
# The glob lets COPY succeed without a models/ directory, so the check below can explain.
COPY pyproject.toml model[s] ./
RUN test -f model_card.json && test -n "$(find . -maxdepth 1 -name '*.joblib')" \
    || { echo "ERROR: models/model_card.json or the model artifact is missing;" \
              "run 'dvc repro' (or 'dvc pull') before 'docker build'." >&2; exit 1; }

# --- build: runtime dependencies only, from the lock file ----------------------------------
FROM ${BASE_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
# UV_NATIVE_TLS: trust the system's certificates (a build behind a TLS proxy mounts its own).
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_NATIVE_TLS=1
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
# [tool.uv] default-groups pulls in pipeline/registry/dev tools: none of them belong here.
RUN uv sync --frozen --no-default-groups --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-default-groups --no-dev --no-editable

# --- runtime ---------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
# LightGBM's library needs the GNU OpenMP runtime, which slim Debian images lack (unpinned: the
# same line serves any Debian base, whose release fixes the version).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home app
WORKDIR /app
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MOVIE_RATING_MODELS_DIR=/app/models \
    MOVIE_RATING_CACHE_DIR=/app/cache
COPY --from=build /app/.venv /app/.venv
COPY --from=models /models/*.joblib /models/model_card.json /app/models/
# Refuse to build an image whose artifact does not match its card, or whose model would not be
# served on the fast path (the service would refuse or crawl; better to learn it now). The trees
# it compiles stay in /app/cache: a machine with this one's CPU loads them without compiling.
RUN python -m movie_rating.predict --models-dir /app/models --require-fast-path \
    --title "Build check" --original-language en --release-date 2020-01-01
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["uvicorn", "--factory", "movie_rating.serving.app:create_app", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--no-access-log"]
