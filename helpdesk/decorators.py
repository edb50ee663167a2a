"""Access checks for staff pages: one decorator at the top of each view."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from helpdesk.accounts import is_manager, role_of


def staff_required(view):
    """Signed-in staff with a role. Customers and role-less users never get in."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if role_of(request.user) is None:
            raise PermissionDenied("This page is for support staff.")
        return view(request, *args, **kwargs)

    return wrapped


def manager_required(view):
    @wraps(view)
    @staff_required
    def wrapped(request, *args, **kwargs):
        if not is_manager(request.user):
            raise PermissionDenied("This page is for managers.")
        return view(request, *args, **kwargs)

    return wrapped
