"""Tamper evidence for django-auditlog's log: a hash chain over its entries."""

from django.db import models


class ChainLink(models.Model):
    """One audit entry's place in the chain. ``entry_id`` is a plain number,
    not a foreign key, so deleting an entry leaves its link behind as proof."""

    sequence = models.PositiveBigIntegerField(unique=True)
    entry_id = models.BigIntegerField(unique=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} entry {self.entry_id}"


class ChainHead(models.Model):
    """The single row every append locks, so the chain never forks."""

    sequence = models.PositiveBigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"head #{self.sequence}"
