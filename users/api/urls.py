"""Routes of the account endpoints (users/me/...)."""

urlpatterns: list = []
