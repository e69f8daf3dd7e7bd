//! wasi_hello: an ordinary Rust program for wasm32-wasi (`fn main`,
//! `println!`, `eprintln!`, `SystemTime`) that is also an agent.
//!
//! `main` runs once, right after instantiation (the host runs a command's
//! `_start`), and prints "wasi_hello: started". Each message is printed to
//! stdout as "wasi_hello: <message>" (a log line at level info) and a line
//! goes to stderr (level error); the reply is the wall clock in milliseconds
//! since the Unix epoch, read through std (WASI clock_time_get).

use std::time::{SystemTime, UNIX_EPOCH};

use caxton_agent::{export_agent, Agent, Error};

#[derive(Default)]
struct Hello;

impl Agent for Hello {
    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
        println!("wasi_hello: {}", String::from_utf8_lossy(message));
        eprintln!("wasi_hello: handled");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| "clock before 1970")?;
        Ok(now.as_millis().to_string().into_bytes())
    }
}

export_agent!(Hello);

fn main() {
    println!("wasi_hello: started");
}
