from django.db import models


class Heartbeat(models.Model):
    """The last time a process of a kind (e.g. "worker") said it was alive; read by /readyz."""

    name = models.CharField(max_length=50, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"


class ErrorCount(models.Model):
    """Upstream failures counted by kind (the error code), for /metrics."""

    code = models.CharField(max_length=64, primary_key=True)
    count = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.code}: {self.count}"
