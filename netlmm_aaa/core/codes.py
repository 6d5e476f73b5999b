"""On-wire code points of Proxy Mobile IPv6, as ``IntEnum``s named as the RFCs name them.

Decoders map a known value to its member and keep an unknown value as a plain ``int``, so a peer
using a code point we have never heard of is reported, not crashed on.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class MobilityHeaderType(IntEnum):
    """MH Type (RFC 6275 §6.1 and the PMIPv6 extensions)."""

    #: Binding Error (RFC 6275 §6.1.9)
    BINDING_ERROR = 7
    #: (Proxy) Binding Update (RFC 6275 §6.1.7, RFC 5213 §8.1)
    BINDING_UPDATE = 5
    #: (Proxy) Binding Acknowledgement (RFC 6275 §6.1.8, RFC 5213 §8.2)
    BINDING_ACKNOWLEDGEMENT = 6
    #: Heartbeat (RFC 5847 §3.3)
    HEARTBEAT = 13
    #: Binding Revocation Indication or Acknowledgement, told apart by B.R. Type (RFC 5846 §5)
    BINDING_REVOCATION = 16
    #: Update Notification (RFC 7077 §4.1)
    UPDATE_NOTIFICATION = 19
    #: Update Notification Acknowledgement (RFC 7077 §4.2)
    UPDATE_NOTIFICATION_ACKNOWLEDGEMENT = 20


class MobilityOptionType(IntEnum):
    """Mobility option Type values (RFC 6275 §6.2, IANA "Mobility Options")."""

    #: one octet of padding (RFC 6275 §6.2.2)
    PAD1 = 0
    #: N octets of padding (RFC 6275 §6.2.3)
    PADN = 1
    #: Binding Refresh Advice (RFC 6275 §6.2.4)
    BINDING_REFRESH_ADVICE = 2
    #: Mobile Node Identifier (RFC 4283)
    MOBILE_NODE_IDENTIFIER = 8
    #: Home Network Prefix (RFC 5213 §8.3)
    HOME_NETWORK_PREFIX = 22
    #: Handoff Indicator (RFC 5213 §8.4)
    HANDOFF_INDICATOR = 23
    #: Access Technology Type (RFC 5213 §8.5)
    ACCESS_TECHNOLOGY_TYPE = 24
    #: Mobile Node Link-layer Identifier (RFC 5213 §8.6)
    MOBILE_NODE_LINK_LAYER_IDENTIFIER = 25
    #: Link-local Address (RFC 5213 §8.7)
    LINK_LOCAL_ADDRESS = 26
    #: Timestamp (RFC 5213 §8.8)
    TIMESTAMP = 27
    #: Restart Counter (RFC 5847 §3.4)
    RESTART_COUNTER = 28
    #: GRE Key (RFC 5845 §6.1)
    GRE_KEY = 33
    #: IPv4 Home Address Request (RFC 5844 §3.3.1)
    IPV4_HOME_ADDRESS_REQUEST = 36
    #: IPv4 Home Address Reply (RFC 5844 §3.3.2)
    IPV4_HOME_ADDRESS_REPLY = 37
    #: IPv4 Default-Router Address (RFC 5844 §3.3.3)
    IPV4_DEFAULT_ROUTER_ADDRESS = 38
    #: IPv4 DHCP Support Mode (RFC 5844 §3.3.4)
    IPV4_DHCP_SUPPORT_MODE = 39


class BindingStatus(IntEnum):
    """(Proxy) Binding Acknowledgement status (RFC 6275 §6.1.8, RFC 5213 §8.9, RFC 5845, RFC 5844).

    Values below 128 mean the binding was accepted.
    """

    #: Binding Update accepted / Proxy Binding Update accepted
    ACCEPTED = 0
    #: Accepted but prefix discovery necessary (MIPv6 only)
    ACCEPTED_PREFIX_DISCOVERY_NECESSARY = 1
    #: accepted; the GRE Key option was not required (RFC 5845 §6.4)
    GRE_KEY_OPTION_NOT_REQUIRED = 2
    #: accepted with GRE, but without the TLV-header format (RFC 5845 §6.4)
    GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED = 3
    #: Reason unspecified
    REASON_UNSPECIFIED = 128
    #: Administratively prohibited
    ADMINISTRATIVELY_PROHIBITED = 129
    #: Insufficient resources
    INSUFFICIENT_RESOURCES = 130
    #: Home registration not supported
    HOME_REGISTRATION_NOT_SUPPORTED = 131
    #: Not home subnet
    NOT_HOME_SUBNET = 132
    #: Not home agent for this mobile node
    NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE = 133
    #: Duplicate Address Detection failed
    DUPLICATE_ADDRESS_DETECTION_FAILED = 134
    #: Sequence number out of window
    SEQUENCE_NUMBER_OUT_OF_WINDOW = 135
    #: Expired home nonce index
    EXPIRED_HOME_NONCE_INDEX = 136
    #: Expired care-of nonce index
    EXPIRED_CARE_OF_NONCE_INDEX = 137
    #: Expired nonces
    EXPIRED_NONCES = 138
    #: Registration type change disallowed
    REGISTRATION_TYPE_CHANGE_DISALLOWED = 139
    #: Proxy registration not enabled for the mobile node
    PROXY_REG_NOT_ENABLED = 152
    #: Not local mobility anchor for this mobile node
    NOT_LMA_FOR_THIS_MOBILE_NODE = 153
    #: The mobile access gateway is not authorized to send proxy binding updates
    MAG_NOT_AUTHORIZED_FOR_PROXY_REG = 154
    #: The mobile node is not authorized for one or more of the requesting home network prefixes
    NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX = 155
    #: Invalid timestamp value (the clocks are out of sync)
    TIMESTAMP_MISMATCH = 156
    #: The timestamp value is lower than the previously accepted value
    TIMESTAMP_LOWER_THAN_PREV_ACCEPTED = 157
    #: Missing home network prefix option
    MISSING_HOME_NETWORK_PREFIX_OPTION = 158
    #: The home network prefixes listed in the BCE do not match all the received prefixes
    BCE_PBU_PREFIX_SET_DO_NOT_MATCH = 159
    #: Missing mobile node identifier option
    MISSING_MN_IDENTIFIER_OPTION = 160
    #: Missing handoff indicator option
    MISSING_HANDOFF_INDICATOR_OPTION = 161
    #: Missing access technology type option
    MISSING_ACCESS_TECH_TYPE_OPTION = 162
    #: GRE key option is required for GRE tunnelling (RFC 5845 §6.4)
    GRE_KEY_OPTION_REQUIRED = 163
    #: The mobile node is not authorized for IPv4 mobility service (RFC 5844 §3.3.5)
    NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE = 170
    #: The mobile node is not authorized for the requesting IPv4 home address (RFC 5844 §3.3.5)
    NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS = 171
    #: The mobile node is not authorized for IPv6 mobility service (RFC 5844 §3.3.5)
    NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE = 172
    #: Multiple IPv4 home address assignment not supported (RFC 5844 §3.3.5)
    MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED = 173

    @property
    def accepted(self) -> bool:
        """True for the "accepted" codes (below 128)."""
        return self.value < 128


class HandoffIndicator(IntEnum):
    """Handoff Indicator values (RFC 5213 §8.4)."""

    #: Reserved
    RESERVED = 0
    #: Attachment over a new interface
    NEW_INTERFACE = 1
    #: Handoff between two different interfaces of the mobile node
    DIFFERENT_INTERFACE = 2
    #: Handoff between mobile access gateways for the same interface
    SAME_INTERFACE = 3
    #: Handoff state unknown
    UNKNOWN = 4
    #: Handoff state not changed (re-registration)
    NOT_CHANGED = 5


class AccessTechnologyType(IntEnum):
    """Access Technology Type values (RFC 5213 §8.5 and the IANA registry)."""

    #: Reserved (sent by some MAGs to mean "unspecified")
    RESERVED = 0
    #: Virtual
    VIRTUAL = 1
    #: PPP
    PPP = 2
    #: IEEE 802.3
    IEEE_802_3 = 3
    #: IEEE 802.11a/b/g
    IEEE_802_11 = 4
    #: IEEE 802.16e
    IEEE_802_16E = 5
    #: 3GPP GERAN
    GERAN_3GPP = 6
    #: 3GPP UTRAN
    UTRAN_3GPP = 7
    #: 3GPP E-UTRAN
    E_UTRAN_3GPP = 8
    #: 3GPP2 eHRPD
    EHRPD_3GPP2 = 9
    #: 3GPP2 HRPD
    HRPD_3GPP2 = 10
    #: 3GPP2 1xRTT
    ONE_X_RTT_3GPP2 = 11
    #: 3GPP2 UMB
    UMB_3GPP2 = 12


class RevocationTrigger(IntEnum):
    """Binding Revocation Indication "Revocation Trigger" (RFC 5846 §8.1.2)."""

    #: Unspecified
    UNSPECIFIED = 0
    #: Administrative Reason
    ADMINISTRATIVE_REASON = 1
    #: Inter-MAG Handover - same Access Type
    INTER_MAG_HANDOVER_SAME_ACCESS_TYPE = 2
    #: Inter-MAG Handover - different Access Type
    INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE = 3
    #: Inter-MAG Handover - Unknown
    INTER_MAG_HANDOVER_UNKNOWN = 4
    #: User-Initiated Session(s) Termination
    USER_INITIATED_SESSION_TERMINATION = 5
    #: Access Network Session(s) Termination
    ACCESS_NETWORK_SESSION_TERMINATION = 6
    #: Possible Out-of-Sync BCE State
    POSSIBLE_OUT_OF_SYNC_BCE_STATE = 7
    #: Per-Peer Policy (global revocation)
    PER_PEER_POLICY = 128
    #: Revoking Mobility Node Local Policy (global revocation)
    REVOKING_MOBILITY_NODE_LOCAL_POLICY = 129


class RevocationStatus(IntEnum):
    """Binding Revocation Acknowledgement status (RFC 5846 §8.1.3)."""

    #: success
    SUCCESS = 0
    #: partial success
    PARTIAL_SUCCESS = 1
    #: Binding Does NOT Exist
    BINDING_DOES_NOT_EXIST = 128
    #: IPv4 Home Address Option Required
    IPV4_HOME_ADDRESS_OPTION_REQUIRED = 129
    #: Global Revocation NOT Authorized
    GLOBAL_REVOCATION_NOT_AUTHORIZED = 130
    #: Revoked Mobile Nodes Identity Required
    REVOKED_MOBILE_NODES_IDENTITY_REQUIRED = 131
    #: Revocation Failed - MN is Attached
    REVOCATION_FAILED_MN_IS_ATTACHED = 132
    #: Revocation Trigger NOT Supported
    REVOCATION_TRIGGER_NOT_SUPPORTED = 133
    #: Revocation Function NOT Supported
    REVOCATION_FUNCTION_NOT_SUPPORTED = 134
    #: Proxy Binding Revocation NOT Supported
    PROXY_BINDING_REVOCATION_NOT_SUPPORTED = 135


class UpdateNotificationReason(IntEnum):
    """Update Notification "Notification Reason" (RFC 7077 §4.1)."""

    #: ask the MAG to re-register the mobile node
    FORCE_REREGISTRATION = 1
    #: the session parameters changed
    UPDATE_SESSION_PARAMETERS = 2
    #: a vendor-specific reason, in a Vendor-Specific option
    VENDOR_SPECIFIC_REASON = 3
    #: ask for the Access Network Identifier parameters
    ANI_PARAMS_REQUESTED = 4


class UpdateNotificationStatus(IntEnum):
    """Update Notification Acknowledgement status (RFC 7077 §4.2)."""

    #: success
    SUCCESS = 0
    #: failed to update the session parameters
    FAILED_TO_UPDATE_SESSION_PARAMETERS = 128
    #: a Vendor-Specific option was required but missing
    MISSING_VENDOR_SPECIFIC_OPTION = 129


class IPv4HomeAddressReplyStatus(IntEnum):
    """IPv4 Home Address Reply option status (RFC 5844 §3.3.2)."""

    #: Success
    SUCCESS = 0
    #: Failure, reason unspecified
    FAILURE_REASON_UNSPECIFIED = 128
    #: Administratively prohibited
    ADMINISTRATIVELY_PROHIBITED = 129
    #: Incorrect IPv4 home address
    INCORRECT_IPV4_HOME_ADDRESS = 130
    #: Invalid IPv4 address
    INVALID_IPV4_ADDRESS = 131
    #: Dynamic IPv4 home address assignment not available
    DYNAMIC_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_AVAILABLE = 132


class BindingUpdateFlag(IntFlag):
    """Flags of the (Proxy) Binding Update, as bits of its 16-bit flags word (RFC 5213 §8.1)."""

    #: Acknowledge requested
    A = 0x8000
    #: Home registration (0 in a PBU)
    H = 0x4000
    #: Link-local address compatibility (MIPv6)
    L = 0x2000
    #: Key management mobility capability (MIPv6)
    K = 0x1000
    #: Mobile router (NEMO, RFC 3963)
    M = 0x0800
    #: Mobile router / home agent (NEMO, RFC 3963)
    R = 0x0400
    #: Proxy registration (RFC 5213)
    P = 0x0200
    #: Force IPv4 UDP encapsulation (RFC 5555, RFC 5844 §4)
    F = 0x0100
    #: TLV-header format for GRE (RFC 5845 §6.2)
    T = 0x0080
    #: Bulk binding update (RFC 6602 §5.1)
    B = 0x0040


class BindingAcknowledgementFlag(IntFlag):
    """Flags of the (Proxy) Binding Acknowledgement flag octet (RFC 5213 §8.2)."""

    #: Key management mobility capability (MIPv6)
    K = 0x80
    #: Mobile router (NEMO)
    R = 0x40
    #: Proxy registration: MUST be 1 when the PBU had P=1
    P = 0x20
    #: TLV-header format for GRE (RFC 5845 §6.3)
    T = 0x10
    #: Bulk binding update (RFC 6602)
    B = 0x08


class RevocationFlag(IntFlag):
    """Flags of the Binding Revocation message (RFC 5846 §5)."""

    #: Proxy binding
    P = 0x8000
    #: IPv4 HoA binding only
    V = 0x4000
    #: Global (per-peer) revocation
    G = 0x2000


def enum_or_int(enum: type[IntEnum], value: int) -> int:
    """Return the member of ``enum`` for ``value``, or ``value`` itself when it has no member."""
    try:
        return enum(value)
    except ValueError:
        return value
