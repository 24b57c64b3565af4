"""The log page's forms. Buttons with no fields are forms too, for their CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class ButtonForm(FlaskForm):
    """Reveal, retry, replay, log out: a POST carrying only the CSRF token."""
