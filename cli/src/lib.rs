//! The `dpop-gate` command-line tool (issue 16), on the filter's own validation core: DPoP
//! proofs and requests (the blog post's `main.py` and curl steps), configuration checks with the
//! filter's parser, and the filter's decision on a token explained check by check.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod configs;
pub mod explain;
pub mod http;
pub mod key;
pub mod proof;

use std::fs;
use std::io::{self, Read};

/// An argument's value: `@FILE` reads the file (`@-`: standard input), anything else is the value
/// itself. `trim` drops surrounding whitespace (a token or proof saved with a trailing newline).
pub fn arg_value(arg: &str, trim: bool) -> io::Result<Vec<u8>> {
    let mut bytes = match arg.strip_prefix('@') {
        Some("-") => {
            let mut b = Vec::new();
            io::stdin().read_to_end(&mut b)?;
            b
        }
        Some(path) => fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?,
        None => arg.as_bytes().to_vec(),
    };
    if trim {
        let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
        let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(end);
        bytes = bytes[start..end].to_vec();
    }
    Ok(bytes)
}
