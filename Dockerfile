# The ETL job's image: `python -m etl run` as a non-root user, only the job's runtime inside.
# Base pinned to a patch release; bump it (or pin a digest) deliberately.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
COPY etl/requirements.txt /tmp/requirements.txt
# A self-contained virtualenv; the final stage copies it and nothing else from here. Its
# bytecode is compiled here: the task's root is read-only (and PYTHONDONTWRITEBYTECODE set), so
# without it every run compiled boto3, botocore and PyMySQL again: 1.2 s of CPU importing the
# job instead of 0.24 s (the job's own etl/ compiles in 0.07 s). unchecked-hash: no source
# timestamps to go stale.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-compile -r /tmp/requirements.txt \
    && /opt/venv/bin/python -m compileall -q --invalidation-mode unchecked-hash /opt/venv/lib

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The stream path's export engine (etl/stream_client.py): the `mariadb` C client, ~15 MB, no
# Perl; libmariadb3 brings caching_sha2_password for MySQL 8.4 / Aurora MySQL 3. Bookworm's
# 10.11 line; the patch release follows Debian's security updates.
RUN apt-get update \
    && apt-get install -y --no-install-recommends "mariadb-client-core=1:10.11.*" \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 etl \
    && useradd --system --uid 10001 --gid etl --no-create-home --home-dir /app etl
# Aurora jobs verify the cluster's certificate against the RDS CA bundle (every region's roots;
# DB_TLS_CA, components/specs/aurora.py), fetched over HTTPS from AWS at build time.
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.SSL.html
ADD --chmod=0644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY etl/ ./etl/
USER 10001:10001
# The task runs this image on a read-only root (FSBP ECS.5) with a task volume at /tmp for the
# job's scratch files; declared here, Fargate starts that volume as this image's /tmp (1777)
# instead of root's 0755: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html
VOLUME ["/tmp"]
CMD ["python", "-m", "etl", "run"]
