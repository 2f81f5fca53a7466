"""Wire declarations of libvirt's remote program, for the subset virtd serves (reference §6)."""

from __future__ import annotations

from enum import IntEnum

from common import xdr

REMOTE_PROGRAM = 0x20008086
REMOTE_VERSION = 1
STRING_MAX = 4194304
DOMAIN_LIST_MAX = 16384
AUTH_TYPE_LIST_MAX = 20
DOMAIN_MESSAGES_MAX = 2048
SECURITY_MODEL_MAX = 257
SECURITY_DOI_MAX = 257
SECURITY_LABEL_MAX = 4097


class RemoteProc(IntEnum):
    CONNECT_OPEN = 1
    CONNECT_CLOSE = 2
    CONNECT_GET_TYPE = 3
    CONNECT_GET_VERSION = 4
    DOMAIN_CREATE = 9
    DOMAIN_CREATE_XML = 10
    DOMAIN_DEFINE_XML = 11
    DOMAIN_DESTROY = 12
    DOMAIN_GET_XML_DESC = 14
    DOMAIN_GET_AUTOSTART = 15
    DOMAIN_GET_INFO = 16
    DOMAIN_GET_OS_TYPE = 19
    CONNECT_LIST_DEFINED_DOMAINS = 21
    DOMAIN_LOOKUP_BY_ID = 22
    DOMAIN_LOOKUP_BY_NAME = 23
    DOMAIN_LOOKUP_BY_UUID = 24
    CONNECT_NUM_OF_DEFINED_DOMAINS = 25
    DOMAIN_REBOOT = 27
    DOMAIN_RESUME = 28
    DOMAIN_SET_AUTOSTART = 29
    DOMAIN_SHUTDOWN = 33
    DOMAIN_SUSPEND = 34
    DOMAIN_UNDEFINE = 35
    CONNECT_LIST_DOMAINS = 37
    CONNECT_NUM_OF_DOMAINS = 51
    CONNECT_GET_HOSTNAME = 59
    CONNECT_SUPPORTS_FEATURE = 60
    AUTH_LIST = 66
    AUTH_POLKIT = 70
    CONNECT_GET_URI = 110
    DOMAIN_GET_SECURITY_LABEL = 121
    NODE_GET_SECURITY_MODEL = 122
    DOMAIN_IS_ACTIVE = 150
    DOMAIN_IS_PERSISTENT = 151
    CONNECT_GET_LIB_VERSION = 157
    DOMAIN_HAS_MANAGED_SAVE_IMAGE = 183
    DOMAIN_SNAPSHOT_NUM = 187
    DOMAIN_CREATE_WITH_FLAGS = 196
    DOMAIN_GET_STATE = 212
    DOMAIN_UNDEFINE_FLAGS = 231
    DOMAIN_DESTROY_FLAGS = 234
    DOMAIN_SHUTDOWN_FLAGS = 258
    CONNECT_LIST_ALL_DOMAINS = 273
    CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY = 316
    CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY = 317
    DOMAIN_EVENT_CALLBACK_LIFECYCLE = 318
    DOMAIN_DEFINE_XML_FLAGS = 350
    CONNECT_REGISTER_CLOSE_CALLBACK = 360
    CONNECT_UNREGISTER_CLOSE_CALLBACK = 361
    DOMAIN_GET_MESSAGES = 426


String = xdr.String(STRING_MAX)
OptString = xdr.Optional(String)
UUID = xdr.FixedOpaque(16)

Domain = xdr.struct_type("remote_nonnull_domain", name=String, uuid=UUID, id=xdr.Int)
OptDomain = xdr.Optional(Domain)


ConnectOpenArgs = xdr.struct_type("remote_connect_open_args", name=OptString, flags=xdr.UInt)
ConnectGetTypeRet = xdr.struct_type("remote_connect_get_type_ret", type=String)
ConnectGetVersionRet = xdr.struct_type("remote_connect_get_version_ret", hv_ver=xdr.UHyper)
ConnectGetLibVersionRet = xdr.struct_type("remote_connect_get_lib_version_ret", lib_ver=xdr.UHyper)
ConnectGetHostnameRet = xdr.struct_type("remote_connect_get_hostname_ret", hostname=String)
ConnectGetUriRet = xdr.struct_type("remote_connect_get_uri_ret", uri=String)
SupportsFeatureArgs = xdr.struct_type("remote_connect_supports_feature_args", feature=xdr.Int)
SupportsFeatureRet = xdr.struct_type("remote_connect_supports_feature_ret", supported=xdr.Int)
AuthListRet = xdr.struct_type("remote_auth_list_ret", types=xdr.Array(xdr.Int, AUTH_TYPE_LIST_MAX))
AuthPolkitRet = xdr.struct_type("remote_auth_polkit_ret", complete=xdr.Int)

DomainArgs = xdr.struct_type("remote_domain_args", dom=Domain)
DomainFlagsArgs = xdr.struct_type("remote_domain_flags_args", dom=Domain, flags=xdr.UInt)
DomainRet = xdr.struct_type("remote_domain_ret", dom=Domain)
XmlArgs = xdr.struct_type("remote_domain_define_xml_args", xml=String)
XmlFlagsArgs = xdr.struct_type("remote_domain_define_xml_flags_args", xml=String, flags=xdr.UInt)
LookupByIdArgs = xdr.struct_type("remote_domain_lookup_by_id_args", id=xdr.Int)
LookupByNameArgs = xdr.struct_type("remote_domain_lookup_by_name_args", name=String)
LookupByUuidArgs = xdr.struct_type("remote_domain_lookup_by_uuid_args", uuid=UUID)
GetXmlDescRet = xdr.struct_type("remote_domain_get_xml_desc_ret", xml=String)
GetAutostartRet = xdr.struct_type("remote_domain_get_autostart_ret", autostart=xdr.Int)
SetAutostartArgs = xdr.struct_type("remote_domain_set_autostart_args", dom=Domain, autostart=xdr.Int)
GetInfoRet = xdr.struct_type("remote_domain_get_info_ret", state=xdr.UInt, maxMem=xdr.UHyper,
                memory=xdr.UHyper, nrVirtCpu=xdr.UInt, cpuTime=xdr.UHyper)
GetOsTypeRet = xdr.struct_type("remote_domain_get_os_type_ret", type=String)
GetStateRet = xdr.struct_type("remote_domain_get_state_ret", state=xdr.Int, reason=xdr.Int)
RebootArgs = xdr.struct_type("remote_domain_reboot_args", dom=Domain, flags=xdr.UInt)
IntRet = xdr.struct_type("remote_int_ret", value=xdr.Int)
MaxNamesArgs = xdr.struct_type("remote_connect_list_defined_domains_args", maxnames=xdr.Int)
NamesRet = xdr.struct_type("remote_connect_list_defined_domains_ret",
              names=xdr.Array(String, DOMAIN_LIST_MAX))
MaxIdsArgs = xdr.struct_type("remote_connect_list_domains_args", maxids=xdr.Int)
IdsRet = xdr.struct_type("remote_connect_list_domains_ret", ids=xdr.Array(xdr.Int, DOMAIN_LIST_MAX))
ListAllArgs = xdr.struct_type("remote_connect_list_all_domains_args", need_results=xdr.Int, flags=xdr.UInt)
ListAllRet = xdr.struct_type("remote_connect_list_all_domains_ret",
                domains=xdr.Array(Domain, DOMAIN_LIST_MAX), ret=xdr.UInt)
SecurityModelRet = xdr.struct_type("remote_node_get_security_model_ret",
                      model=xdr.CharArray(SECURITY_MODEL_MAX), doi=xdr.CharArray(SECURITY_DOI_MAX))
SecurityLabelRet = xdr.struct_type("remote_domain_get_security_label_ret",
                      label=xdr.CharArray(SECURITY_LABEL_MAX), enforcing=xdr.Int)
MessagesRet = xdr.struct_type("remote_domain_get_messages_ret",
                 msgs=xdr.Array(String, DOMAIN_MESSAGES_MAX))
EventRegisterArgs = xdr.struct_type("remote_connect_domain_event_callback_register_any_args",
                       eventID=xdr.Int, dom=OptDomain)
EventRegisterRet = xdr.struct_type("remote_connect_domain_event_callback_register_any_ret",
                      callbackID=xdr.Int)
EventDeregisterArgs = xdr.struct_type("remote_connect_domain_event_callback_deregister_any_args",
                         callbackID=xdr.Int)
LifecycleMsg = xdr.struct_type("remote_domain_event_callback_lifecycle_msg", callbackID=xdr.Int,
                  dom=Domain, event=xdr.Int, detail=xdr.Int)
