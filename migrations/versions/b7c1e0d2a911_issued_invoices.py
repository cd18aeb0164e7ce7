"""issued invoices: service date, chosen issue date, replacement link, archived PDF

Revision ID: b7c1e0d2a911
Revises: 27ae43869232
Create Date: 2026-12-03 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c1e0d2a911'
down_revision = '27ae43869232'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        # Existing drafts keep the date they show: it counts as chosen.
        batch_op.add_column(sa.Column('issue_date_chosen', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
        batch_op.add_column(sa.Column('service_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('service_end', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('replaces_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('pdf_sha256', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_invoice_replaces_id'), ['replaces_id'], unique=False)
        batch_op.create_foreign_key('fk_invoice_replaces_id_invoice', 'invoice', ['replaces_id'], ['id'])
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.alter_column('issue_date_chosen', server_default=None)


def downgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_constraint('fk_invoice_replaces_id_invoice', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_invoice_replaces_id'))
        batch_op.drop_column('pdf_sha256')
        batch_op.drop_column('replaces_id')
        batch_op.drop_column('service_end')
        batch_op.drop_column('service_start')
        batch_op.drop_column('issue_date_chosen')
