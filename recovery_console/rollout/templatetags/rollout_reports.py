"""What the wave page's readiness partial reads (``rollout/_wave_readiness.html``):
that page's view passes ``wave`` and ``now``, and the partial asks for the rest."""

from django import template

from ... import clock
from .. import reports

register = template.Library()


@register.simple_tag
def wave_progress(wave, now=None) -> reports.WaveProgress:
    """``reports.wave_progress`` of ``wave`` (one query)."""
    return reports.wave_progress(wave, now or clock.now())
