//! The parts of `darkspere_plugin.h` (ABI 1.2) this plugin uses, declared by hand with
//! `#[repr(C)]`: same fields, same order, same widths as the header. A struct the host
//! writes is read only as far as its `struct_size` says (see `has_field!` in lib.rs).
//!
//! Function-pointer members the plugin never calls are declared as `Slot` (one pointer
//! wide) so that the members after them stay at the header's offsets.
#![allow(non_camel_case_types, dead_code)]

use std::os::raw::{c_char, c_void};

pub type ds_status = i32;
pub const DS_OK: ds_status = 0;
pub const DS_PENDING: ds_status = 1;
pub const DS_ERR_CONFIG: ds_status = -2;
pub const DS_ERR_CANCELLED: ds_status = -10;

pub const DS_ABI_MAJOR: u16 = 1;
pub const DS_ABI_MINOR: u16 = 2;
pub const DS_AGENT_TRANSPORT_V1: &[u8] = b"ds.agent-transport/1\0";
pub const DS_LOG_INFO: i32 = 2;

/// `ds_str`: UTF-8 pointer + length, not NUL-terminated; `ptr` may be NULL when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ds_str {
    pub ptr: *const c_char,
    pub len: usize,
}

impl ds_str {
    pub fn from(s: &str) -> ds_str { ds_str { ptr: s.as_ptr() as *const c_char, len: s.len() } }
    /// The bytes, valid as long as the host's data (during the call only: copy what you keep).
    pub unsafe fn bytes<'a>(&self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 { &[] } else { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
    pub unsafe fn to_string_lossy(&self) -> String { String::from_utf8_lossy(self.bytes()).into_owned() }
}

#[repr(C)]
pub struct ds_kv { pub key: ds_str, pub value: ds_str }

pub const DS_ERROR_MESSAGE_CAP: usize = 1024;

/// `ds_error`: a buffer the caller (the host) owns; the plugin writes a NUL-terminated message.
#[repr(C)]
pub struct ds_error {
    pub struct_size: u32,
    pub message: [c_char; DS_ERROR_MESSAGE_CAP],
}

#[repr(C)]
pub struct ds_outcome {
    pub struct_size: u32,
    pub text: ds_str,
    pub data: ds_str,
    pub error: ds_str,
    pub retry_after_ms: i64,
    pub detail_code: i32,
}

#[repr(C)]
pub struct ds_media { pub url: ds_str, pub content_type: ds_str }

#[repr(C)]
pub struct ds_history_entry { pub role: ds_str, pub text: ds_str, pub time_ms: i64 }

#[repr(C)]
pub struct ds_agent_request {
    pub struct_size: u32,
    pub message_id: ds_str,
    pub correlation_id: ds_str,
    pub session_id: ds_str,
    pub channel: ds_str,
    pub from: ds_str,
    pub to: ds_str,
    pub text: ds_str,
    pub history: *const ds_history_entry,
    pub history_count: usize,
    pub session_state: ds_str,
    pub timeout_ms: u32,
    pub time_ms: i64,
    // ---- 1.2 ----
    pub media: *const ds_media,
    pub media_count: usize,
}

/// Opaque host objects: only ever behind pointers.
#[repr(C)] pub struct ds_host_handle { _private: [u8; 0] }
#[repr(C)] pub struct ds_op { _private: [u8; 0] }

/// A function-pointer member this plugin does not call (keeps the layout).
pub type Slot = Option<unsafe extern "C" fn()>;

#[repr(C)]
pub struct ds_host {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub host_version: *const c_char,
    pub log: Option<unsafe extern "C" fn(h: *mut ds_host_handle, level: i32, message: ds_str)>,
    pub metric: Slot,
    pub metric_record: Slot,
    pub http_request: Slot,
    pub timer_start: Slot,
    pub timer_cancel: Slot,
    pub route_register: Slot,
    pub respond: Slot,
    pub submit_inbound: Slot,
    pub complete: Option<unsafe extern "C" fn(op: *mut ds_op, status: ds_status, outcome: *const ds_outcome)>,
    pub get_env: Slot,
    pub report_status: Slot,
    // ---- 1.1 ----
    pub account_update: Slot,
    // ---- 1.2 ----
    pub instance_info: Slot,
    pub route_unregister: Slot,
    pub http_start: Slot,
    pub http_cancel: Slot,
}

pub type CreateFn = unsafe extern "C" fn(*const ds_plugin_descriptor, *mut ds_host_handle, ds_str, *mut *mut c_void, *mut ds_error) -> ds_status;
pub type ValidateFn = unsafe extern "C" fn(*const ds_plugin_descriptor, ds_str, *mut ds_error) -> ds_status;

#[repr(C)]
pub struct ds_agent_transport_v1 {
    pub struct_size: u32,
    pub create: Option<CreateFn>,
    pub destroy: Option<unsafe extern "C" fn(instance: *mut c_void)>,
    pub open: Option<unsafe extern "C" fn(*mut c_void, ds_str, ds_str, *mut *mut c_void, *mut ds_error) -> ds_status>,
    pub call: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, *const ds_agent_request, *mut ds_op) -> ds_status>,
    pub probe: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, *mut ds_op) -> ds_status>,
    pub close: Option<unsafe extern "C" fn(*mut c_void, *mut c_void)>,
    pub cancel: Option<unsafe extern "C" fn(*mut c_void, *mut ds_op)>,
    // ---- 1.2 ----
    pub validate_config: Option<ValidateFn>,
    pub validate_agent_config: Option<unsafe extern "C" fn(*const ds_plugin_descriptor, ds_str, ds_str, *mut ds_error) -> ds_status>,
}

#[repr(C)]
pub struct ds_plugin_descriptor {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub id: *const c_char,
    pub name: *const c_char,
    pub version: *const c_char,
    pub description: *const c_char,
    pub config_schema: *const c_char,
    pub interfaces: *const *const c_char,
    pub get_interface: Option<unsafe extern "C" fn(*const ds_plugin_descriptor, *const c_char) -> *const c_void>,
    pub plugin_data: *mut c_void,
    // ---- 1.2 ----
    pub agent_config_schema: *const c_char,
}
