# PostgreSQL 15 from Debian's package (no registry image is needed): a
# cluster made at first start in /var/lib/llmgw-pg (a volume), the database
# and role named by POSTGRES_DB / POSTGRES_USER with POSTGRES_PASSWORD
# (scram-sha-256), listening on PGHOST:PGPORT.
FROM debian:bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/llmgw-pg /var/run/postgresql \
 && chown postgres:postgres /var/lib/llmgw-pg /var/run/postgresql
COPY docker/postgres-entrypoint.sh /usr/local/bin/llmgw-postgres
USER postgres
ENV PGDATA=/var/lib/llmgw-pg/data PGHOST=127.0.0.1 PGPORT=5432 \
    POSTGRES_DB=llmgw POSTGRES_USER=llmgw
EXPOSE 5432
HEALTHCHECK --interval=1s --timeout=3s --retries=60 \
  CMD /usr/lib/postgresql/15/bin/pg_isready -h "$PGHOST" -p "$PGPORT" -d "$POSTGRES_DB" -U "$POSTGRES_USER"
ENTRYPOINT ["llmgw-postgres"]
