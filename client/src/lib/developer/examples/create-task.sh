#!/usr/bin/env bash
# Creates a task with curl. The idempotency key makes retrying safe: sending the same key again within
# 24 hours answers the original task with "created": false and charges nothing more.
# Needs NOVART_API_KEY (tasks:write). Optional: NOVART_URL, PROMPT, IDEMPOTENCY_KEY, WEBHOOK_URL.
set -euo pipefail
NOVART_URL="${NOVART_URL:-http://localhost:4000}"
PROMPT="${PROMPT:-A lighthouse on a cliff at dusk, oil painting}"
# A fresh key per task you mean to create; keep it to retry that same task after a timeout.
IDEMPOTENCY_KEY="${IDEMPOTENCY_KEY:-$( (uuidgen || cat /proc/sys/kernel/random/uuid) 2>/dev/null)}"

# JSON string escaping for the values put in the request below.
escape() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '%s' "$s"
}

# With WEBHOOK_URL set, this task's events are also POSTed there, signed with your task webhook secret.
webhook=""
if [ -n "${WEBHOOK_URL:-}" ]; then webhook=", \"webhookUrl\": \"$(escape "$WEBHOOK_URL")\""; fi

curl --silent --show-error "$NOVART_URL/graphql" \
  -H "Authorization: Bearer $NOVART_API_KEY" \
  -H "Content-Type: application/json" \
  --data-binary @- <<JSON
{
  "query": "mutation (\$input: CreateTaskInput!) { createTask(input: \$input) { created task { id status cost queuePosition } } }",
  "variables": {
    "input": {
      "model": "novart-sketch",
      "prompt": "$(escape "$PROMPT")",
      "width": 512,
      "height": 512,
      "count": 1,
      "idempotencyKey": "$(escape "$IDEMPOTENCY_KEY")"$webhook
    }
  }
}
JSON
echo
