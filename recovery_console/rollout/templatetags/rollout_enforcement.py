"""What a wave's page shows of enforcement, for its partials
(``rollout/_wave_report_only.html``, ``rollout/_wave_pause.html``): they
need only ``wave`` (and the request) in the context."""

from django import template

from .. import enforcement
from ..enforcement_forms import ResumeWaveForm

register = template.Library()


@register.simple_tag
def wave_report_only(wave):
    return enforcement.report_only_summary(wave)


@register.simple_tag(takes_context=True)
def wave_pause(context, wave):
    return {**enforcement.pause_state(wave, context["request"].user), "form": ResumeWaveForm()}
