"""Published protocols: immutable versioned rows; specs read back and cached.

The bundled protocol is published by checksum (one row per distinct spec). A clinic's
own protocol line (slug ``<clinic>/<base>``, see ``schedules.protocol_updates``) gets a
new row for every publish, rollbacks included: a version, once written, never changes.
"""

from __future__ import annotations

from datetime import datetime

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
            latest = await latest_row(session, spec.slug)
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
            return await latest_row(session, slug)

    async def versions(self, slug: str) -> list[Protocol]:
        """Every version of a protocol line, oldest first."""
        async with self._sessions() as session:
            return await versions(session, slug)

    async def spec_for_treatment(
        self, treatment_id: int, session: AsyncSession | None = None
    ) -> ProtocolSpec:
        """The protocol a treatment follows; through ``session`` when the caller holds one
        (a second connection per handler can drain the pool when many run at once)."""
        if session is not None:
            treatment = await session.get(Treatment, treatment_id)
        else:
            async with self._sessions() as own:
                treatment = await own.get(Treatment, treatment_id)
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


async def latest_row(session: AsyncSession, slug: str) -> Protocol | None:
    """The newest version of a protocol line (None: nothing published under ``slug``)."""
    return (
        await session.exec(
            select(Protocol).where(Protocol.slug == slug).order_by(col(Protocol.version).desc())
        )
    ).first()


async def versions(session: AsyncSession, slug: str) -> list[Protocol]:
    rows = await session.exec(
        select(Protocol).where(Protocol.slug == slug).order_by(col(Protocol.version))
    )
    return list(rows.all())


async def add_version(
    session: AsyncSession,
    slug: str,
    spec: ProtocolSpec,
    *,
    change_note: str | None,
    created_by: str | None,
    now: datetime,
) -> Protocol:
    """Append ``spec`` to the line ``slug`` as its next version (flushed, not committed).

    The stored body carries the row's version number, so a spec read back says which
    version it is. Two publishers racing for the same number meet the unique
    (slug, version) constraint: one of them fails, neither overwrites.
    """
    latest = await latest_row(session, slug)
    number = latest.version + 1 if latest is not None else 1
    body_spec = spec.model_copy(update={"version": number})
    row = Protocol(
        slug=slug,
        version=number,
        checksum=body_spec.checksum(),
        body=body_spec.model_dump(mode="json"),
        change_note=change_note,
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row
