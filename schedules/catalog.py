"""Published protocols: one row per distinct spec; specs read back and cached."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schedules.clock import Clock
from schedules.db import SessionFactory
from schedules.models import Protocol, Treatment
from schedules.protocol import ProtocolSpec


class ProtocolCatalog:
    def __init__(self, sessions: SessionFactory, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._specs: dict[int, ProtocolSpec] = {}

    async def publish(self, spec: ProtocolSpec, *, created_by: str = "bundled") -> Protocol:
        """The row for this exact spec, inserted as the next version if it is new."""
        checksum = spec.checksum()
        async with self._sessions() as session:
            found = await _by_checksum(session, spec.slug, checksum)
            if found is not None:
                return found
            latest = (
                await session.exec(
                    select(Protocol)
                    .where(Protocol.slug == spec.slug)
                    .order_by(col(Protocol.version).desc())
                )
            ).first()
            row = Protocol(
                slug=spec.slug,
                version=max(spec.version, latest.version + 1 if latest else 1),
                checksum=checksum,
                body=spec.model_dump(mode="json"),
                created_by=created_by,
                created_at=self._clock.now(),
            )
            session.add(row)
            await session.commit()
            await session.refresh(row)
            return row

    async def latest(self, slug: str) -> Protocol | None:
        async with self._sessions() as session:
            return (
                await session.exec(
                    select(Protocol)
                    .where(Protocol.slug == slug)
                    .order_by(col(Protocol.version).desc())
                )
            ).first()

    async def spec_for_treatment(self, treatment_id: int) -> ProtocolSpec:
        async with self._sessions() as session:
            treatment = await session.get(Treatment, treatment_id)
        if treatment is None:
            raise LookupError(f"treatment {treatment_id} does not exist")
        return await self.spec(treatment.protocol_id)

    async def spec(self, protocol_id: int) -> ProtocolSpec:
        cached = self._specs.get(protocol_id)
        if cached is not None:
            return cached
        async with self._sessions() as session:
            row = await session.get(Protocol, protocol_id)
        if row is None:
            raise LookupError(f"protocol {protocol_id} does not exist")
        spec = ProtocolSpec.model_validate(row.body)
        self._specs[protocol_id] = spec
        return spec


async def _by_checksum(session: AsyncSession, slug: str, checksum: str) -> Protocol | None:
    return (
        await session.exec(
            select(Protocol).where(Protocol.slug == slug, Protocol.checksum == checksum)
        )
    ).first()
