#!/usr/bin/env bash
# The README's tour, against a server started by `make run` (or LOYALTY_URL).
set -euo pipefail
BASE=${LOYALTY_URL:-http://127.0.0.1:8000}
API=$BASE/v1/programs/${PROGRAM:-demo}
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
RUN=$RANDOM$RANDOM  # fresh identities and ids on every run
# shellcheck disable=SC1091
source "${KEYS_FILE:-demo-keys.env}"  # written by `make run` (loyalty demo load)
AUTH=(-H "Authorization: Bearer $CHECKOUT_KEY")
post() { curl -s -w '  [HTTP %{http_code}]\n' -X POST "$API$1" "${AUTH[@]}" -H 'Content-Type: application/json' -d "$2"; }

echo "== enroll"
post /members "{\"identities\": [{\"kind\": \"card\", \"value\": \"4000 $RUN\"},
  {\"kind\": \"email\", \"value\": \"lin$RUN@example.com\"}], \"attributes\": {\"first_name\": \"Lin\"}}"
PURCHASE="{\"member\": {\"identity\": \"card:4000 $RUN\"}, \"external_id\": \"TILL2-$RUN\",
  \"source\": \"store-1\", \"occurred_at\": \"$NOW\", \"channel\": \"pos\", \"store\": \"paris-01\",
  \"currency\": \"EUR\", \"lines\": [{\"sku\": \"COFFEE-1KG\", \"category\": \"coffee\", \"quantity\": 2,
  \"unit_price\": \"19.90\", \"discount\": \"2.00\", \"tax\": \"6.30\"}]}"
echo "== purchase"
post /purchases "$PURCHASE"
echo "== the same purchase again (a replay)"
post /purchases "$PURCHASE"
MEMBER=$(curl -s "$API/members?identity=email:lin$RUN@example.com" "${AUTH[@]}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "== balance of $MEMBER"
curl -s "$API/members/$MEMBER/balance" "${AUTH[@]}"; echo
echo "== a member token, and the ledger read with it"
TOKEN=$(curl -s -X POST "$API/members/$MEMBER/tokens" "${AUTH[@]}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -s "$API/members/$MEMBER/ledger?limit=20" -H "Authorization: Bearer $TOKEN"; echo
echo "== debit 20 points"
post "/members/$MEMBER/debits" "{\"points\": 20, \"external_id\": \"REDEEM-$RUN\"}"
echo "== debit 500 points (refused)"
post "/members/$MEMBER/debits" "{\"points\": 500, \"external_id\": \"REDEEM-$RUN-2\"}"
