//! echo: replies with the message it was given (the benchmark's Rust agent).

use caxton_agent::{export_agent, Agent, Error};

#[derive(Default)]
struct Echo;

impl Agent for Echo {
    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(message.to_vec())
    }
}

export_agent!(Echo);
