from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """User name and password twice; the view decides whether the account is active."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(autocomplete="username", autocapitalize="none", spellcheck="false")
