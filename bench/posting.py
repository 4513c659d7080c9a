"""The engine's posting use case in-process: ``record_purchase`` with the fashion-retailer
program, 5-line baskets, random members."""

from __future__ import annotations

import threading
import time

from bench.data import Dataset, purchases
from loyalty.services.purchases import record_purchase


def engine_rate(dataset: Dataset, count: int, *, tag: str, clients: int = 1) -> float:
    """Purchases per second, from ``clients`` threads (one transaction per purchase)."""
    per_client = count // clients
    commands = [list(purchases(dataset.members, per_client, seed=i, tag=f"{tag}c{i}"))
                for i in range(clients)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for command in commands[index]:
                record_purchase(dataset.ctx, command)
        except BaseException as error:  # reported below
            errors.append(error)

    if clients == 1:
        start = time.perf_counter()
        work(0)
    else:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return per_client * clients / elapsed
