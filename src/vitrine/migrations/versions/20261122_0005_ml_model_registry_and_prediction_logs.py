"""ml model registry and prediction logs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = sa.column("is_active", sa.Boolean()) == sa.true()


def upgrade() -> None:
    op.create_table(
        "ml_model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("macro_f1", sa.Float(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artifact_path", sa.String(length=500), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("sklearn_version", sa.String(length=32), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("training_job_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_model_versions")),
        sa.UniqueConstraint("name", "version", name="uq_ml_model_versions_name_version"),
    )
    op.create_index(
        "uq_ml_model_versions_active_name",
        "ml_model_versions",
        ["name"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )
    op.create_table(
        "ml_prediction_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("predicted_rating", sa.SmallInteger(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_prediction_logs")),
    )
    op.create_index(
        "ix_ml_prediction_logs_model_name_created_at",
        "ml_prediction_logs",
        ["model_name", "created_at"],
        unique=False,
    )
    op.create_index("ix_ml_prediction_logs_created_at", "ml_prediction_logs", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ml_prediction_logs_created_at", table_name="ml_prediction_logs")
    op.drop_index("ix_ml_prediction_logs_model_name_created_at", table_name="ml_prediction_logs")
    op.drop_table("ml_prediction_logs")
    op.drop_index("uq_ml_model_versions_active_name", table_name="ml_model_versions")
    op.drop_table("ml_model_versions")
