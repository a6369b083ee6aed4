"""What ``_form.html`` needs to put a form's errors next to what they are
about: the errors of the form as a whole (shown at the top of the form),
and the fields the summary there links to."""

from __future__ import annotations

from django import forms, template

register = template.Library()


@register.filter
def top_errors(form: forms.Form) -> list[str]:
    """Errors about the form as a whole, and those of hidden fields (which
    have no place of their own on the page)."""
    errors = list(form.non_field_errors())
    for field in form.hidden_fields():
        errors.extend(field.errors)
    return errors


@register.filter
def invalid_fields(form: forms.Form) -> list[forms.BoundField]:
    """The visible fields with errors, in the order the form shows them."""
    return [field for field in form.visible_fields() if field.errors]


@register.filter
def focus_id(field: forms.BoundField) -> str:
    """The id of the element a link to ``field`` should reach: its input, or
    the first choice of a group of radio buttons or checkboxes."""
    return f"{field.auto_id}_0" if field.use_fieldset else field.id_for_label
