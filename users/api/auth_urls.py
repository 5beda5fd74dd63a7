"""Routes of the sign-in endpoints (auth/...)."""

urlpatterns: list = []
