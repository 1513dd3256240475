"""The back office's "Change password": Django's admin page over accounts'
`do_change_password`, so an administrator's new password meets the same
rules as in the app (at least 8 characters, not all digits, not the
username), a wrong current password counts against the account's login
limit, and every other session of the administrator ends (this one stays)."""

from __future__ import annotations

import logging

from django import forms
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.views import PasswordChangeView
from django.http import HttpResponseRedirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.actions.profile import do_change_password
from chatsite.errors import Invalid, InvalidCredentials, RateLimited

logger = logging.getLogger(__name__)

# The service's field names -> the form's (the admin's template names these).
FORM_FIELDS = {"old_password": "old_password", "new_password": "new_password1"}


class AdminPasswordChangeForm(forms.Form):
    """The shape only (three fields, the new password typed twice alike):
    whether the password is right and the new one good enough is the
    service's to say, when the view calls it."""

    required_css_class = "required"
    old_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    new_password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not all digits, not your username."),
    )
    new_password2 = forms.CharField(
        label=_("Repeat the new password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, user, *args, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self):
        first, second = self.cleaned_data.get("new_password1"), self.cleaned_data.get("new_password2")
        if first is not None and second is not None and first != second:
            self.add_error("new_password2", gettext("The two passwords differ."))
        return self.cleaned_data


class AdminPasswordChangeView(PasswordChangeView):
    form_class = AdminPasswordChangeForm

    def form_valid(self, form: AdminPasswordChangeForm):
        request = self.request
        try:
            do_change_password(
                user=request.user,
                session=getattr(request, "login_session", None),
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password1"],
            )
        except (InvalidCredentials, RateLimited) as err:
            # The template shows field errors only: both are about the current password.
            form.add_error("old_password", err.message)
            return self.form_invalid(form)
        except Invalid as err:
            for name, messages in (err.fields or {"new_password": [err.message]}).items():
                form.add_error(FORM_FIELDS.get(name, "new_password1"), list(messages))
            return self.form_invalid(form)
        # The cookie session holding the kept LoginSession stays signed in.
        update_session_auth_hash(request, request.user)
        return HttpResponseRedirect(self.get_success_url())
