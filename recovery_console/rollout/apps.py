from django.apps import AppConfig


class RolloutConfig(AppConfig):
    name = "recovery_console.rollout"
    label = "rollout"
    verbose_name = "Passkey rollout"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from .models import Cohort, RolloutPlan, Wave, WaveException

        auditlog.register(Cohort)
        auditlog.register(RolloutPlan)
        auditlog.register(Wave, m2m_fields={"pilot_members"})
        auditlog.register(WaveException)
