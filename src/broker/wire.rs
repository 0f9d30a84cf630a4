//! Framing: Kafka's size-prefixed frames on a byte stream, the frame limit,
//! and why a connection ends.
//!
//! A frame is a big-endian i32 length followed by that many bytes. This
//! module knows nothing of API keys or handlers: `apis` decodes what is inside
//! a frame, `server` moves frames over sockets.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::ResponseHeader;
use kafka_protocol::protocol::Encodable;
use std::io;

/// Why a connection ends.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The socket failed or the peer went away.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The client sent something the broker will not serve.
    #[error("{0}")]
    Protocol(String),
}

/// Bytes of the length prefix in front of every frame.
pub const PREFIX: usize = 4;

/// The body length announced by a frame's prefix, checked against the limit `max`.
pub fn frame_len(prefix: [u8; PREFIX], max: usize) -> Result<usize, ConnError> {
    let len = i32::from_be_bytes(prefix);
    if len < 0 || len as usize > max {
        return Err(ConnError::Protocol(format!(
            "frame length {len} is outside 0..={max} (--max-request-size)"
        )));
    }
    Ok(len as usize)
}

/// Appends a size-prefixed response frame to `out`: header of version `hv`, body of `version`.
pub fn write_response<M: Encodable>(
    out: &mut BytesMut,
    correlation_id: i32,
    body: &M,
    version: i16,
    hv: i16,
) -> Result<(), ConnError> {
    let start = out.len();
    out.put_i32(0);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header
        .encode(out, hv)
        .and_then(|_| body.encode(out, version))
        .map_err(|e| ConnError::Protocol(format!("cannot encode response: {e}")))?;
    let size = i32::try_from(out.len() - start - PREFIX)
        .map_err(|_| ConnError::Protocol("response larger than 2 GiB".to_string()))?;
    out[start..start + PREFIX].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_outside_the_limit_are_refused() {
        assert_eq!(frame_len(10i32.to_be_bytes(), 10).unwrap(), 10);
        assert!(frame_len(11i32.to_be_bytes(), 10).is_err());
        assert!(frame_len((-1i32).to_be_bytes(), 10).is_err());
    }
}
