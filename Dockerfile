FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app
RUN useradd --system --create-home --uid 10001 docket
COPY pyproject.toml README.md ./
COPY apps ./apps
COPY config ./config
RUN pip install --no-cache-dir .
COPY . .
# collectstatic needs a secret key to import settings; this one is used for nothing else.
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
USER docket
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
