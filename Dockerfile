# Infusion Check-in server image. The same image runs `checkin migrate` and `checkin serve`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin checkin

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY server/__init__.py server/__init__.py
RUN pip install . && pip uninstall --yes infusion-checkin

COPY server ./server
COPY sql ./sql
COPY pwa ./pwa
# Editable: the server finds sql/ and pwa/ beside its package.
RUN pip install --no-deps -e .

USER checkin
ENV HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["checkin", "serve"]
