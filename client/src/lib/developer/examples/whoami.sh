#!/usr/bin/env bash
# The smallest authenticated request: who does this API key act for?
# Needs NOVART_API_KEY (a key with the account:read scope); NOVART_URL defaults to http://localhost:4000.
set -euo pipefail
NOVART_URL="${NOVART_URL:-http://localhost:4000}"

curl --silent --show-error "$NOVART_URL/graphql" \
  -H "Authorization: Bearer $NOVART_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"query":"{ me { email displayName balance { paid bonus total } } }"}'
echo
