#!/bin/sh
# Run once by the postgres image when it initialises the primary's data directory: let the streaming replica
# (the `replica` profile of docker-compose.yml) connect for replication with the app's credentials.
set -e
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
