//! pingpong: two agents talking through `send` (the Rust twin of pingpong.wat).
//!
//! Messages:
//!   "ping"   send "pong" back to the sender
//!   "pong"   count it and log "pong from <sender>" (level info)
//!   "count"  reply with the number of pongs received, in decimal ASCII
//!   other    the payload names an agent: send it "ping"
//! The reply to every message except "count" is the sender's name (empty
//! when the message came from outside any agent). A send the host refuses is
//! reported as an error ("pingpong: send failed"); the reply still goes back.

use caxton_agent::{export_agent, log, send, sender, Agent, Error, Level};

#[derive(Default)]
struct PingPong {
    pongs: u64,
}

fn send_checked(to: &[u8], message: &[u8]) -> Result<(), Error> {
    let to = std::str::from_utf8(to).map_err(|_| Error::new("pingpong: send failed"))?;
    send(to, message).map_err(|_| Error::new("pingpong: send failed"))
}

impl Agent for PingPong {
    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
        if message == b"count" {
            return Ok(self.pongs.to_string().into_bytes());
        }
        let name = sender().unwrap_or_default();
        let sent = match message {
            b"ping" => send_checked(name.as_bytes(), b"pong"),
            b"pong" => {
                self.pongs += 1;
                log(Level::Info, &format!("pong from {}", name));
                Ok(())
            }
            other => send_checked(other, b"ping"),
        };
        match sent {
            Ok(()) => Ok(name.into_bytes()),
            Err(error) => Err(error.with_reply(name)),
        }
    }
}

export_agent!(PingPong);
