//! limits: misbehaves on request, to check that a compiled guest's failures
//! are classified like a hand-written one's.
//!
//!   "spin"   loops forever (out_of_fuel, or timeout with plenty of fuel)
//!   "grow"   allocates 1 KiB blocks until the allocator fails (memory_limit)
//!   "panic"  panics (trap; the panic message goes to the log)
//!   other    replies "ok"

use caxton_agent::{export_agent, Agent, Error};

struct Block {
    _next: Option<Box<Block>>,
    _bytes: [u8; 1000],
}

#[derive(Default)]
struct Limits {
    hoard: Option<Box<Block>>,
    spins: u64,
}

impl Agent for Limits {
    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match message {
            b"spin" => loop {
                // a side effect the optimiser must keep
                self.spins = unsafe { std::ptr::read_volatile(&self.spins) } + 1;
            },
            b"grow" => loop {
                let next = self.hoard.take();
                self.hoard = Some(Box::new(Block { _next: next, _bytes: [7; 1000] }));
            },
            b"panic" => panic!("limits: asked to panic"),
            _ => Ok(b"ok".to_vec()),
        }
    }
}

export_agent!(Limits);
