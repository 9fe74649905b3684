from rest_framework.authentication import TokenAuthentication
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.fields import DateTimeField
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response


@api_view(["GET"])
@authentication_classes([TokenAuthentication])
@permission_classes([IsAuthenticated])
def me(request):
    """The user (and token) DRF's TokenAuthentication found for the key.

    The reference the Rust services are compared with: {"id", "username", "is_staff",
    "token_created"} (DRF's ISO 8601 rendering of the token's creation time).
    """
    return Response({
        "id": request.user.id,
        "username": request.user.username,
        "is_staff": request.user.is_staff,
        "token_created": DateTimeField().to_representation(request.auth.created),
    })
