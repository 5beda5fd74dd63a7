#!/usr/bin/env bash
# Proof that the OpenAPI schema types the Next.js frontend (docs/FRONTEND.md):
# export the schema, generate TypeScript types from it, type-check the sample
# client and the no-unknown guard against them. Needs no database or network
# once node_modules is installed (npm ci installs from the lock file).
set -euo pipefail
cd "$(dirname "$0")"

mkdir -p schema
DJANGO_SETTINGS_MODULE=main.settings.test ../../.venv/bin/python ../../manage.py spectacular \
  --format openapi-json --file schema/openapi.json --validate
npm ci --no-audit --no-fund
npm run generate
npm run check
