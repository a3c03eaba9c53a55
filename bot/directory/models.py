"""The referral directory: organisations, their services and what a woman needs to reach them.

Design choices that the importer and the search rely on:

* Every organisation and service has a stable ``external_id`` chosen by the people
  who maintain the directory file; imports upsert by it, so a spreadsheet can be
  edited and re-imported without creating duplicates.
* Multi-valued attributes (target groups, spoken languages, e-government concerns)
  are normalised child tables with a composite primary key, so the search can
  filter with an indexed ``EXISTS`` instead of parsing delimited strings.
* Per-language texts live in ``ServiceText`` / ``EgovProcedureText`` rows, one per
  helpline language (en, sq, sr, mk).
* Opening hours are local wall-clock times in ``Service.timezone``. A row whose
  ``closes`` is at or before ``opens`` runs past midnight into the next day
  (so 00:00-00:00 is the whole day); ``always_open`` expresses 24/7.
* ``AuditEntry`` and ``NeedEvent`` never hold personal data: audit rows name the
  directory editor, need events are anonymous counts (no sender id at all).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base

__all__ = [
    "COUNTRIES",
    "SEARCH_KEY_LENGTH",
    "TEXT_LANGUAGES",
    "AuditAction",
    "AuditEntry",
    "Category",
    "ClosedDay",
    "ContactKind",
    "ContactPoint",
    "EgovConcern",
    "EgovProcedure",
    "EgovProcedureConcern",
    "EgovProcedureText",
    "NeedEvent",
    "OpeningHours",
    "Organisation",
    "SearchKey",
    "Service",
    "ServiceLanguage",
    "ServiceStatus",
    "ServiceTargetGroup",
    "ServiceText",
    "TargetGroup",
]

# Countries the directory may list: the Western Balkans plus Moldova and Ukraine,
# whose helplines refer women who have fled to the region.
COUNTRIES: tuple[str, ...] = ("AL", "XK", "MK", "RS", "BA", "ME", "MD", "UA")
# Languages of the helpline's own texts (bot.settings.LANGUAGES).
TEXT_LANGUAGES: tuple[str, ...] = ("en", "sq", "sr", "mk")
# Folded words are indexed by their first letters (bot.directory.search_keys).
SEARCH_KEY_LENGTH = 5


class Category(StrEnum):
    """Fixed vocabulary of service categories; the assistant's intents map onto it."""

    LEGAL_AID = "legal_aid"
    PSYCHOSOCIAL_SUPPORT = "psychosocial_support"
    SHELTER = "shelter"
    MEDICAL = "medical"
    POLICE = "police"
    HELPLINE = "helpline"
    EGOV_SERVICE = "egov_service"
    ECONOMIC_SUPPORT = "economic_support"
    ONLINE_VIOLENCE_SUPPORT = "online_violence_support"
    SOCIAL_SERVICES = "social_services"


class ServiceStatus(StrEnum):
    """Suspended services stay in the directory (and its history) but are never offered."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class TargetGroup(StrEnum):
    """Groups a service specifically welcomes; a service with none serves all women."""

    ROMA_WOMEN = "roma_women"
    WOMEN_WITH_DISABILITIES = "women_with_disabilities"
    LGBTI = "lgbti"
    RURAL_WOMEN = "rural_women"
    MINORS = "minors"
    MIGRANTS = "migrants"
    OLDER_WOMEN = "older_women"


class ContactKind(StrEnum):
    PHONE = "phone"
    WEBSITE = "website"
    EMAIL = "email"
    MESSAGING = "messaging"


class EgovConcern(StrEnum):
    """What an e-government procedure is about, so the assistant can match her need."""

    SOCIAL_ASSISTANCE = "social_assistance"
    CHILD_ALLOWANCE = "child_allowance"
    PROTECTION_ORDER = "protection_order"
    CIVIL_STATUS = "civil_status"
    CHILD_CUSTODY = "child_custody"
    ALIMONY = "alimony"
    DIVORCE = "divorce"
    RESIDENCE_REGISTRATION = "residence_registration"
    IDENTITY_DOCUMENTS = "identity_documents"
    HEALTH_INSURANCE = "health_insurance"
    EMPLOYMENT = "employment"


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


def _enum(enum_class: type[StrEnum]) -> Enum:
    """Store a StrEnum as its plain value in a VARCHAR, identically on SQLite and PostgreSQL."""
    return Enum(
        enum_class,
        native_enum=False,
        length=40,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Organisation(Base):
    """The body running one or more services (an NGO, a ministry, a police directorate).

    No country: some organisations run services in several countries.
    """

    __tablename__ = "directory_organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))

    services: Mapped[list[Service]] = relationship(back_populates="organisation")


class Service(Base):
    """One thing a woman can go to or call: a shelter, a legal aid desk, an e-gov procedure."""

    __tablename__ = "directory_services"
    __table_args__ = (
        Index("ix_directory_services_search", "category", "status", "country"),
        # The area search: her category and country, remote or not, inside a box of lat/lon.
        Index(
            "ix_directory_services_area",
            "category", "status", "country", "remote", "lat", "lon", "place_id",
        ),
        Index("ix_directory_services_place_id", "place_id"),
        Index("ix_directory_services_lat_lon", "lat", "lon"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("directory_organisations.id", ondelete="RESTRICT"), index=True
    )
    category: Mapped[Category] = mapped_column(_enum(Category))

    # Where
    country: Mapped[str] = mapped_column(String(2))
    place_id: Mapped[str | None] = mapped_column(String(100))
    municipality: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    remote: Mapped[bool] = mapped_column(Boolean, default=False)

    # Access
    free: Mapped[bool] = mapped_column(Boolean, default=True)
    wheelchair: Mapped[bool] = mapped_column(Boolean, default=False)
    sign_language: Mapped[bool] = mapped_column(Boolean, default=False)
    interpretation: Mapped[bool] = mapped_column(Boolean, default=False)

    # When (local times in ``timezone``, an IANA name such as Europe/Belgrade)
    always_open: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64))

    # Provenance
    source: Mapped[str | None] = mapped_column(String(500))
    last_verified: Mapped[dt.date | None] = mapped_column(Date)
    verified_by: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[ServiceStatus] = mapped_column(
        _enum(ServiceStatus), default=ServiceStatus.ACTIVE
    )
    demo: Mapped[bool] = mapped_column(Boolean, default=False)

    organisation: Mapped[Organisation] = relationship(back_populates="services")
    target_groups: Mapped[list[ServiceTargetGroup]] = relationship(
        cascade="all, delete-orphan", order_by="ServiceTargetGroup.group"
    )
    languages: Mapped[list[ServiceLanguage]] = relationship(
        cascade="all, delete-orphan", order_by="ServiceLanguage.language"
    )
    contacts: Mapped[list[ContactPoint]] = relationship(
        cascade="all, delete-orphan", order_by="ContactPoint.position"
    )
    hours: Mapped[list[OpeningHours]] = relationship(
        cascade="all, delete-orphan", order_by="[OpeningHours.weekday, OpeningHours.opens]"
    )
    closed_days: Mapped[list[ClosedDay]] = relationship(
        cascade="all, delete-orphan", order_by="ClosedDay.day"
    )
    texts: Mapped[list[ServiceText]] = relationship(
        cascade="all, delete-orphan", order_by="ServiceText.language"
    )
    egov: Mapped[EgovProcedure | None] = relationship(
        cascade="all, delete-orphan", back_populates="service"
    )
    search_keys: Mapped[list[SearchKey]] = relationship(cascade="all, delete-orphan")

    def text(self, language: str) -> ServiceText | None:
        """Return the texts in ``language``, falling back to English."""
        by_language = {text.language: text for text in self.texts}
        return by_language.get(language) or by_language.get("en")


class ServiceTargetGroup(Base):
    __tablename__ = "directory_service_target_groups"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("directory_services.id", ondelete="CASCADE"), primary_key=True
    )
    # "group" is an SQL keyword: the column is named target_group for hand-written SQL.
    group: Mapped[TargetGroup] = mapped_column(
        "target_group", _enum(TargetGroup), primary_key=True, index=True
    )


class ServiceLanguage(Base):
    """A language the staff speak with her (ISO 639-1/639-3 code, e.g. sq, sr, rom)."""

    __tablename__ = "directory_service_languages"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("directory_services.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(3), primary_key=True, index=True)


class ContactPoint(Base):
    """A phone number, website, e-mail or messaging handle; ``position`` keeps the file's order."""

    __tablename__ = "directory_contact_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("directory_services.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[ContactKind] = mapped_column(_enum(ContactKind))
    value: Mapped[str] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(String(200))


class OpeningHours(Base):
    """One opening interval on one weekday (0 = Monday), local time in ``Service.timezone``."""

    __tablename__ = "directory_opening_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("directory_services.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(SmallInteger)
    opens: Mapped[dt.time] = mapped_column(Time)
    closes: Mapped[dt.time] = mapped_column(Time)


class ClosedDay(Base):
    """A date (public holiday, closure) on which the weekly schedule does not apply."""

    __tablename__ = "directory_closed_days"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("directory_services.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)


class ServiceText(Base):
    """What the assistant tells her about a service, in one helpline language."""

    __tablename__ = "directory_service_texts"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("directory_services.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    how_to_access: Mapped[str | None] = mapped_column(Text)
    what_to_bring: Mapped[str | None] = mapped_column(Text)


class SearchKey(Base):
    """One folded word of a service's texts, cut short: what free-text search matches.

    Derived data, kept by ``bot.directory.search_keys.reindex``. Keys compare
    as bytes (collation "C" on PostgreSQL) so that a prefix is an index range.
    """

    __tablename__ = "directory_search_keys"
    __table_args__ = (Index("ix_directory_search_keys_key", "key", "service_id"),)

    service_id: Mapped[int] = mapped_column(
        ForeignKey("directory_services.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(
        String(SEARCH_KEY_LENGTH).with_variant(
            String(SEARCH_KEY_LENGTH, collation="C"), "postgresql"
        ),
        primary_key=True,
    )


class EgovProcedure(Base):
    """How to do an administrative procedure online (or why a visit is still needed)."""

    __tablename__ = "directory_egov_procedures"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("directory_services.id", ondelete="CASCADE"), unique=True
    )
    portal_url: Mapped[str | None] = mapped_column(String(500))
    in_person_visit: Mapped[bool] = mapped_column(Boolean, default=False)

    service: Mapped[Service] = relationship(back_populates="egov")
    concerns: Mapped[list[EgovProcedureConcern]] = relationship(
        cascade="all, delete-orphan", order_by="EgovProcedureConcern.concern"
    )
    texts: Mapped[list[EgovProcedureText]] = relationship(
        cascade="all, delete-orphan", order_by="EgovProcedureText.language"
    )


class EgovProcedureConcern(Base):
    __tablename__ = "directory_egov_procedure_concerns"

    procedure_id: Mapped[int] = mapped_column(
        ForeignKey("directory_egov_procedures.id", ondelete="CASCADE"), primary_key=True
    )
    concern: Mapped[EgovConcern] = mapped_column(_enum(EgovConcern), primary_key=True, index=True)


class EgovProcedureText(Base):
    """Steps and documents in one language, one item per line, in order."""

    __tablename__ = "directory_egov_procedure_texts"

    procedure_id: Mapped[int] = mapped_column(
        ForeignKey("directory_egov_procedures.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    steps: Mapped[str] = mapped_column(Text)
    documents: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Who changed which directory entry and which fields; never data about women."""

    __tablename__ = "directory_audit_entries"
    __table_args__ = (Index("ix_directory_audit_entity", "table_name", "entity_external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64))
    entity_external_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[AuditAction] = mapped_column(_enum(AuditAction))
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # {field: [old, new]} with values as the directory file writes them.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)


class NeedEvent(Base):
    """One anonymous search: what was needed where, and whether anything was found.

    Deliberately without sender id, conversation id or free text, so that the
    statistics of unmet needs can be kept and shared indefinitely.
    """

    __tablename__ = "directory_need_events"
    __table_args__ = (Index("ix_directory_need_events_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    category: Mapped[Category | None] = mapped_column(_enum(Category))
    country: Mapped[str | None] = mapped_column(String(2))
    municipality: Mapped[str | None] = mapped_column(String(200))
    place_id: Mapped[str | None] = mapped_column(String(100))
    found: Mapped[bool] = mapped_column(Boolean)
    result_count: Mapped[int] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(2))
    channel: Mapped[str | None] = mapped_column(String(32))
