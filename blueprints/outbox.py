"""The « Abandonnée » banner: hiding an alert (« Masquer »)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request

from billing import outbox
from billing.models import Message, MessageState, db
from blueprints import get_or_404
from blueprints.auth import safe_next

bp = Blueprint("outbox", __name__, url_prefix="/outbox")


@bp.app_context_processor
def banner_context():
    """`outbox_banner()` for base.html: called only by the pages that show the banner."""
    return {"outbox_banner": outbox.banner}


@bp.post("/<int:message_id>/dismiss")
def dismiss(message_id: int):
    message = get_or_404(Message, message_id)
    if message.state is not MessageState.ABANDONED:
        abort(404)
    outbox.dismiss(message)
    db.session.commit()
    back = safe_next(request.form.get("next"))
    if request.headers.get("HX-Request"):
        return render_template("_outbox_banner.html", back=back)
    return redirect(back, 303)
