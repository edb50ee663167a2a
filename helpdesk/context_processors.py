from helpdesk.accounts import role_of


def roles(request):
    role = role_of(request.user) if hasattr(request, "user") else None
    return {"staff_role": role, "is_manager": role in ("manager", "admin")}
