"""Admin building blocks shared by the apps."""


class ReadOnlyAdminMixin:
    """Rows written only by services (runs, reports): the admin shows them and never edits them."""

    def has_add_permission(self, request, obj=None):  # obj: inlines pass the parent
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
