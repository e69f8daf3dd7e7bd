//! kv: a key-value store over msgpack payloads (the Rust twin of kv.wat).
//!
//! Requests (msgpack arrays; the command is a 3-letter str):
//!   ["put", key, value]  store value under key     reply: true
//!   ["get", key]         look key up               reply: the value, or nil
//!   ["del", key]         remove key                reply: true if it existed, else false
//! Keys are msgpack str or bin; values any scalar msgpack element (nil, bool,
//! int, float, str, bin), stored exactly as encoded. Anything else is an
//! error (no reply) and leaves the store unchanged.
//!
//! Snapshot: the records, oldest first, as [klen u32le][vlen u32le][live
//! u32le][key][value], the same format as kv.wat's (so a state moves between
//! the two). Restore checks every record lies inside the state first.

use caxton_agent::{export_agent, Agent, Error, Snapshot};

const TRUE: u8 = 0xc3;
const FALSE: u8 = 0xc2;
const NIL: u8 = 0xc0;

#[derive(Default)]
struct Kv {
    /// (key, value) as encoded, in the order they were last put.
    records: Vec<(Vec<u8>, Vec<u8>)>,
}

fn malformed() -> Error {
    Error::new("kv: malformed request")
}

fn be(bytes: &[u8]) -> usize {
    bytes.iter().fold(0usize, |acc, b| acc << 8 | *b as usize)
}

/// Size of the scalar msgpack element at the start of `data`; None when it
/// is truncated or not a supported scalar.
fn element_size(data: &[u8]) -> Option<usize> {
    let b = *data.first()?;
    let header = |n: usize| -> Option<usize> {
        let len = data.get(1..1 + n)?;
        (1 + n).checked_add(be(len))
    };
    let size = match b {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 1,
        0xa0..=0xbf => 1 + (b & 0x1f) as usize,
        0xc4 | 0xd9 => header(1)?,
        0xc5 | 0xda => header(2)?,
        0xc6 | 0xdb => header(4)?,
        0xcc | 0xd0 => 2,
        0xcd | 0xd1 => 3,
        0xce | 0xd2 | 0xca => 5,
        0xcf | 0xd3 | 0xcb => 9,
        _ => return None,
    };
    if size <= data.len() {
        Some(size)
    } else {
        None
    }
}

fn is_str_or_bin(b: u8) -> bool {
    matches!(b, 0xa0..=0xbf | 0xc4..=0xc6 | 0xd9..=0xdb)
}

impl Kv {
    fn find(&self, key: &[u8]) -> Option<usize> {
        self.records.iter().position(|(k, _)| k.as_slice() == key)
    }
}

impl Agent for Kv {
    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
        if message.len() < 6 || message[1] != 0xa3 {
            return Err(malformed());
        }
        let command = &message[2..5];
        let rest = &message[5..];
        let key_len = element_size(rest).ok_or_else(malformed)?;
        if !is_str_or_bin(rest[0]) {
            return Err(Error::new("kv: key must be a str or bin"));
        }
        let (key, after) = rest.split_at(key_len);
        if command == b"put" {
            if message[0] != 0x93 {
                return Err(malformed());
            }
            let value_len =
                element_size(after).ok_or_else(|| Error::new("kv: unsupported value type"))?;
            if value_len != after.len() {
                return Err(malformed());
            }
            if let Some(index) = self.find(key) {
                self.records.remove(index);
            }
            self.records.push((key.to_vec(), after.to_vec()));
            return Ok(vec![TRUE]);
        }
        if message[0] != 0x92 || !after.is_empty() {
            return Err(malformed());
        }
        let found = self.find(key);
        match command {
            b"get" => Ok(match found {
                Some(index) => self.records[index].1.clone(),
                None => vec![NIL],
            }),
            b"del" => Ok(match found {
                Some(index) => {
                    self.records.remove(index);
                    vec![TRUE]
                }
                None => vec![FALSE],
            }),
            _ => Err(Error::new("kv: unknown command")),
        }
    }
}

impl Snapshot for Kv {
    fn snapshot(&self) -> Vec<u8> {
        let mut state = Vec::new();
        for (key, value) in &self.records {
            state.extend_from_slice(&(key.len() as u32).to_le_bytes());
            state.extend_from_slice(&(value.len() as u32).to_le_bytes());
            state.extend_from_slice(&1u32.to_le_bytes());
            state.extend_from_slice(key);
            state.extend_from_slice(value);
        }
        state
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), Error> {
        let word = |at: &[u8]| u32::from_le_bytes([at[0], at[1], at[2], at[3]]) as usize;
        let mut records = Vec::new();
        let mut rest = state;
        while !rest.is_empty() {
            if rest.len() < 12 {
                return Err(Error::new("truncated record header"));
            }
            let (key_len, value_len, live) = (word(&rest[0..]), word(&rest[4..]), word(&rest[8..]));
            let size = key_len.checked_add(value_len).ok_or("record too large")?;
            if size > rest.len() - 12 {
                return Err(Error::new("record past the end of the state"));
            }
            let body = &rest[12..12 + size];
            if live != 0 {
                records.push((body[..key_len].to_vec(), body[key_len..].to_vec()));
            }
            rest = &rest[12 + size..];
        }
        self.records = records;
        Ok(())
    }
}

export_agent!(Kv, snapshot);
