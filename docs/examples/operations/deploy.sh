#!/usr/bin/env bash
# What a deployment runs: $POLICIES are your policy files, $OMS_DATABASE_URL your database.
set -euo pipefail

# --8<-- [start:migrate]
oms db upgrade "$POLICIES" --database "$OMS_DATABASE_URL"
oms db current --database "$OMS_DATABASE_URL"
# --8<-- [end:migrate]

# --8<-- [start:reconcile]
oms reconcile "$POLICIES" --database "$OMS_DATABASE_URL"
# --8<-- [end:reconcile]

# --8<-- [start:relay]
oms outbox relay "$POLICIES" --database "$OMS_DATABASE_URL" --limit 500
# --8<-- [end:relay]
