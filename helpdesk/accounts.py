"""Staff accounts and roles.

Roles are Django groups so admins manage them in the admin; `role_of` is the one place
that decides what a user is.
"""

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth.models import Group, Permission

AGENT, MANAGER, ADMIN = "agent", "manager", "admin"
ROLES = (AGENT, MANAGER, ADMIN)

# Permissions per role, as (app_label, codename). Managers see analytics; admins change models.
ROLE_PERMISSIONS = {
    AGENT: [("inbox", "view_conversation"), ("inbox", "change_conversation"), ("knowledge", "view_article")],
    MANAGER: [
        ("inbox", "view_conversation"),
        ("inbox", "change_conversation"),
        ("knowledge", "view_article"),
        ("knowledge", "change_article"),
        ("knowledge", "add_article"),
    ],
}


class StaffOnlyAccountAdapter(DefaultAccountAdapter):
    """Nobody can sign up: staff are invited by an admin, customers never get staff sessions."""

    def is_open_for_signup(self, request) -> bool:
        return False


def ensure_roles() -> dict[str, Group]:
    groups = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        groups[role] = group
    for role, perms in ROLE_PERMISSIONS.items():
        wanted = [
            Permission.objects.get(content_type__app_label=app, codename=code) for app, code in perms
        ]
        groups[role].permissions.set(wanted)
    groups[ADMIN].permissions.set(Permission.objects.all())
    return groups


def role_of(user) -> str | None:
    if not user.is_authenticated or not user.is_active or not user.is_staff:
        return None
    if user.is_superuser:
        return ADMIN
    names = set(user.groups.values_list("name", flat=True))
    for role in (ADMIN, MANAGER, AGENT):
        if role in names:
            return role
    return None


def is_manager(user) -> bool:
    return role_of(user) in (MANAGER, ADMIN)
