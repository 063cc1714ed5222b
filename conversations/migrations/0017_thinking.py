# The model's thinking (issue 17): the catalogue's switch, the turn's reasoning summary, the share's choice.

from django.db import migrations, models

# Frozen here (migrations never import app code): the models whose AI/ML API reference page documents a
# reasoning summary in the answer (shared/docs/responses-api.md, Addendum B: `message.reasoning`).
# gpt-5-pro's documents none: it stays off, an admin may switch it on to try.
DOCUMENTED = ["openai/gpt-5.6-sol-pro"]


def switch_on_documented(apps, schema_editor):
    AIModel = apps.get_model("conversations", "AIModel")
    AIModel.objects.filter(provider_id__in=DOCUMENTED).update(reasoning_summaries=True)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0016_budget_hold"),
    ]

    operations = [
        migrations.AddField(
            model_name="aimodel",
            name="reasoning_summaries",
            field=models.BooleanField(
                default=False,
                help_text="Ask for the model's reasoning summary (Responses: reasoning.summary “auto”; Chat "
                "Completions: message.reasoning) and show it under “Thinking…”. Set it only for a model whose AI/ML "
                "API page documents it; a provider that refuses the field is asked once more without it (the answer "
                "is not lost).",
                verbose_name="returns reasoning summaries",
            ),
        ),
        migrations.AddField(
            model_name="share",
            name="show_thinking",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="turn",
            name="thinking",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(switch_on_documented, migrations.RunPython.noop),
    ]
