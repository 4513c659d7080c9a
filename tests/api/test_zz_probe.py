from tests.api.test_tiers_api import LADDER, bought, TIER_MOVES, SHOP, ada, now  # noqa
import copy

def test_probe(client, ada):
    dearer = copy.deepcopy(LADDER)
    dearer["levels"][1]["threshold"] = "700.00"
    r = client.put(f"{SHOP}/definition/draft", json={"settings": {}, "rules": [], "tiers": dearer})
    print("\nPUT", r.status_code, r.get_json())
