"""Seed the web server benchmark's database once (benchmarks/web.py); print what it needs as JSON.

One user with 40 conversations (the sidebar), one of them with 12 answered turns in Markdown (the
page measured), and one running turn (the live endpoint measured). Run again, it reuses them and
only makes a fresh session.
"""

import json
import os


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from conversations.chat.rendering import markdown_to_html
    from conversations.models import Conversation, Turn
    from conversations.templatetags.chat import version

    user, created = User.objects.get_or_create(username="bench-web")
    if created:
        user.set_unusable_password()
        user.save()
        answer = "\n\n".join(
            f"## Part {i}\n\nSome **bold** text, a [link](https://example.com), and code:\n\n"
            f"```python\ndef part_{i}(x):\n    return x * {i}\n```\n\n| a | b |\n|---|---|\n| {i} | {i * i} |"
            for i in range(6)
        )
        html = markdown_to_html(answer)
        for n in range(40):
            conversation = Conversation.objects.create(owner=user, title=f"Bench conversation {n}", model="m")
            turns = 12 if n == 39 else 1
            for t in range(turns):
                Turn.objects.create(
                    conversation=conversation, prompt=f"Question {t} of {n}", status="completed",
                    output_text=answer, output_html=html, input_tokens=100, output_tokens=900, total_tokens=1000,
                    started_at=timezone.now(), completed_at=timezone.now(), attempts=1,
                )  # fmt: skip
        running = Conversation.objects.create(owner=user, title="Bench running", model="m")
        Turn.objects.create(conversation=running, prompt="Still thinking", status="in_progress", attempts=1)
    page = Conversation.objects.get(owner=user, title="Bench conversation 39")
    turn = Turn.objects.get(conversation__owner=user, status="in_progress")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    print(json.dumps({
        "session": session.session_key,
        "page": page.get_absolute_url(),
        "live": f"/t/{turn.id}/live/?v={version(turn.updated_at)}",
    }))  # fmt: skip


if __name__ == "__main__":
    main()
