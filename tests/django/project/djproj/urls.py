from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from harness.views import me

urlpatterns = [
    # DRF's own login view: POST username/password -> {"token": key}.
    path("api-token-auth/", obtain_auth_token),
    # A DRF view behind TokenAuthentication: the reference the Rust side is compared with.
    path("me/", me),
]
