//! rust-agent: a DarkSpere agent transport (`ds.agent-transport/1`) written in Rust with no
//! crates, against `darkspere_plugin.h` alone (its types are declared in `abi.rs`).
//!
//! Each agent it opens answers a message with `"<prefix><message> (history: N)"`. With
//! `delay_ms` > 0 the reply is completed later from a thread of the plugin, and `cancel`
//! finishes an op the host gave up on: the asynchronous half of the ABI, including the
//! rule that an op is completed exactly once even when cancel races the reply.
//!
//! Agent config (`agents[].config` in plugins.yaml; the host applies the schema's defaults):
//!     prefix:   string, default "rust: "
//!     delay_ms: integer 0..60000, default 0
//!
//! Build: `cargo build --release`, then install target/release/libds_rust_agent.so as
//! libds-rust-agent.so next to the host (by rename, never by overwriting in place).
//! Check it: `darkspere plugin-check target/release/libds_rust_agent.so`.

mod abi;

use abi::*;
use std::os::raw::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The host's table, from the entry function; valid for the life of the process.
static HOST: AtomicPtr<ds_host> = AtomicPtr::new(ptr::null_mut());

fn host() -> &'static ds_host { unsafe { &*HOST.load(Ordering::Acquire) } }

/// Ops in flight (delayed replies), by address: the reply thread and `cancel` both remove
/// the op under this lock, and only the one that removed it completes it.
static IN_FLIGHT: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn take(op: *mut ds_op) -> bool {
    let mut list = IN_FLIGHT.lock().unwrap();
    match list.iter().position(|&o| o == op as usize) {
        Some(i) => { list.swap_remove(i); true }
        None => false,
    }
}

/// Completes `op` once; `text` is copied by the host during the call.
fn complete(op: *mut ds_op, status: ds_status, text: &str) {
    let outcome = ds_outcome {
        struct_size: std::mem::size_of::<ds_outcome>() as u32,
        text: ds_str::from(text),
        data: ds_str { ptr: ptr::null(), len: 0 },
        error: ds_str { ptr: ptr::null(), len: 0 },
        retry_after_ms: 0,
        detail_code: 0,
    };
    if let Some(f) = host().complete { unsafe { f(op, status, &outcome) } }
}

fn set_error(err: *mut ds_error, message: &str) {
    if err.is_null() { return; }
    let e = unsafe { &mut *err };
    let n = message.len().min(DS_ERROR_MESSAGE_CAP - 1);
    for (i, b) in message.as_bytes()[..n].iter().enumerate() { e.message[i] = *b as c_char; }
    e.message[n] = 0;
}

/// True if a struct the host wrote (starting with `struct_size`) reaches `end` bytes.
fn has_bytes(struct_size: u32, end: usize) -> bool { struct_size as usize >= end }

// ---- a tiny reader for the flat JSON objects the host hands over ---------------------

/// The raw text after `"key":` at the top level of a flat object, or None.
fn json_field<'a>(json: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let pat = format!("\"{}\"", key);
    let pat = pat.as_bytes();
    let mut i = 0;
    while i + pat.len() <= json.len() {
        if &json[i..i + pat.len()] == pat {
            let mut j = i + pat.len();
            while j < json.len() && (json[j] == b' ' || json[j] == b'\n' || json[j] == b'\t') { j += 1; }
            if j < json.len() && json[j] == b':' {
                j += 1;
                while j < json.len() && (json[j] == b' ' || json[j] == b'\n' || json[j] == b'\t') { j += 1; }
                return Some(&json[j..]);
            }
        }
        i += 1;
    }
    None
}

/// A JSON string value (the common escapes decoded), or Err if it is not a string.
fn json_string(v: &[u8]) -> Result<String, ()> {
    if v.first() != Some(&b'"') { return Err(()); }
    let mut out = Vec::new();
    let mut i = 1;
    while i < v.len() {
        match v[i] {
            b'"' => return String::from_utf8(out).map_err(|_| ()),
            b'\\' if i + 1 < v.len() => {
                out.push(match v[i + 1] { b'n' => b'\n', b't' => b'\t', b'r' => b'\r', c => c });
                i += 2;
            }
            c => { out.push(c); i += 1; }
        }
    }
    Err(())
}

/// A non-negative JSON integer, or Err.
fn json_uint(v: &[u8]) -> Result<u64, ()> {
    let digits: Vec<u8> = v.iter().take_while(|c| c.is_ascii_digit()).cloned().collect();
    if digits.is_empty() { return Err(()); }
    let rest = &v[digits.len()..];
    if rest.first().map_or(false, |c| *c == b'.' || *c == b'e' || *c == b'E') { return Err(()); }
    std::str::from_utf8(&digits).unwrap().parse().map_err(|_| ())
}

// ---- ds.agent-transport/1 ------------------------------------------------------------------

struct Instance { host: *mut ds_host_handle }
struct Agent { prefix: String, delay_ms: u64 }

fn parse_agent(config: &[u8]) -> Result<Agent, String> {
    let prefix = match json_field(config, "prefix") {
        Some(v) => json_string(v).map_err(|_| "config.prefix: must be a string".to_string())?,
        None => "rust: ".to_string(),
    };
    let delay_ms = match json_field(config, "delay_ms") {
        Some(v) => json_uint(v).map_err(|_| "config.delay_ms: must be an integer from 0 to 60000".to_string())?,
        None => 0,
    };
    if delay_ms > 60_000 { return Err("config.delay_ms: must be an integer from 0 to 60000".into()); }
    Ok(Agent { prefix, delay_ms })
}

unsafe extern "C" fn t_create(_p: *const ds_plugin_descriptor, h: *mut ds_host_handle, _config: ds_str,
                              out: *mut *mut c_void, _err: *mut ds_error) -> ds_status {
    *out = Box::into_raw(Box::new(Instance { host: h })) as *mut c_void;
    DS_OK
}

unsafe extern "C" fn t_destroy(instance: *mut c_void) {
    if !instance.is_null() { drop(Box::from_raw(instance as *mut Instance)); }
}

unsafe extern "C" fn t_open(instance: *mut c_void, name: ds_str, config: ds_str, out: *mut *mut c_void,
                            err: *mut ds_error) -> ds_status {
    match parse_agent(config.bytes()) {
        Ok(agent) => {
            let inst = &*(instance as *const Instance);
            if let Some(log) = host().log {
                let line = format!("rust-agent: opened '{}' (prefix {:?}, delay {} ms)", name.to_string_lossy(), agent.prefix, agent.delay_ms);
                log(inst.host, DS_LOG_INFO, ds_str::from(&line));
            }
            *out = Box::into_raw(Box::new(agent)) as *mut c_void;
            DS_OK
        }
        Err(message) => { set_error(err, &message); DS_ERR_CONFIG }
    }
}

unsafe extern "C" fn t_call(_instance: *mut c_void, agent: *mut c_void, request: *const ds_agent_request,
                            op: *mut ds_op) -> ds_status {
    let agent = &*(agent as *const Agent);
    let req = &*request;
    // Copy what the reply needs: the request is valid only until this function returns.
    let mut reply = format!("{}{} (history: {})", agent.prefix, req.text.to_string_lossy(), req.history_count);
    let media_end = std::mem::size_of::<ds_agent_request>();
    if has_bytes(req.struct_size, media_end) && req.media_count > 0 {
        reply.push_str(&format!(" [{} attachment(s)]", req.media_count));
    }
    if agent.delay_ms == 0 {
        complete(op, DS_OK, &reply);
        return DS_OK;
    }
    IN_FLIGHT.lock().unwrap().push(op as usize);
    let delay = agent.delay_ms;
    let op_addr = op as usize;   // a ds_op * may be completed from any thread
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(delay));
        let op = op_addr as *mut ds_op;
        if take(op) { complete(op, DS_OK, &reply); }   // else cancel() completed it
    });
    DS_PENDING
}

unsafe extern "C" fn t_probe(_instance: *mut c_void, _agent: *mut c_void, op: *mut ds_op) -> ds_status {
    complete(op, DS_OK, "");
    DS_OK
}

unsafe extern "C" fn t_close(_instance: *mut c_void, agent: *mut c_void) {
    if !agent.is_null() { drop(Box::from_raw(agent as *mut Agent)); }
}

/// May run while call() is still running, or just after the reply completed the op:
/// complete it only if it is still ours.
unsafe extern "C" fn t_cancel(_instance: *mut c_void, op: *mut ds_op) {
    if take(op) { complete(op, DS_ERR_CANCELLED, ""); }
}

unsafe extern "C" fn t_validate_config(_p: *const ds_plugin_descriptor, _config: ds_str, _err: *mut ds_error) -> ds_status {
    DS_OK
}

unsafe extern "C" fn t_validate_agent_config(_p: *const ds_plugin_descriptor, _name: ds_str, config: ds_str,
                                             err: *mut ds_error) -> ds_status {
    match parse_agent(config.bytes()) {
        Ok(_) => DS_OK,
        Err(message) => { set_error(err, &message); DS_ERR_CONFIG }
    }
}

// ---- descriptor and entry -----------------------------------------------------------------

/// Statics holding raw pointers are not `Sync` in Rust; these never change after load.
struct Static<T>(T);
unsafe impl<T> Sync for Static<T> {}

static TRANSPORT: Static<ds_agent_transport_v1> = Static(ds_agent_transport_v1 {
    struct_size: std::mem::size_of::<ds_agent_transport_v1>() as u32,
    create: Some(t_create),
    destroy: Some(t_destroy),
    open: Some(t_open),
    call: Some(t_call),
    probe: Some(t_probe),
    close: Some(t_close),
    cancel: Some(t_cancel),
    validate_config: Some(t_validate_config),
    validate_agent_config: Some(t_validate_agent_config),
});

static INTERFACES: Static<[*const c_char; 2]> = Static([DS_AGENT_TRANSPORT_V1.as_ptr() as *const c_char, ptr::null()]);

unsafe extern "C" fn get_interface(_p: *const ds_plugin_descriptor, id: *const c_char) -> *const c_void {
    if std::ffi::CStr::from_ptr(id).to_bytes_with_nul() == DS_AGENT_TRANSPORT_V1 {
        &TRANSPORT.0 as *const ds_agent_transport_v1 as *const c_void
    } else {
        ptr::null()
    }
}

static DESCRIPTOR: Static<ds_plugin_descriptor> = Static(ds_plugin_descriptor {
    struct_size: std::mem::size_of::<ds_plugin_descriptor>() as u32,
    abi_major: DS_ABI_MAJOR,
    abi_minor: DS_ABI_MINOR,
    id: b"rust-agent\0".as_ptr() as *const c_char,
    name: b"Rust echo agent\0".as_ptr() as *const c_char,
    version: b"0.1.0\0".as_ptr() as *const c_char,
    description: b"An agent transport in Rust with no crates: echoes, optionally after a delay\0".as_ptr() as *const c_char,
    config_schema: b"{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}\0".as_ptr() as *const c_char,
    interfaces: &INTERFACES.0 as *const [*const c_char; 2] as *const *const c_char,
    get_interface: Some(get_interface),
    plugin_data: ptr::null_mut(),
    agent_config_schema: b"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\
\"prefix\":{\"type\":\"string\",\"maxLength\":64,\"default\":\"rust: \"},\
\"delay_ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":60000,\"default\":0}}}\0".as_ptr() as *const c_char,
});

/// The ABI this library was built for (DS_ABI_SYMBOL): lets a host name both versions
/// when the entry refuses it.
#[no_mangle]
pub static darkspere_plugin_abi: u32 = ((DS_ABI_MAJOR as u32) << 16) | DS_ABI_MINOR as u32;

/// The one entry point (DS_ENTRY_SYMBOL). Called once, on the host's main thread.
#[no_mangle]
pub unsafe extern "C" fn darkspere_plugin_entry(host: *const ds_host, host_abi_major: u32, _host_abi_minor: u32)
    -> *const ds_plugin_descriptor {
    if host.is_null() || host_abi_major != DS_ABI_MAJOR as u32 { return ptr::null(); }
    HOST.store(host as *mut ds_host, Ordering::Release);
    &DESCRIPTOR.0
}
