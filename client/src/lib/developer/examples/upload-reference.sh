#!/usr/bin/env bash
# Uploads a reference image (PNG, JPEG or WebP, at most 10 MB and 4096 × 4096 pixels) for a task's
# referenceIds. The image is the raw request body. Usage: upload-reference.sh photo.jpg
# Needs NOVART_API_KEY (tasks:write); NOVART_URL defaults to http://localhost:4000.
set -euo pipefail
NOVART_URL="${NOVART_URL:-http://localhost:4000}"

# Answers 201 {"id": "…", "width": …, "height": …}; errors are {"error": {"code": "…", "message": "…"}}.
curl --silent --show-error "$NOVART_URL/api/uploads" \
  -H "Authorization: Bearer $NOVART_API_KEY" \
  --data-binary @"$1"
echo
