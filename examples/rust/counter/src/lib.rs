//! counter: a counter agent with snapshot and restore (guest ABI v1).
//!
//! Messages: "get" replies with the count, unchanged; anything else adds one
//! and replies with the new count (decimal ASCII). Init bytes: empty starts
//! at 0, decimal digits start at that value, anything else is refused.
//! Snapshot: the count as 8 bytes, unsigned little-endian.

use caxton_agent::{export_agent, Agent, Error, Snapshot};

#[derive(Default)]
struct Counter {
    count: u64,
}

impl Agent for Counter {
    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
        if message != b"get" {
            self.count = self.count.wrapping_add(1);
        }
        Ok(self.count.to_string().into_bytes())
    }

    fn init(&mut self, config: &[u8]) -> Result<(), Error> {
        if config.is_empty() {
            return Ok(());
        }
        let text = std::str::from_utf8(config).map_err(|_| Error::new("init: not decimal digits"))?;
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::new("init: not decimal digits"));
        }
        self.count = text.parse().map_err(|_| Error::new("init: too large"))?;
        Ok(())
    }
}

impl Snapshot for Counter {
    fn snapshot(&self) -> Vec<u8> {
        self.count.to_le_bytes().to_vec()
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), Error> {
        if state.len() != 8 {
            return Err(Error::new("a counter state is 8 bytes"));
        }
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(state);
        self.count = u64::from_le_bytes(bytes);
        Ok(())
    }
}

export_agent!(Counter, snapshot);
