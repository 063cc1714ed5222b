from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm


class SignupForm(UserCreationForm):
    """User name and password twice; the view decides whether the account is active."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(autocomplete="username", autocapitalize="none", spellcheck="false")


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
