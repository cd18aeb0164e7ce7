"""Paramètres: one page, form and POST per section, so an error in one never blocks another.

Entreprise (/settings/), Facturation, Emails (with « Tester »), Paiement en
ligne (Stripe) and Compte (language, password). Taxes live in their own
blueprint. Secrets are never written back into a page: the page says
« configuré » or « non configuré », a blank field keeps the stored value.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from billing import accounts, mailer, money, numbering, settings, uploads
from billing.models import Country, SmtpSecurity, db
from blueprints import base_url, htmx, render
from blueprints.auth import log_in
from blueprints.fields import (
    PDF,
    PNG_OR_JPEG,
    REQUIRED,
    LimitedFileField,
    new_password_field,
    password_again_field,
)

bp = Blueprint("settings", __name__, url_prefix="/settings")

INVALID_EMAIL = _l("Adresse email invalide.")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class SettingsForm(FlaskForm):
    """Text inputs are stripped of surrounding spaces (passwords are kept as typed)."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            if issubclass(unbound_field.field_class, StringField) and not issubclass(
                unbound_field.field_class, PasswordField
            ):
                options["filters"] = [_strip, *unbound_field.kwargs.get("filters", ())]
            return unbound_field.bind(form=form, **options)


class WholeNumberField(IntegerField):
    """An integer input where an empty value is « missing », not « not a number »."""

    def process_formdata(self, valuelist):
        if valuelist and not valuelist[0].strip():
            self.data = None
            return
        super().process_formdata(valuelist)


def checked(check, keep_result: bool = True):
    """A validator running a billing check; its normalized result replaces the data."""

    def validator(form, field):
        if not field.data or field.errors:
            return
        try:
            result = check(field.data)
        except (settings.SettingsError, numbering.NumberingError, uploads.UploadError) as error:
            raise ValidationError(str(error)) from error
        if keep_result:
            field.data = result

    return validator


def _logo_decodes(upload):
    uploads.image_extension(upload.stream)


def _prefix(*prefixes: str):
    def check(value: str) -> str:
        if not value.startswith(prefixes):
            or_word = _("ou")
            raise settings.SettingsError(
                _("Cette clé doit commencer par %(prefixes)s.",
                  prefixes=f" {or_word} ".join(prefixes))
            )
        return value

    return check


class BusinessForm(SettingsForm):
    name = StringField(_l("Raison sociale"), validators=[DataRequired(REQUIRED), Length(max=200)])
    address = TextAreaField(_l("Adresse"))
    email = EmailField(
        _l("Adresse email"), validators=[DataRequired(REQUIRED), Email(INVALID_EMAIL), Length(max=254)]
    )
    phone = StringField(_l("Téléphone"), validators=[Length(max=50)])
    logo = LimitedFileField(
        _l("Logo"), max_bytes=2 * 1024 * 1024, kinds=PNG_OR_JPEG,
        validators=[checked(_logo_decodes, keep_result=False)],
    )
    remove_logo = BooleanField(_l("Supprimer le logo"))
    country = SelectField(
        _l("Pays"),
        coerce=Country,
        choices=[
            SelectChoice(Country.FR.value, _l("France")),
            SelectChoice(Country.BE.value, _l("Belgique")),
            SelectChoice(Country.CA_QC.value, _l("Québec (Canada)")),
            SelectChoice(Country.OTHER.value, _l("Autre pays")),
        ],
    )
    currency = SelectField(_l("Devise"), choices=list(money.CURRENCIES))
    timezone = SelectField(_l("Fuseau horaire"))
    vat_number = StringField(_l("Numéro de TVA"), validators=[Length(max=50)])
    gst_number = StringField(_l("Numéro de TPS"), validators=[Length(max=50)])
    qst_number = StringField(_l("Numéro de TVQ"), validators=[Length(max=50)])
    siren = StringField(_l("SIREN"), validators=[checked(settings.normalize_siren)])
    bce_number = StringField(_l("Numéro BCE"), validators=[checked(settings.normalize_bce)])
    iban = StringField(_l("IBAN"), validators=[checked(settings.normalize_iban)])
    bic = StringField(_l("BIC"), validators=[checked(settings.normalize_bic)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = settings.time_zones()


def _number_format_field(label) -> StringField:
    return StringField(
        label, validators=[InputRequired(REQUIRED), checked(numbering.check_format, keep_result=False)]
    )


def _next_number_field(label) -> WholeNumberField:
    return WholeNumberField(
        label,
        validators=[
            InputRequired(REQUIRED),
            NumberRange(1, numbering.MAX_VALUE, _l("Le prochain numéro doit être au moins 1.")),
        ],
    )


class BillingForm(SettingsForm):
    payment_terms_days = WholeNumberField(
        _l("Délai de paiement (jours)"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(0, 365, _l("Le délai de paiement doit être compris entre 0 et 365 jours.")),
        ],
    )
    invoice_number_format = _number_format_field(_l("Format des numéros de facture"))
    invoice_next_number = _next_number_field(_l("Prochain numéro de facture"))
    credit_note_number_format = _number_format_field(_l("Format des numéros d'avoir"))
    credit_note_next_number = _next_number_field(_l("Prochain numéro d'avoir"))
    vat_exempt = BooleanField(_l("Franchise en base de TVA"))
    late_payment_text = TextAreaField(_l("Mention de retard de paiement"))
    legal_footer = TextAreaField(_l("Pied de page légal"))


class EmailsForm(SettingsForm):
    email_subject_template = StringField(
        _l("Titre par défaut"),
        validators=[InputRequired(REQUIRED), Length(max=200),
                    checked(settings.check_template, keep_result=False)],
    )
    email_body_template = TextAreaField(
        _l("Message par défaut"),
        validators=[InputRequired(REQUIRED), checked(settings.check_template, keep_result=False)],
    )
    email_subject_template_en = StringField(
        _l("Titre par défaut (anglais)"),
        validators=[Length(max=200), checked(settings.check_template, keep_result=False)],
    )
    email_body_template_en = TextAreaField(
        _l("Message par défaut (anglais)"),
        validators=[checked(settings.check_template, keep_result=False)],
    )
    email_signature = TextAreaField(_l("Signature"))
    terms = LimitedFileField(_l("Conditions générales (PDF)"), max_bytes=10 * 1024 * 1024, kinds=PDF)
    remove_terms = BooleanField(_l("Supprimer les conditions générales"))
    smtp_host = StringField(_l("Serveur SMTP"), validators=[Length(max=200)])
    smtp_port = WholeNumberField(
        _l("Port"),
        validators=[InputRequired(REQUIRED),
                    NumberRange(1, 65535, _l("Le port doit être compris entre 1 et 65535."))],
    )
    smtp_security = SelectField(
        _l("Sécurité de la connexion"),
        coerce=SmtpSecurity,
        choices=[
            SelectChoice(SmtpSecurity.STARTTLS.value, _l("STARTTLS (port 587)")),
            SelectChoice(SmtpSecurity.SSL.value, _l("SSL/TLS (port 465)")),
            SelectChoice(SmtpSecurity.NONE.value, _l("Aucune (déconseillé)")),
        ],
    )
    smtp_username = StringField(_l("Identifiant"), validators=[Length(max=200)])
    smtp_password = PasswordField(_l("Mot de passe SMTP"), validators=[Length(max=200)])
    clear_smtp_password = BooleanField(_l("Effacer le mot de passe enregistré"))
    smtp_sender = EmailField(
        _l("Adresse d'expédition"), validators=[Optional(), Email(INVALID_EMAIL), Length(max=254)]
    )


class SmtpTestForm(SettingsForm):
    to = EmailField(
        _l("Envoyer un message de test à"), validators=[DataRequired(REQUIRED), Email(INVALID_EMAIL)]
    )


class PaymentForm(SettingsForm):
    stripe_publishable_key = StringField(
        _l("Clé publiable"), validators=[Length(max=200), checked(_prefix("pk_"))]
    )
    stripe_secret_key = PasswordField(
        _l("Clé secrète"), validators=[Length(max=200), checked(_prefix("sk_", "rk_"))]
    )
    clear_stripe_secret_key = BooleanField(_l("Effacer la clé secrète enregistrée"))
    stripe_webhook_secret = PasswordField(
        _l("Secret de signature du webhook"), validators=[Length(max=200), checked(_prefix("whsec_"))]
    )
    clear_stripe_webhook_secret = BooleanField(_l("Effacer le secret enregistré"))


class LanguageForm(SettingsForm):
    language = SelectField(
        _l("Langue de l'interface"),
        choices=[SelectChoice(code, name) for code, name in settings.LANGUAGES.items()],
    )


class PasswordForm(SettingsForm):
    current_password = PasswordField(_l("Mot de passe actuel"), validators=[DataRequired(REQUIRED)])
    new_password = new_password_field(_l("Nouveau mot de passe"))
    new_password_again = password_again_field(_l("Nouveau mot de passe (encore)"), "new_password")


BUSINESS_FIELDS = ("name", "address", "email", "phone", "country", "currency", "timezone",
                   "vat_number", "gst_number", "qst_number", "siren", "bce_number", "iban", "bic")
BILLING_FIELDS = ("payment_terms_days", "invoice_number_format", "credit_note_number_format",
                  "vat_exempt", "late_payment_text", "legal_footer")
EMAILS_FIELDS = ("email_subject_template", "email_body_template", "email_subject_template_en",
                 "email_body_template_en", "email_signature", "smtp_host", "smtp_port",
                 "smtp_security", "smtp_username", "smtp_sender")


def _values(form, names) -> dict:
    return {name: form[name].data for name in names}


def _page(template: str, form, block: str = "section", **context):
    """The section page; a submitted form that gets here had errors (422)."""
    status = 422 if form.is_submitted() else 200
    return render(template, block, form=form, **context), status


def _saved(endpoint: str, *old_files: str | None):
    """Commit, then remove replaced files, flash and go back to the section."""
    db.session.commit()
    for name in old_files:
        uploads.delete(name)
    flash(_("Paramètres enregistrés."), "success")
    return redirect(url_for(endpoint), 303)


@bp.route("/", methods=["GET", "POST"])
def index():
    business = settings.business()
    form = BusinessForm(obj=business)
    if form.validate_on_submit():
        settings.update(business, **_values(form, BUSINESS_FIELDS))
        old_logo = None
        if form.logo.data:
            old_logo = settings.set_logo(business, form.logo.data)
        elif form.remove_logo.data:
            old_logo = settings.remove_logo(business)
        return _saved("settings.index", old_logo)
    return _page("settings/business.html", form, business=business)


@bp.get("/logo")
def logo():
    return _stored_file(settings.business().logo_path, "logo")


@bp.get("/terms")
def terms():
    business = settings.business()
    return _stored_file(business.terms_path, business.terms_filename or "conditions.pdf")


def _stored_file(name: str | None, download_name: str):
    try:
        path = uploads.path(name)
    except FileNotFoundError:
        abort(404)
    if "." not in download_name:
        download_name += "." + path.suffix.lstrip(".")
    return send_file(path, mimetype=uploads.mimetype(name), as_attachment=True,
                     download_name=download_name, max_age=0)


def _number_previews(business, today, typed) -> list[dict]:
    """The next invoice and credit-note numbers, from what is typed (else what is stored)."""
    previews = []
    labels = {"invoice": _("Prochaine facture"), "credit_note": _("Prochain avoir")}
    for series, attribute in numbering.SERIES_FORMATS.items():
        fmt = (typed.get(f"{series}_number_format") or getattr(business, attribute)).strip()
        seq = typed.get(f"{series}_next_number", "").strip()
        if not (seq.isdigit() and 1 <= int(seq) <= numbering.MAX_VALUE):
            seq = numbering.next_value(series, numbering.sequence_year(fmt, today))
        try:
            number = numbering.preview(fmt, today, int(seq))
            previews.append({"label": labels[series], "number": number})
        except numbering.NumberingError as error:
            previews.append({"label": labels[series], "error": str(error)})
    return previews


@bp.route("/billing", methods=["GET", "POST"])
def billing():
    if request.method == "POST":
        numbering.lock()  # counters are read and written under the write lock
    business = settings.business()
    today = settings.today(business)
    next_numbers = {
        f"{series}_next_number": numbering.next_value(
            series, numbering.sequence_year(getattr(business, attribute), today)
        )
        for series, attribute in numbering.SERIES_FORMATS.items()
    }
    form = BillingForm(obj=business, **next_numbers)
    if form.validate_on_submit():
        try:
            for series in numbering.SERIES_FORMATS:
                fmt = form[f"{series}_number_format"].data
                field = form[f"{series}_next_number"]
                numbering.set_next_value(series, numbering.sequence_year(fmt, today), field.data)
        except numbering.NumberingError as error:
            db.session.rollback()
            field.errors.append(str(error))
        else:
            settings.update(business, **_values(form, BILLING_FIELDS))
            return _saved("settings.billing")
    typed = request.form if form.is_submitted() else request.args
    # A GET with typed values is the live preview (htmx asks for that block only).
    block = "number_preview" if request.args and not form.is_submitted() else "section"
    return _page("settings/billing.html", form, block=block, business=business,
                 previews=_number_previews(business, today, typed),
                 vat_exempt_mention=settings.VAT_EXEMPT_MENTION)


def _emails_page(business, form, test_form, test_result=None, block="section"):
    """The Emails page; htmx gets `block` only (the « Tester » answer is its own block)."""
    return render("settings/emails.html", block, form=form, test_form=test_form,
                  test_result=test_result, business=business, outbox_folder=mailer.outbox_folder())


@bp.route("/emails", methods=["GET", "POST"])
def emails():
    business = settings.business()
    form = EmailsForm(obj=business)
    if form.validate_on_submit():
        settings.update(business, **_values(form, EMAILS_FIELDS))
        settings.update_secret(business, "smtp_password", form.smtp_password.data,
                               form.clear_smtp_password.data)
        old_terms = None
        if form.terms.data:
            old_terms = settings.set_terms(business, form.terms.data)
        elif form.remove_terms.data:
            old_terms = settings.remove_terms(business)
        return _saved("settings.emails", old_terms)
    status = 422 if form.is_submitted() else 200
    return _emails_page(business, form, SmtpTestForm(formdata=None, to=business.email)), status


@bp.post("/emails/test")
def smtp_test():
    """« Tester »: send a test message with the saved SMTP settings."""
    business = settings.business()
    test_form = SmtpTestForm()
    result = None
    if test_form.validate_on_submit():
        try:
            mailer.send_test(business, test_form.to.data)
        except mailer.NotConfigured as error:
            result = {"category": "warning", "text": str(error)}
        except mailer.MailError as error:
            result = {"category": "error", "text": str(error)}
        else:
            text = _("Message de test envoyé à %(to)s : vérifiez sa réception.", to=test_form.to.data)
            if not htmx:
                flash(text, "success")
                return redirect(url_for("settings.emails"), 303)
            result = {"category": "success", "text": text}
    status = 200 if result and result["category"] == "success" else 422
    form = EmailsForm(formdata=None, obj=business)
    return _emails_page(business, form, test_form, result, block="smtp_test"), status


@bp.route("/payment", methods=["GET", "POST"])
def payment():
    business = settings.business()
    form = PaymentForm(obj=business)
    if form.validate_on_submit():
        settings.update(business, stripe_publishable_key=form.stripe_publishable_key.data)
        for name in ("stripe_secret_key", "stripe_webhook_secret"):
            settings.update_secret(business, name, form[name].data, form[f"clear_{name}"].data)
        return _saved("settings.payment")
    webhook_url = base_url() + url_for("webhooks.stripe")
    return _page("settings/payment.html", form, business=business, webhook_url=webhook_url)


def _account_page(language_form, password_form, status=200):
    return render("settings/account.html", "section", language_form=language_form,
                  password_form=password_form), status


@bp.route("/account", methods=["GET", "POST"])
def account():
    form = LanguageForm(obj=g.user)
    if form.validate_on_submit():
        settings.set_language(g.user, form.language.data)
        return _saved("settings.account")
    status = 422 if form.is_submitted() else 200
    return _account_page(form, PasswordForm(formdata=None), status)


@bp.post("/account/password")
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(g.user, form.current_password.data, form.new_password.data)
        except accounts.AccountError as error:
            form.current_password.errors.append(str(error))
        else:
            db.session.commit()
            log_in(g.user)  # this session stays; every other one is logged out
            flash(_("Mot de passe modifié."), "success")
            return redirect(url_for("settings.account"), 303)
    return _account_page(LanguageForm(formdata=None, obj=g.user), form, 422)
