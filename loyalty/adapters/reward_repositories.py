"""Rewards' storage: stock, redemptions, vouchers; and purchase returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loyalty.adapters.orm import (
    PurchaseReturnRow,
    PurchaseRow,
    RedemptionRow,
    RewardStockRow,
    VoucherRow,
)


class RewardRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def _stock_row(self, program_id: str, reward_id: str) -> None:
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        self.session.execute(dialect_insert(RewardStockRow).values(
            program_id=program_id, reward_id=reward_id, issued=0).on_conflict_do_nothing())

    def take_unit(self, program_id: str, reward_id: str, stock: int) -> bool:
        """Take one unit if any is left, in one conditional statement: concurrent redemptions
        of the last unit cannot both succeed (the row is locked by the first one's update)."""
        self._stock_row(program_id, reward_id)
        taken = self.session.execute(
            update(RewardStockRow)
            .where(RewardStockRow.program_id == program_id,
                   RewardStockRow.reward_id == reward_id, RewardStockRow.issued < stock)
            .values(issued=RewardStockRow.issued + 1)
            .returning(RewardStockRow.issued)
        ).first()
        return taken is not None

    def give_unit_back(self, program_id: str, reward_id: str) -> None:
        self.session.execute(
            update(RewardStockRow)
            .where(RewardStockRow.program_id == program_id,
                   RewardStockRow.reward_id == reward_id, RewardStockRow.issued > 0)
            .values(issued=RewardStockRow.issued - 1))

    def issued(self, program_id: str) -> dict[str, int]:
        return {r: i for r, i in self.session.execute(
            select(RewardStockRow.reward_id, RewardStockRow.issued)
            .where(RewardStockRow.program_id == program_id)).all()}

    def redeemed_between(self, member_id: str, reward_id: str, start: datetime,
                         end: datetime) -> int:
        return int(self.session.scalar(
            select(func.count()).select_from(RedemptionRow)
            .where(RedemptionRow.member_id == member_id, RedemptionRow.reward_id == reward_id,
                   RedemptionRow.status == "issued", RedemptionRow.created_at >= start,
                   RedemptionRow.created_at < end)) or 0)

    def add_redemption(self, **values: Any) -> None:
        self.session.execute(insert(RedemptionRow).values(**values))

    def redemption(self, program_id: str, redemption_id: str) -> RedemptionRow | None:
        return self.session.execute(
            select(RedemptionRow).where(RedemptionRow.id == redemption_id,
                                        RedemptionRow.program_id == program_id)
            .with_for_update()).scalar_one_or_none()

    def set_redemption(self, redemption_id: str, **values: Any) -> None:
        self.session.execute(update(RedemptionRow).where(RedemptionRow.id == redemption_id)
                             .values(**values))

    def add_voucher(self, **values: Any) -> None:
        self.session.execute(insert(VoucherRow).values(**values))

    def voucher(self, program_id: str, code: str, *, lock: bool = False) -> VoucherRow | None:
        query = select(VoucherRow).where(VoucherRow.code == code,
                                         VoucherRow.program_id == program_id)
        if lock:
            query = query.with_for_update()
        return self.session.execute(query).scalar_one_or_none()

    def set_voucher(self, code: str, **values: Any) -> None:
        self.session.execute(update(VoucherRow).where(VoucherRow.code == code).values(**values))


class ReturnRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def purchase(self, program_id: str, purchase_id: str) -> PurchaseRow | None:
        return self.session.execute(
            select(PurchaseRow).where(PurchaseRow.id == purchase_id,
                                      PurchaseRow.program_id == program_id)
        ).scalar_one_or_none()

    def of_purchase(self, purchase_id: str) -> list[PurchaseReturnRow]:
        return list(self.session.scalars(
            select(PurchaseReturnRow).where(PurchaseReturnRow.purchase_id == purchase_id)
            .order_by(PurchaseReturnRow.recorded_at, PurchaseReturnRow.id)))

    def add(self, **values: Any) -> None:
        self.session.execute(insert(PurchaseReturnRow).values(**values))
