"""HTTP API: product events from the host app (signed), and a read-only conversations API for staff."""

import hashlib
import hmac
import time
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from helpdesk.accounts import role_of
from inbox import actions
from inbox.models import Conversation, Customer, Site
from inbox.queries import visible_to
from inbox.serializers import message_json

EVENT_SKEW = timedelta(days=30)
SIGNATURE_TOLERANCE = 300  # seconds between signing and arrival; a signed request works once within them


class ProductEventSerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=200)
    event = serializers.CharField(max_length=100)
    at = serializers.DateTimeField(required=False)

    def validate_at(self, value):
        """Engagement counts towards chats of the last days: a time far from now is a client's bug."""
        if abs(value - timezone.now()) > EVENT_SKEW:
            raise serializers.ValidationError(f"must be within {EVENT_SKEW.days} days of now")
        return value


@api_view(["POST"])
@authentication_classes([])
@permission_classes([])
def product_event(request):
    """The host app reports product use after a chat (continued engagement is a positive signal).

    Signed like a webhook (Stripe's scheme): X-Relaymark-Site is the site key, X-Relaymark-Timestamp
    the Unix time of signing, X-Relaymark-Signature "sha256=" + HMAC-SHA256(site secret,
    timestamp + "." + raw body). A request signed more than five minutes ago, or seen before, is a
    replay. Anything else is refused and nothing is stored.
    """
    site = Site.objects.filter(key=request.headers.get("X-Relaymark-Site", "")).first()
    signature = request.headers.get("X-Relaymark-Signature", "")
    stamp = request.headers.get("X-Relaymark-Timestamp", "")
    if site is None:
        return Response({"error": "unknown_site"}, status=status.HTTP_403_FORBIDDEN)
    if not (stamp.isascii() and stamp.isdigit() and abs(time.time() - int(stamp)) <= SIGNATURE_TOLERANCE):
        return Response({"error": "stale_timestamp", "detail": "X-Relaymark-Timestamp must be the Unix time of "
                         f"signing, within {SIGNATURE_TOLERANCE} seconds of now."}, status=status.HTTP_403_FORBIDDEN)
    expected = "sha256=" + hmac.new(site.secret.encode(), stamp.encode() + b"." + request.body,
                                    hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.encode(), expected.encode()):  # bytes: any header, no TypeError
        return Response({"error": "bad_signature", "detail": "X-Relaymark-Signature does not match the "
                         "timestamp and body."}, status=status.HTTP_403_FORBIDDEN)
    if not cache.add(f"product-event:{expected}", 1, timeout=2 * SIGNATURE_TOLERANCE):
        return Response({"error": "replayed", "detail": "This signed request was already received."},
                        status=status.HTTP_409_CONFLICT)
    payload = ProductEventSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    customer = Customer.objects.filter(site=site, external_id=payload.validated_data["user_id"]).first()
    if customer is None:
        return Response({"error": "unknown_user"}, status=status.HTTP_404_NOT_FOUND)
    counted = actions.record_engagement(customer, payload.validated_data["event"], at=payload.validated_data.get("at"))
    return Response({"recorded": counted}, status=status.HTTP_202_ACCEPTED)


class IsStaff(BasePermission):
    def has_permission(self, request, view):
        return role_of(request.user) is not None


class ConversationSerializer(serializers.ModelSerializer):
    customer = serializers.StringRelatedField()
    messages = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = ["id", "customer", "account", "channel", "status", "subject", "intent", "intent_confidence",
                  "handled_by", "needs_human", "escalation_reason", "created_at", "last_message_at", "csat",
                  "messages"]

    def get_messages(self, obj):
        if not self.context.get("with_messages"):
            return None
        return [message_json(m, for_staff=True) for m in obj.messages.select_related("author")]


class ConversationViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsStaff]
    serializer_class = ConversationSerializer

    def get_queryset(self):
        return visible_to(self.request.user).select_related("customer").order_by("-last_message_at")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "with_messages": self.action == "retrieve"}
