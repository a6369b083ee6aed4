from django import template

from .. import invitations

register = template.Library()


@register.simple_tag
def invitation_counts(wave, now) -> invitations.InvitationCounts:
    """``{% invitation_counts wave now as counts %}``: the wave's invitations, one query."""
    return invitations.invitation_counts(wave, now)
