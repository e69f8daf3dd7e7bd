//! Write Caxton agents in Rust: implement [`Agent`] (and [`Snapshot`] when the
//! agent has state worth keeping), then export guest ABI v1 with one macro.
//!
//! ```ignore
//! use caxton_agent::{export_agent, Agent, Error};
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! impl Agent for Echo {
//!     fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
//!         Ok(message.to_vec())
//!     }
//! }
//!
//! export_agent!(Echo);
//! ```
//!
//! The crate has no dependencies and builds with the `rustc` of Debian 12
//! (1.63). It works on `wasm32-unknown-unknown` (no imports beyond
//! `caxton.*`: valid under every security policy) and on `wasm32-wasi` (then
//! `std` I/O goes through WASI, `println!` reaches the agent's log, and the
//! module needs the `relaxed` policy).
//!
//! Memory: the payload the host writes and the reply it reads live in two
//! buffers owned by this crate and allocated with the guest's global
//! allocator. The input buffer is reused from one message to the next (no
//! allocation per message once it is large enough); the reply `Vec` the agent
//! returns is kept until the next call, because the host copies it out before
//! calling the guest again.

use std::cell::UnsafeCell;
use std::fmt;

/// The guest ABI version this crate speaks (the `caxton_abi_version` export).
pub const ABI_VERSION: i32 = 1;

/// A failed message: the host reports `reason` (through the `caxton.error`
/// import) and still sends `reply` back when it is not empty. The instance
/// is not poisoned; the next message is handled normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Why the message failed, for the person reading the node's replies.
    pub reason: String,
    /// A reply that goes back with the error status (usually empty).
    pub reply: Vec<u8>,
}

impl Error {
    /// An error with no reply.
    pub fn new(reason: impl Into<String>) -> Self {
        Error { reason: reason.into(), reply: Vec::new() }
    }

    /// The same error, with a reply that still goes back to the caller.
    pub fn with_reply(mut self, reply: impl Into<Vec<u8>>) -> Self {
        self.reply = reply.into();
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl From<&str> for Error {
    fn from(reason: &str) -> Self {
        Error::new(reason)
    }
}

impl From<String> for Error {
    fn from(reason: String) -> Self {
        Error::new(reason)
    }
}

/// An agent: state plus a message handler.
///
/// The state is created with `Default` before the first call of any export,
/// so an agent works whether or not the node passes init bytes.
pub trait Agent: Default + 'static {
    /// Handle one message. `Ok(reply)` replies (an empty `Vec` means "no
    /// reply"); `Err(error)` marks the message failed without trapping.
    /// A panic traps: the instance is replaced and the message retried
    /// according to the node's policy.
    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, Error>;

    /// The agent's init bytes (possibly empty), once, after instantiation.
    /// `Err` refuses to start. The default accepts anything.
    fn init(&mut self, config: &[u8]) -> Result<(), Error> {
        let _ = config;
        Ok(())
    }

    /// 0 = healthy; anything else is reported as unhealthy with the agent's
    /// status. The default is always healthy.
    fn health(&self) -> i32 {
        0
    }
}

/// An agent whose state the node can snapshot and restore (export it with
/// `export_agent!(Type, snapshot)`). Without it the node replays the journal.
pub trait Snapshot: Agent {
    /// The agent's whole state, in a format of the agent's own (version it
    /// if it may change: a snapshot may be restored into a newer agent).
    fn snapshot(&self) -> Vec<u8>;

    /// Load a state produced by `snapshot`. Check the whole state before
    /// changing anything: on `Err` the agent keeps its current state.
    fn restore(&mut self, state: &[u8]) -> Result<(), Error>;
}

/// Why a `send` was refused (the ABI's negative codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// -1: no agent by that name.
    UnknownAgent,
    /// -2: the message is over the size limit.
    TooLarge,
    /// -3: over this agent's send quota.
    OverQuota,
    /// -4: the security policy does not allow sending.
    NotAllowed,
    /// Any other negative code (from a newer host).
    Other(i32),
}

impl SendError {
    fn from_code(code: i32) -> Self {
        match code {
            -1 => SendError::UnknownAgent,
            -2 => SendError::TooLarge,
            -3 => SendError::OverQuota,
            -4 => SendError::NotAllowed,
            other => SendError::Other(other),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::UnknownAgent => f.write_str("unknown agent"),
            SendError::TooLarge => f.write_str("message too large"),
            SendError::OverQuota => f.write_str("over the send quota"),
            SendError::NotAllowed => f.write_str("not allowed by policy"),
            SendError::Other(code) => write!(f, "send failed with code {}", code),
        }
    }
}

/// Log levels of the `caxton.log` import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warning = 2,
    Error = 3,
}

mod host {
    #[link(wasm_import_module = "caxton")]
    extern "C" {
        pub fn send(to_ptr: *const u8, to_len: i32, msg_ptr: *const u8, msg_len: i32) -> i32;
        pub fn log(level: i32, ptr: *const u8, len: i32);
        pub fn now_ms() -> i64;
        pub fn error(ptr: *const u8, len: i32);
        pub fn sender(ptr: *mut u8, cap: i32) -> i32;
    }
}

/// Send `message` to the agent named `to`; fire and forget. `Ok` means the
/// host accepted it for delivery (the node sends it once the current message
/// is acknowledged). Needs the `default` policy or wider.
pub fn send(to: &str, message: &[u8]) -> Result<(), SendError> {
    let code = unsafe {
        host::send(to.as_ptr(), to.len() as i32, message.as_ptr(), message.len() as i32)
    };
    if code < 0 {
        Err(SendError::from_code(code))
    } else {
        Ok(())
    }
}

/// Write a line to the agent's log.
pub fn log(level: Level, message: &str) {
    unsafe { host::log(level as i32, message.as_ptr(), message.len() as i32) }
}

/// Wall-clock milliseconds since the Unix epoch (it can jump; a replayed
/// message sees a different value).
pub fn now_ms() -> i64 {
    unsafe { host::now_ms() }
}

/// Mark the current message as failed with `reason`, without trapping
/// (returning `Err` from `handle` does this for you).
pub fn set_error(reason: &str) {
    unsafe { host::error(reason.as_ptr(), reason.len() as i32) }
}

/// The name of the agent that sent the current message; `None` when it came
/// from outside any agent (a client).
pub fn sender() -> Option<String> {
    let mut buffer = vec![0u8; 64];
    let mut len = unsafe { host::sender(buffer.as_mut_ptr(), buffer.len() as i32) } as usize;
    if len == 0 {
        return None;
    }
    if len > buffer.len() {
        buffer.resize(len, 0);
        len = unsafe { host::sender(buffer.as_mut_ptr(), buffer.len() as i32) } as usize;
        len = len.min(buffer.len());
    }
    buffer.truncate(len);
    Some(String::from_utf8_lossy(&buffer).into_owned())
}

/// Runtime behind the exports; used by the `export_agent!` macro only.
#[doc(hidden)]
pub mod __rt {
    use super::{Agent, Snapshot, ABI_VERSION};
    use std::cell::UnsafeCell;

    /// A value only this (single-threaded) instance touches. WebAssembly
    /// instances of an agent are single-threaded, and the host never
    /// re-enters the guest during a call, so one `&mut` at a time holds.
    pub struct Global<T>(super::UnsafeCell<T>);
    unsafe impl<T> Sync for Global<T> {}

    impl<T> Global<T> {
        pub const fn new(value: T) -> Self {
            Global(UnsafeCell::new(value))
        }
        #[allow(clippy::mut_from_ref)]
        pub fn get(&self) -> &mut T {
            unsafe { &mut *self.0.get() }
        }
    }

    /// The payload buffer handed out by `caxton_alloc`, reused across calls.
    static INPUT: Global<Vec<u8>> = Global::new(Vec::new());
    /// The last reply or state; kept until the next call (the host copies it first).
    static OUTPUT: Global<Vec<u8>> = Global::new(Vec::new());
    static HOOKED: Global<bool> = Global::new(false);

    /// Buffers larger than this are released after the call that used them.
    const KEEP_BYTES: usize = 64 * 1024;

    /// The agent's state, created with `Default` on first use.
    pub fn state<A: Agent>(slot: &'static Global<Option<A>>) -> &'static mut A {
        let hooked = HOOKED.get();
        if !*hooked {
            *hooked = true;
            // A panic's message goes to the agent's log (level error) under
            // every policy, before the panic traps the instance.
            std::panic::set_hook(Box::new(|info| {
                let text = format!("panic: {}", info);
                super::log(super::Level::Error, &text);
            }));
        }
        slot.get().get_or_insert_with(A::default)
    }

    pub fn alloc(len: i32) -> i32 {
        let len = len as u32 as usize;
        let input = INPUT.get();
        input.clear();
        if input.capacity() > KEEP_BYTES && len <= KEEP_BYTES {
            *input = Vec::new();
        }
        if input.try_reserve_exact(len).is_err() {
            return 0;
        }
        // The host writes `len` bytes there; the length is set in `input()`.
        let ptr = input.as_mut_ptr();
        if ptr.is_null() {
            0
        } else {
            ptr as usize as i32
        }
    }

    /// The bytes the host wrote at `ptr..ptr+len`.
    pub fn input<'a>(ptr: i32, len: i32) -> &'a [u8] {
        let len = len as u32 as usize;
        if len == 0 {
            return &[];
        }
        unsafe { std::slice::from_raw_parts(ptr as u32 as usize as *const u8, len) }
    }

    /// Keep `bytes` until the next call and pack `(ptr << 32) | len`.
    pub fn output(bytes: Vec<u8>) -> i64 {
        let out = OUTPUT.get();
        *out = bytes;
        if out.is_empty() {
            return 0;
        }
        ((out.as_ptr() as usize as u64) << 32 | out.len() as u64) as i64
    }

    fn release_big_buffers() {
        let out = OUTPUT.get();
        if out.capacity() > KEEP_BYTES {
            *out = Vec::new();
        }
    }

    pub fn abi_version() -> i32 {
        ABI_VERSION
    }

    pub fn handle<A: Agent>(slot: &'static Global<Option<A>>, ptr: i32, len: i32) -> i64 {
        release_big_buffers();
        let agent = state(slot);
        match agent.handle(input(ptr, len)) {
            Ok(reply) => output(reply),
            Err(error) => {
                super::set_error(&error.reason);
                output(error.reply)
            }
        }
    }

    pub fn init<A: Agent>(slot: &'static Global<Option<A>>, ptr: i32, len: i32) -> i32 {
        match state(slot).init(input(ptr, len)) {
            Ok(()) => 0,
            Err(error) => {
                super::log(super::Level::Error, &format!("init refused: {}", error.reason));
                1
            }
        }
    }

    pub fn health<A: Agent>(slot: &'static Global<Option<A>>) -> i32 {
        state(slot).health()
    }

    pub fn snapshot<A: Snapshot>(slot: &'static Global<Option<A>>) -> i64 {
        release_big_buffers();
        let bytes = state(slot).snapshot();
        output(bytes)
    }

    pub fn restore<A: Snapshot>(slot: &'static Global<Option<A>>, ptr: i32, len: i32) -> i32 {
        match state(slot).restore(input(ptr, len)) {
            Ok(()) => 0,
            Err(error) => {
                super::log(super::Level::Warning, &format!("restore refused: {}", error.reason));
                1
            }
        }
    }
}

/// Export guest ABI v1 for an agent type: `export_agent!(MyAgent);`, or
/// `export_agent!(MyAgent, snapshot);` when it implements [`Snapshot`].
/// Use it once, in the crate that is built as the agent's module.
#[macro_export]
macro_rules! export_agent {
    ($agent:ty) => {
        $crate::__export_agent_core!($agent);
    };
    ($agent:ty, snapshot) => {
        $crate::__export_agent_core!($agent);

        #[no_mangle]
        pub extern "C" fn caxton_snapshot() -> i64 {
            $crate::__rt::snapshot::<$agent>(&__CAXTON_AGENT)
        }

        #[no_mangle]
        pub extern "C" fn caxton_restore(ptr: i32, len: i32) -> i32 {
            $crate::__rt::restore::<$agent>(&__CAXTON_AGENT, ptr, len)
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_agent_core {
    ($agent:ty) => {
        static __CAXTON_AGENT: $crate::__rt::Global<Option<$agent>> =
            $crate::__rt::Global::new(None);

        #[no_mangle]
        pub extern "C" fn caxton_abi_version() -> i32 {
            $crate::__rt::abi_version()
        }

        #[no_mangle]
        pub extern "C" fn caxton_alloc(len: i32) -> i32 {
            $crate::__rt::alloc(len)
        }

        #[no_mangle]
        pub extern "C" fn caxton_handle(ptr: i32, len: i32) -> i64 {
            $crate::__rt::handle::<$agent>(&__CAXTON_AGENT, ptr, len)
        }

        #[no_mangle]
        pub extern "C" fn caxton_init(ptr: i32, len: i32) -> i32 {
            $crate::__rt::init::<$agent>(&__CAXTON_AGENT, ptr, len)
        }

        #[no_mangle]
        pub extern "C" fn caxton_health() -> i32 {
            $crate::__rt::health::<$agent>(&__CAXTON_AGENT)
        }
    };
}
