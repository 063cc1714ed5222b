from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

EMAIL_HELP = "Optional. For a new password if you forget yours, and a note when an answer is done."


class SignupForm(UserCreationForm):
    """Username, an optional email address, password twice; the view decides whether the account is active."""

    email = forms.EmailField(label="Email (optional)", required=False, help_text=EMAIL_HELP)

    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined]  # the stubs do not declare it
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(autocomplete="username", autocapitalize="none", spellcheck="false")
        self.fields["email"].widget.attrs.update(autocomplete="email", spellcheck="false")


class AccountEmailForm(forms.Form):
    """The account page's email settings."""

    email = forms.EmailField(label="Address", required=False, help_text=EMAIL_HELP)
    answer_done = forms.BooleanField(label="Email me when an answer is done", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update(autocomplete="email", spellcheck="false")


class LoginForm(AuthenticationForm):
    """Django's sign-in form; a right password for an account still waiting for approval says so."""

    def clean(self):
        try:
            return super().clean()
        except forms.ValidationError:
            username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
            user = get_user_model().objects.filter(username=username, pending_signup__isnull=False).first()
            if user is not None and password and user.check_password(password):
                raise forms.ValidationError(
                    "Your account waits for an administrator's approval. You can sign in once it is approved.",
                    code="pending",
                ) from None
            raise
